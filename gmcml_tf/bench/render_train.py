"""`gmcml-tf bench ...`: throughput benchmarks (figures for the README, never timed tests).

bench render: the full pipeline (render 3 targets + composite + encode PNGs +
write shards) against the bare render-and-read-back loop, on the same meshes,
views and worker count, in one run. Start-up (spawning, GL contexts, mesh
loading) is excluded from both: each worker loads and uploads its meshes first.

bench train: training images/s of the full GM-CML step (noise, VC + 6-channel ZigzagNet,
eq. 11) with the noise ratios read by each `train.noise.ratios_from` (an extra probe pass,
or the training pass itself) against ZigzagNet alone (3 channels, softmax only), same
resolution and batch, synthetic tensors (no input pipeline), in one run; and the
float32 model sizes. Compilation is excluded: each model runs a warm-up first.
"""
from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path

from gmcml_tf.bench import machine
from tfrecords_tools.meshes import open_source
from tfrecords_tools.plan import ShardTask, Unit
from tfrecords_tools.render_config import RenderConfig

_VR = None
_PNG_SECONDS = [0.0]  # this worker's time in its PNG encodes


def _init(cfg: RenderConfig, n_models: int) -> None:
    global _VR
    from tfrecords_tools.worker import ViewRenderer
    _VR = ViewRenderer(cfg, cache_size=n_models)
    _VR.renderer._cache_size = n_models  # keep every mesh on the GPU: measure rendering, not uploads
    encode = _VR._png

    def timed(arr):  # the benchmark's own instrument, kept out of the worker's loop
        t0 = time.perf_counter()
        data = encode(arr)
        _PNG_SECONDS[0] += time.perf_counter() - t0
        return data
    _VR._png = timed


def _warm(units: list[Unit]) -> int:
    for u in {u.ref: u for u in units}.values():
        _VR.render_unit(u, "train", bare=True)
    return _VR.mesh(units[0].ref).triangles


def _run(units: list[Unit], mode: str, out_dir: str, shard_size: int) -> tuple[float, float]:
    """(seconds, of which in PNG encoding)."""
    png0 = _PNG_SECONDS[0]
    t0 = time.perf_counter()
    if mode == "bare":
        for u in units:
            _VR.render_unit(u, "train", bare=True)
    else:
        for i in range(0, len(units), shard_size):
            chunk = tuple(units[i:i + shard_size])
            task = ShardTask("train", i // shard_size, -(-len(units) // shard_size), chunk)
            _VR.render_shard(task, Path(out_dir) / f"w{os.getpid()}")
    return time.perf_counter() - t0, _PNG_SECONDS[0] - png0


def bench_render(cfg: RenderConfig, views: int = 2000, workers: int = 0,
                 meshes: str | None = None, rounds: int = 3) -> dict:
    if meshes:
        cfg = dataclasses.replace(cfg, meshes=meshes)
    workers = workers or os.cpu_count() or 1
    source = open_source(cfg.meshes, up_axis=cfg.up_axis, max_triangles=cfg.max_triangles,
                         procedural_per_category=cfg.procedural_per_category, seed=cfg.seed,
                         categories=cfg.categories)
    models = source.models()
    per_model = -(-views // len(models))
    units = [Unit(ref, slot, 0) for ref in models for slot in range(per_model)][:views]
    # Each worker gets whole models, so it loads only its own meshes.
    chunks = [units[i::workers] for i in range(workers)]
    chunks = [sorted(c, key=lambda u: (u.ref, u.slot)) for c in chunks if c]
    triangles = {u.ref: source.load(u.ref).triangles for u in units[:: per_model]}
    ctx = mp.get_context("spawn")
    result = {"size": cfg.size, "workers": len(chunks), "views": len(units),
              "meshes": cfg.meshes, "models": len(triangles),
              "triangles_mean": round(sum(triangles.values()) / len(triangles), 1)}
    with tempfile.TemporaryDirectory() as tmp, \
            ctx.Pool(len(chunks), initializer=_init, initargs=(cfg, len(models))) as pool:
        pool.starmap(_warm, [(c,) for c in chunks])
        # Alternate the two loops for several rounds: a load spike from another process
        # then hits both, instead of skewing their ratio.
        totals = {"bare": 0.0, "full": 0.0}
        worker_s = {"bare": 0.0, "png": 0.0}  # summed over workers: per-view costs in one worker
        for _ in range(rounds):
            for mode in totals:
                seconds = pool.starmap(_run, [(c, mode, tmp, cfg.views_per_shard) for c in chunks])
                totals[mode] += max(s for s, _ in seconds)
                if mode == "bare":
                    worker_s["bare"] += sum(s for s, _ in seconds)
                else:
                    worker_s["png"] += sum(p for _, p in seconds)
        result["bare_views_per_s"] = round(rounds * len(units) / totals["bare"], 1)
        result["views_per_s"] = round(rounds * len(units) / totals["full"], 1)
        result["rounds"] = rounds
    result["pipeline_fraction_of_bare"] = round(result["views_per_s"] / result["bare_views_per_s"], 3)
    # The four PNG encodes alone: their bytes are fixed by the byte-identical promise (same
    # libdeflate level, same filter), and the workers already keep every core busy, so no
    # pipeline that writes them can beat bare / (bare + PNG).
    bare_ms, png_ms = (1e3 * worker_s[k] / (rounds * len(units)) for k in ("bare", "png"))
    result["bare_ms_per_view"], result["png_ms_per_view"] = round(bare_ms, 3), round(png_ms, 3)
    result["ceiling_fraction_png_only"] = round(bare_ms / (bare_ms + png_ms), 3)
    result["targets"] = {"views_per_s": 400, "pipeline_fraction_of_bare": 0.75}
    result["machine"] = machine()
    return dict(sorted(result.items(), key=lambda kv: kv[0] not in ("views_per_s", "bare_views_per_s")))


def _train_images_per_s(model, batch: dict, steps: int) -> float:
    import tensorflow as tf
    ds = tf.data.Dataset.from_tensors(batch).repeat()
    if model.train_function is None:
        model.fit(ds, steps_per_epoch=2, epochs=1, verbose=0, shuffle=False)  # trace + warm up
    t0 = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
    return steps * len(batch["label"]) / (time.perf_counter() - t0)


def bench_train(size: int = 64, steps: int = 20, batch_size: int = 16, model_cfg=None,
                rounds: int = 3, ratios_from: str = "probe") -> dict:
    """{"gmcml_images_per_s", "zigzagnet_images_per_s", "model_mb", "recon_mb",
    "classifier_mb", "size"}: `model_cfg` (default: ModelConfig()) at `size` px against
    the same classifier alone on RGB; "gmcml_images_per_s" is for `ratios_from` (the
    config's), and "gmcml_by_ratios_from" has both readings. The models alternate for
    `rounds` rounds and each keeps its best round, so a busy neighbour hurts all alike."""
    import dataclasses

    import keras
    import numpy as np
    from gmcml_tf.config import ExperimentConfig
    from gmcml_tf.vocabulary import NOISE_RATIOS_FROM
    from gmcml_tf.training.train import build_model

    rng = np.random.default_rng(0)
    batch = {"image": rng.random((batch_size, size, size, 3), dtype=np.float32),
             "mask": rng.random((batch_size, size, size, 3), dtype=np.float32),
             "label": rng.integers(0, 12, batch_size).astype(np.int32)}
    cfg = ExperimentConfig()
    if model_cfg is not None:
        cfg.model = dataclasses.replace(model_cfg)
    cfg.model.image_size = size
    models = {}
    for source in NOISE_RATIOS_FROM:
        cfg.train.noise.ratios_from = source
        models[source] = full = build_model(cfg)
        full.compile(optimizer=keras.optimizers.Adam(1e-4))
        full.set_stage({"enc": 1.0, "gen": 1.0, "softmax": 1.0}, triplet_batches=False)
    cfg.model.recon, cfg.model.classifier_input = "none", "rgb"
    models["zigzagnet"] = alone = build_model(cfg)
    alone.compile(optimizer=keras.optimizers.Adam(1e-4))
    alone.set_stage({"softmax": 1.0}, triplet_batches=False)
    best = dict.fromkeys(models, 0.0)
    for _ in range(rounds):
        for name, model in models.items():
            best[name] = max(best[name], _train_images_per_s(model, batch, steps))
    result = {"gmcml_images_per_s": round(best[ratios_from], 1),
              "zigzagnet_images_per_s": round(best["zigzagnet"], 1),
              "ratios_from": ratios_from,
              "gmcml_by_ratios_from": {k: round(best[k], 1) for k in NOISE_RATIOS_FROM},
              **full.size_mb(), "size": size, "batch_size": batch_size, "steps": steps,
              "rounds": rounds, "recon_filters": list(cfg.model.recon_filters),
              "classifier": cfg.model.classifier, "upsample": cfg.model.upsample}
    result["gmcml_fraction_of_zigzagnet"] = round(
        result["gmcml_images_per_s"] / result["zigzagnet_images_per_s"], 3)
    result["fraction_by_ratios_from"] = {
        k: round(best[k] / best["zigzagnet"], 3) for k in NOISE_RATIOS_FROM}
    result["targets"] = {"gmcml_fraction_of_zigzagnet": 0.5, "model_mb_max": 20.2}
    result["machine"] = machine()
    return result
