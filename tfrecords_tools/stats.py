"""Dataset statistics and preview grids of rendered shards (paper Fig. 3).

Reads shards with the TensorFlow-free decoder in schema.py.
"""
from __future__ import annotations

import collections
import json
import io
from pathlib import Path

import numpy as np
from PIL import Image

from tfrecords_tools import schema
from tfrecords_tools.classes import ClassList
from tfrecords_tools.compose import IMAGE_SUFFIXES
from tfrecords_tools.errors import DataError
from tfrecords_tools.writer import write_json_atomic


def shard_paths(data_dir: Path, split: str | None = None) -> list[Path]:
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"{data_dir} is not a folder")
    paths = sorted(data_dir.glob(f"{split or '*'}-*-of-*.tfrecord"))
    if not paths:
        raise DataError(f"{data_dir} holds no shards ({split or '*'}-NNNNN-of-NNNNN.tfrecord)")
    return paths


def iter_examples(data_dir: Path, split: str | None = None):
    for path in shard_paths(data_dir, split):
        try:
            for data in schema.read_records(path):
                yield schema.decode_example(data)
        except (ValueError, IndexError, KeyError) as e:
            why = str(e).removeprefix(f"{path}: ")  # read_records names the file already
            raise DataError(f"{path}: unreadable shard ({why})") from None


def decode_png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def _mean_std_png(acc: dict, out_path: Path) -> None:
    n, s, s2 = acc["n"], acc["sum"], acc["sum2"]
    mean = s / n
    std = np.sqrt(np.maximum(s2 / n - mean ** 2, 0))
    std = std / max(std.max(), 1e-6)  # stretched so the structure is visible
    pair = np.hstack([mean, std])
    Image.fromarray((np.clip(pair, 0, 1) * 255).astype(np.uint8)).save(out_path)


def stats(data_dir: Path, out_dir: Path | None = None, photos: Path | None = None) -> dict:
    """Counts per split and category; mean | std images per source as PNGs in out_dir."""
    data_dir = Path(data_dir)
    out_dir = Path(out_dir or data_dir / "stats")
    if photos and not Path(photos).is_dir():
        raise DataError(f"photo folder {photos} does not exist")
    counts = collections.defaultdict(collections.Counter)
    models = collections.defaultdict(set)
    sums: dict[str, dict] = {}
    size = None
    for ex in iter_examples(data_dir):
        split, cat = ex["split"].decode(), ex["category"].decode()
        counts[split][cat] += 1
        models[split].add((cat, ex["model_id"].decode()))
        for src, key in ((f"{split}_image", "image/encoded"), (f"{split}_mask", "mask/encoded")):
            img = decode_png(ex[key]).astype(np.float64) / 255.0
            size = img.shape[0]
            acc = sums.setdefault(src, {"n": 0, "sum": 0.0, "sum2": 0.0})
            acc["n"] += 1
            acc["sum"] = acc["sum"] + img
            acc["sum2"] = acc["sum2"] + img ** 2
    if photos:
        files = [p for p in sorted(Path(photos).rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES]
        for p in files:
            try:
                with Image.open(p) as im:
                    img = np.asarray(im.convert("RGB").resize((size, size)), np.float64) / 255.0
            except Exception:
                continue
            acc = sums.setdefault("photos", {"n": 0, "sum": 0.0, "sum2": 0.0})
            acc["n"] += 1
            acc["sum"] = acc["sum"] + img
            acc["sum2"] = acc["sum2"] + img ** 2
    out_dir.mkdir(parents=True, exist_ok=True)  # only once the shards have been read
    for src, acc in sums.items():
        _mean_std_png(acc, out_dir / f"mean_std_{src}.png")
    result = {"splits": {s: {"records": sum(c.values()), "models": len(models[s]),
                             "per_category": {k: c[k] for k in _label_order(data_dir, c) if c[k]}}
                         for s, c in sorted(counts.items())},
              "mean_std_images": sorted(str(out_dir / f"mean_std_{s}.png") for s in sums)}
    write_json_atomic(out_dir / "stats.json", result)
    return result


def _label_order(data_dir: Path, counts) -> list[str]:
    """The render's class names in label order (its manifest's class list, the PASCAL3D+
    preset for older renders), then any other category the records name."""
    try:
        m = json.loads((Path(data_dir) / "manifest.json").read_text())
    except (OSError, ValueError):
        m = {}
    names = list(ClassList.from_manifest(m.get("classes")).names)
    return names + sorted(k for k in counts if k not in names)


def _rank(names: list[str], category: bytes) -> tuple[int, bytes]:
    name = category.decode("utf-8", "replace")
    return (names.index(name) if name in names else len(names), category)


def preview(data_dir: Path, out_path: Path, n: int = 8, split: str | None = None) -> Path:
    """A grid: one column per sample (spread over categories), rows RGB | mask | depth | alpha."""
    per_cat: dict[bytes, list] = collections.defaultdict(list)
    names = _label_order(data_dir, {})
    for ex in iter_examples(data_dir, split):
        if len(per_cat[ex["category"]]) < n:
            per_cat[ex["category"]].append(ex)
        if len(per_cat) == len(names) and all(len(v) * len(per_cat) >= n for v in per_cat.values()):
            break
    picked, rank = [], 0  # round-robin over categories, in label order
    while len(picked) < n and any(len(v) > rank for v in per_cat.values()):
        picked += [v[rank] for _, v in sorted(per_cat.items(), key=lambda kv: _rank(names, kv[0]))
                   if len(v) > rank][:n - len(picked)]
        rank += 1
    cols = []
    for ex in picked:
        depth = decode_png(ex["depth/encoded"]).astype(np.float64)
        obj = depth > 0
        vis = np.zeros_like(depth)
        if obj.any():  # near = bright, per sample
            lo, hi = depth[obj].min(), depth[obj].max()
            vis[obj] = 1.0 - 0.8 * (depth[obj] - lo) / max(hi - lo, 1)
        depth_rgb = np.repeat((vis * 255).astype(np.uint8)[..., None], 3, axis=2)
        alpha = np.repeat(decode_png(ex["alpha/encoded"])[..., None], 3, axis=2)
        cols.append(np.vstack([decode_png(ex["image/encoded"]), decode_png(ex["mask/encoded"]),
                               depth_rgb, alpha]))
    if not cols:
        raise DataError(f"{data_dir}: no records to preview")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.hstack(cols)).save(out_path)
    return out_path
