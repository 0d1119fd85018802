"""`gmcml-tf bench categories`: render and fit time against the number of classes N, and
how far apart the palette keeps N classes in the reconstruction target M.

For each N a library of N categories named outside the PASCAL3D+ 12 ("part 00", ...) is
written as PLY files: category k holds `models` procedural models of the generator's
category k mod 12, instances offset by k // 12, so no two categories share a model. It is
rendered with `render_cfg` (one worker per core), then GM-CML (`fit_cfg`, e.g.
configs/gm_cml.yaml) is fitted for `steps` steps on it. Reported per N: render seconds and
ms a view, fit seconds and ms a step (start-up included: the record index, tracing), the
palette's separation (tfrecords_tools.classes.separation), and the share of the val masks'
object pixels whose nearest class colour ray is their own class's (1.0: M still tells every
class apart after shading and 8-bit rounding), and, from the fitted model, the share of val
renders whose M' (mean colour over the object) lies nearest their own class's ray.
"""
from __future__ import annotations

import dataclasses
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from gmcml_tf.bench import machine


def write_library(root: Path, n: int, models: int, seed: int = 0) -> list[str]:
    """N renamed categories of procedural models as coloured PLY files; returns the names."""
    import trimesh
    from tfrecords_tools.categories import CATEGORIES
    from tfrecords_tools.procedural import generate
    names = [f"part {k:02d}" for k in range(n)]
    for k, name in enumerate(names):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(models):
            kind, repeat = k % len(CATEGORIES), k // len(CATEGORIES)
            asset = generate(CATEGORIES[kind], repeat * models + i, seed)
            parts = [trimesh.Trimesh(p.positions, p.faces, process=False,
                                     vertex_colors=np.tile(np.round(np.asarray(p.color) * 255), (len(p.positions), 1)))
                     for p in asset.primitives]
            trimesh.util.concatenate(parts).export(folder / f"m{i}.ply")
    return names


def mask_separability(data_dir: Path, colors: np.ndarray, limit: int = 400) -> float:
    """Share of object pixels of up to `limit` val masks nearest their own class's ray."""
    from PIL import Image

    from gmcml_tf.evaluation.reconstruction import nearest_ray
    from tfrecords_tools.schema import decode_example, read_records
    hits = total = seen = 0
    for shard in sorted(data_dir.glob("val-*.tfrecord")):
        for data in read_records(str(shard)):
            ex = decode_example(data)
            px = np.asarray(Image.open(io.BytesIO(ex["mask/encoded"])), np.float64).reshape(-1, 3) / 255
            px = px[px.max(1) > 0]
            hits += int((nearest_ray(px, colors) == ex["label"]).sum())
            total += len(px)
            seen += 1
            if seen >= limit:
                return hits / max(total, 1)
    return hits / max(total, 1)


def reconstruction_separability(workdir: Path, data_dir: Path, colors: np.ndarray, limit: int = 512) -> float:
    """Share of val renders whose M' (mean over the object's pixels) is nearest their own ray."""
    from gmcml_tf.data import make_dataset
    from gmcml_tf.evaluation.reconstruction import score_batches
    from gmcml_tf.training.workdir import load_run
    run = load_run(workdir)
    batches = make_dataset(str(data_dir), "val", image_size=run.config.model.image_size,
                           batch_size=64, training=False).take(-(-limit // 64))
    return score_batches(run.model, batches, colors)["hue_accuracy"]


def bench_categories(render_cfg, fit_cfg, counts=(2, 5, 12, 40), models: int = 3, steps: int = 60,
                     keep: str | None = None) -> dict:
    from tfrecords_tools.classes import separation
    from tfrecords_tools.runners import render
    from gmcml_tf.training.train import fit
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(keep or tmp)
        for n in counts:
            lib, out, run = root / f"lib{n}", root / f"shards{n}", root / f"run{n}"
            write_library(lib, n, models)
            cfg = dataclasses.replace(render_cfg, meshes=str(lib), out=str(out), up_axis="z", categories=None)
            t0 = time.perf_counter()
            m = render(cfg, show_progress=False)
            render_s = time.perf_counter() - t0
            views = sum(s["records"] for s in m["splits"].values())
            colors = np.array([c["color"] for c in m["classes"]])
            stage = dataclasses.replace(fit_cfg.train.stages[0], epochs=1, steps_per_epoch=steps)
            f = dataclasses.replace(fit_cfg, train=dataclasses.replace(
                fit_cfg.train, data=str(out), stages=[stage], evaluate=False))
            t0 = time.perf_counter()
            fit(f, run, show_progress=False)
            fit_s = time.perf_counter() - t0
            rows.append({"classes": n, "models": n * models, "views": views,
                         "render_s": round(render_s, 2), "render_ms_per_view": round(1000 * render_s / views, 3),
                         "fit_s": round(fit_s, 2), "fit_ms_per_step": round(1000 * fit_s / steps, 1),
                         "palette": separation(colors),
                         "mask_pixels_nearest_own_class": round(mask_separability(out, colors), 4),
                         "reconstruction_nearest_own_class": round(reconstruction_separability(run, out, colors), 4),
                         "chance": round(1 / n, 4)})
            print(json.dumps(rows[-1]), flush=True)
    first = rows[0]
    for r in rows:
        r["render_ms_per_view_vs_first"] = round(r["render_ms_per_view"] / first["render_ms_per_view"], 2)
        r["fit_s_vs_first"] = round(r["fit_s"] / first["fit_s"], 2)
    return {"machine": machine(), "models_per_class": models, "steps": steps,
            "size": render_cfg.size, "views_per_model": render_cfg.views_per_model,
            "lights_per_view": render_cfg.lights_per_view, "rows": rows}
