"""`gmcml-tf bench adapt`: how long `gmcml-tf adapt` takes for a number of photos.

The first `count` photos of a folder (every sub-folder in turn, so the classes mix; when the
folder has fewer, each photo again under another name until there are `count`) are linked
into a temporary folder and the run is adapted on them with each method, its default
settings. Reported per method: wall and process CPU seconds (from the start of adapt: photo
hashing and decoding, the renders' index, every round, the batch-norm passes, saving), and
for self-training the seconds of each round.
"""
from __future__ import annotations

import itertools
import os
import tempfile
import time
from pathlib import Path

from gmcml_tf.bench import machine

# The self-training settings a timing depends on or that name the defaults it was taken with.
TIMED_SETTINGS = ("rounds", "steps_per_round", "photo_batch", "render_batch", "smoothing_to", "min_share",
                  "cluster_temperature", "cluster", "agree", "reestimate_bn")


def photo_sample(folder: str | Path, count: int, into: Path) -> int:
    """Link `count` photos of `folder` into `into` (round robin over its sub-folders)."""
    from gmcml_tf.adaptation.photos import list_photos
    paths = list_photos(folder)
    groups: dict[str, list[str]] = {}
    for p in paths:
        groups.setdefault(str(Path(p).parent), []).append(p)
    order = [p for p in itertools.chain.from_iterable(itertools.zip_longest(*groups.values())) if p]
    into.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        src = order[i % len(order)]
        if i >= len(order):   # a copy, not a link: adapt counts photos by content, a copy is the same
            (into / f"{i:05d}{Path(src).suffix}").write_bytes(Path(src).read_bytes())
        else:
            os.symlink(os.path.abspath(src), into / f"{i:05d}{Path(src).suffix}")
    return min(count, len(order))


def bench_adapt(workdir: str, photos: str, count: int = 1000, methods=("self-training", "adabn"),
                seed: int = 0, note: str = "") -> dict:
    from gmcml_tf.adaptation.runner import adapt
    out = {"machine": machine(), "workdir": workdir, "photos": photos, "count": count, "note": note, "rows": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        out["distinct_photos"] = photo_sample(photos, count, folder)
        for method in methods:
            wall, cpu = time.perf_counter(), time.process_time()
            r = adapt(workdir, folder, Path(tmp) / method, method=method, seed=seed, say=lambda line: None)
            row = {"method": method, "photos": r["images"], "wall_s": round(time.perf_counter() - wall, 1),
                   "cpu_s": round(time.process_time() - cpu, 1)}
            if r.get("rounds"):
                row["round_s"] = [x["seconds"] for x in r["rounds"]]
                row["steps"] = r["settings"]["rounds"] * r["settings"]["steps_per_round"]
                row["settings"] = {k: r["settings"][k] for k in TIMED_SETTINGS}
            out["rows"].append(row)
    return out
