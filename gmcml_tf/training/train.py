"""`gmcml-tf fit`: one readable trainer for GM-CML and its ablations (paper §V-C, §VI).

    fit(cfg, workdir) -> summary dict

Runs the stages of `cfg.train.stages` in order (paper §V-C: triplet+pair on renders
without background, the same with backgrounds, softmax fine-tune on close shots), each
a `keras.Model.fit` over `GMCML.train_step` (eq. 11 with the coupled noise of eq. 8-10).

Workdir layout:
    config.yaml    resolved config (loadable by --config; versions in the header)
    checkpoints/   tf.train.CheckpointManager: model + optimizer + stage/epoch counters,
                   every epoch and on Ctrl-C (the `checkpoint` index is replaced atomically)
    tensorboard/   scalars loss/{enc,gen,pair,tri,softmax,total}, accuracy, noise/r_rec,
                   noise/r_cls, noise/variance_ratio, learning_rate (running means of the
                   epoch, every `summary_every` steps); val/*; O | M | M' image grids
    history.json   per-epoch training logs, per-stage validation results, and the logged
                   scalars every `summary_every` steps ("curve")
    training_curves.png  loss terms and the noise ratios R_rec / R_cls over the steps (Fig. 8)
    model.keras    the final model
Re-running the same command resumes at the last saved stage/epoch with the optimizer.
`train.strategy` mirrored | multi_worker: see gmcml_tf/training/distribute.py (per-replica batch
size, data sharding per worker; only the chief writes WORKDIR, the other workers write
WORKDIR/.worker-<i>-tmp, removed at their end).
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path

import yaml

from tfrecords_tools import folder_lock
from tfrecords_tools.configlib import ConfigError
from tfrecords_tools.runners import git_commit, versions
from tfrecords_tools.writer import write_json_atomic

from gmcml_tf.training import distribute
from gmcml_tf.config import ExperimentConfig, load_config
from gmcml_tf.errors import TrainingError  # noqa: F401  (re-exported)
from gmcml_tf.vocabulary import SET_SIZE


TRAIN_PACKAGES = ("gmcml-tf", "tensorflow", "keras", "tensorflow-probability", "numpy")


def build_model(cfg: ExperimentConfig):
    from gmcml_tf.models.gmcml import GMCML
    n, t = cfg.train.noise, cfg.train
    # the model section is GMCML's own arguments, name for name; the rest come from train:
    model = dataclasses.asdict(cfg.model)
    if model["num_classes"] is None:  # built without data (benchmarks): the preset's count
        from tfrecords_tools.categories import NUM_CLASSES
        model["num_classes"] = NUM_CLASSES
    return GMCML(**model, noise=n.enabled, noise_alpha=n.alpha,
                 noise_beta=n.beta, m_noise=n.m_noise, noise_ratios_from=n.ratios_from,
                 seed=t.seed, kl_warmup_steps=t.kl.warmup_steps,
                 free_bits=t.kl.free_bits, label_smoothing=t.label_smoothing, name="gmcml")


def make_optimizer(t):
    import keras
    if t.optimizer == "adamw":
        return keras.optimizers.AdamW(t.learning_rate, weight_decay=t.weight_decay)
    return keras.optimizers.Adam(t.learning_rate)


def stage_learning_rate(base: float, step: int, total: int, schedule: str, warmup_fraction: float) -> float:
    """The learning rate at `step` (0-based) of a stage of `total` steps: a linear warm-up
    over `warmup_fraction` of them, then constant or a cosine decay to 0."""
    warmup = int(round(warmup_fraction * total))
    if step < warmup:
        return base * (step + 1) / warmup
    if schedule == "constant":
        return base
    progress = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _default_dataset_fn():
    from gmcml_tf.data import make_dataset
    return make_dataset


def _steps_per_epoch(records: int | None, stage, batch_size: int, replicas: int = 1) -> int:
    if stage.steps_per_epoch:
        return stage.steps_per_epoch
    if records is None:
        raise ConfigError("no manifest.json with record counts; set steps_per_epoch in every stage")
    per_step = batch_size * replicas * (SET_SIZE if stage.triplets else 1)  # the global batch
    return max(1, records // per_step)


def _check_data(data_dir: Path, skip_corrupt: bool, evaluate: bool, say) -> dict:
    """Usable train records per split, checked before any work; skipped shards are said."""
    from gmcml_tf.data.shards import open_split
    out = {}
    for split in ("train", "val") if evaluate else ("train",):
        shards = open_split(data_dir, split, skip_corrupt=skip_corrupt)
        for path, why in shards.skipped.items():
            say(f"skipping corrupt shard {path}: {why}")
        out[split] = {"records": shards.records, "skipped": len(shards.skipped)}
    return out


def _write_config(cfg: ExperimentConfig, workdir: Path) -> None:
    path = workdir / "config.yaml"
    if path.exists():  # resuming: the weights only fit the same model
        old = load_config(path)
        if old.model != cfg.model:
            raise ConfigError(f"{workdir} holds a run of another model config ({path}); "
                              "use a new --workdir")
    v = versions(TRAIN_PACKAGES)
    header = (f"# Resolved config of this run; resume or repeat with:\n"
              f"#   gmcml-tf fit --config {path} --workdir {workdir}\n"
              f"# seed {cfg.train.seed}; " + ", ".join(f"{k} {x}" for k, x in v.items()) + "\n")
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(header + yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False))
    os.replace(tmp, path)


def fit(cfg: ExperimentConfig, workdir: str | Path | None = None, show_progress: bool = True,
        dataset_fn=None) -> dict:
    """Train `cfg` into `workdir` (default cfg.train.workdir); resume if it holds a run.

    `dataset_fn` replaces `gmcml_tf.data.make_dataset` (same signature), e.g. in tests.
    Returns a summary: val accuracy, sizes in MB, workdir, seconds, the tensorboard command.
    """
    import keras
    workdir = Path(workdir or cfg.train.workdir)
    data_dir = Path(cfg.train.data)
    if not data_dir.is_dir():
        raise ConfigError(f"data folder {data_dir} does not exist; render it first "
                          "(gmcml-tf render --config ...) or pass --data DIR")
    if workdir.exists() and not workdir.is_dir():
        raise ConfigError(f"workdir {workdir} is a file, not a folder")
    guard, checked = contextlib.nullcontext(), None
    if dataset_fn is None:  # our shards: checked before any work, corrupt ones named or skipped
        from gmcml_tf.data.pipeline import corrupt_records_named
        checked = _check_data(data_dir, cfg.train.skip_corrupt, cfg.train.evaluate,
                              lambda line: print(f"gmcml-tf: warning: {line}", file=sys.stderr))
        dataset_fn = functools.partial(_default_dataset_fn(), skip_corrupt=cfg.train.skip_corrupt)
        guard = corrupt_records_named(data_dir)
    cfg, classes = _with_classes(cfg, data_dir)
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(cfg.train.precision)
    try:
        with guard, _op_determinism(cfg.train.deterministic), contextlib.ExitStack() as held:
            summary = _fit(cfg, workdir, data_dir, dataset_fn, show_progress,
                           _train_records(data_dir, checked), held, classes)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    summary["skipped_shards"] = sum(c["skipped"] for c in (checked or {}).values())
    return summary


@contextlib.contextmanager
def _op_determinism(on: bool):
    """train.deterministic: deterministic kernels for this fit only (on GPU, cuDNN and cuBLAS
    otherwise pick fast non-deterministic ones); the process-wide switch is put back after."""
    from tensorflow.python.framework import config as tf_config  # disable_* is not public
    was = tf_config.is_op_determinism_enabled()
    if on:
        tf_config.enable_op_determinism()
    try:
        yield
    finally:
        if on and not was:
            tf_config.disable_op_determinism()


def _verbosity(show: bool) -> int:
    """Keras' bar on a terminal; a line per epoch where stdout is a file or a pipe (CI,
    `| tee`), which the bar's carriage returns would turn into one endless line."""
    if not show:
        return 0
    return 1 if sys.stdout.isatty() else 2


def _train_records(data_dir: Path, checked: dict | None) -> int | None:
    if checked:
        return checked["train"]["records"]
    try:  # a stand-in dataset_fn (tests, the background audit): the manifest's count if any
        return json.loads((data_dir / "manifest.json").read_text())["splits"]["train"]["records"]
    except (OSError, KeyError, ValueError):
        return None


def _with_classes(cfg: ExperimentConfig, data_dir: Path):
    """`cfg` with model.num_classes taken from the shards' class list (and that list), or a
    ConfigError when the config asks for another count. Without a manifest (a stand-in
    dataset_fn): the preset."""
    from gmcml_tf.data.shards import read_classes
    from tfrecords_tools.classes import pascal3d
    classes = read_classes(data_dir) if (data_dir / "manifest.json").is_file() else pascal3d()
    n = cfg.model.num_classes
    if n is None:
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, num_classes=len(classes)))
    elif n != len(classes) and classes.preset is None:
        raise ConfigError(f"model.num_classes: {n}, but the shards in {data_dir} hold {len(classes)} "
                          f"classes ({', '.join(classes.names[:6])}{'...' if len(classes) > 6 else ''}); "
                          "leave the key out to take the count from the data")
    return cfg, classes


def _write_classes(classes, data_dir: Path, out: Path) -> str:
    """The class list in the run folder (evaluate, export, serve and predict read it); returns
    how the render's val split was made, in words ("" without a manifest)."""
    from gmcml_tf.data.shards import val_split_note
    note = val_split_note(data_dir) if (data_dir / "manifest.json").is_file() else ""
    write_json_atomic(out / "classes.json", {"preset": classes.preset, "classes": classes.to_manifest(),
                                             "data": str(data_dir), "val_split": note})
    return note


def _fit(cfg, workdir, data_dir, dataset_fn, show_progress, train_records, held, classes):
    import keras
    import numpy as np
    import tensorflow as tf
    t, t0 = cfg.train, time.perf_counter()
    strategy = distribute.make_strategy(t.strategy)  # first: MultiWorker needs a fresh runtime
    worker = distribute.worker_info(strategy)
    keras.utils.set_random_seed(t.seed)
    out = distribute.start(worker, workdir)  # workdir on the chief, a temp dir on the others
    held.enter_context(folder_lock.hold(out))  # a second fit into the same folder is refused
    _write_config(cfg, out)
    val_note = _write_classes(classes, data_dir, out)
    if show_progress and worker.is_chief and classes.preset is None:
        print(f"{len(classes)} classes from {data_dir}: {', '.join(classes.names[:12])}"
              f"{', ...' if len(classes) > 12 else ''}")
    if show_progress and worker.is_chief and t.evaluate and val_note:
        print(f"synthetic val: the {data_dir.name} renders' {val_note}")
    with strategy.scope():
        model = build_model(cfg)
        optimizer = make_optimizer(t)
        if t.precision == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        model.compile(optimizer=optimizer)
        optimizer.build(model.trainable_variables)
        distribute.patch_keras(model, strategy)  # no-op without a strategy
        ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer,
                                   stage=tf.Variable(0, dtype=tf.int64),
                                   epoch=tf.Variable(0, dtype=tf.int64))
    manager = tf.train.CheckpointManager(ckpt, str(out / "checkpoints"), t.keep_checkpoints)
    resumed = None
    history = {"epochs": [], "eval": [], "curve": []}
    latest = tf.train.latest_checkpoint(str(workdir / "checkpoints"))  # the chief's, on every worker
    if latest:
        ckpt.restore(latest).expect_partial()
        resumed = {"stage": int(ckpt.stage.numpy()), "epoch": int(ckpt.epoch.numpy()),
                   "step": int(optimizer.iterations.numpy())}
        if (workdir / "history.json").exists():  # keep what the checkpoint has seen
            history = json.loads((workdir / "history.json").read_text())
            at = (resumed["stage"], resumed["epoch"])
            history["epochs"] = [e for e in history["epochs"] if (e["stage_index"], e["epoch"]) <= at]
            history["eval"] = [e for e in history["eval"] if e["stage_index"] < at[0]]
            history["curve"] = [c for c in history.get("curve", []) if c["step"] <= resumed["step"]]
        if worker.is_chief:  # even with --no-progress: a user must know it did not start afresh
            print(f"resuming {workdir} at stage {resumed['stage']} epoch {resumed['epoch']} "
                  f"(step {resumed['step']})")
    from gmcml_tf.training import monitor  # imports TensorFlow and Keras
    distribute.check_same_start(strategy, int(optimizer.iterations.numpy()))
    writer = tf.summary.create_file_writer(str(out / "tensorboard"))
    if worker.is_chief:
        monitor.write_dashboard_layout(writer)
    size, batch = cfg.model.image_size, t.batch_size  # per replica under a strategy
    common = dict(image_size=size, batch_size=batch, seed=t.seed, shuffle_buffer=t.shuffle_buffer,
                  cache=t.cache)
    val = None
    images = recon_sample = None
    if t.evaluate or model.recon_net is not None:
        val = dataset_fn(data_dir, "val", triplets=False, background=True, close_only=False,
                         training=False, **common)
        first = next(iter(val))
        images = (np.asarray(first["image"][:4]), np.asarray(first["mask"][:4]))
        # M' scored each epoch on the same val renders (up to 4 batches: seconds on a CPU)
        recon_sample = ([{k: b[k] for k in ("image", "alpha", "label")} for b in val.take(4)],
                        classes.colors) if model.recon_net is not None and classes is not None else None
    val_accuracy = None
    for si, stage in enumerate(t.stages):
        if si < int(ckpt.stage.numpy()):
            continue
        start = int(ckpt.epoch.numpy()) if si == int(ckpt.stage.numpy()) else 0
        model.set_stage(dataclasses.asdict(stage.losses), stage.triplets)
        base_lr = stage.learning_rate or t.learning_rate
        optimizer.learning_rate.assign(base_lr)
        steps = _steps_per_epoch(train_records, stage, stage.batch_size or batch, worker.replicas)
        first_step = int(optimizer.iterations.numpy()) - start * steps  # of this stage
        learning_rate = None
        if t.lr_schedule != "constant" or t.warmup_fraction > 0:
            def learning_rate(step, first=first_step, base=base_lr, total=stage.epochs * steps):
                return stage_learning_rate(base, step - first, total, t.lr_schedule, t.warmup_fraction)
        guard = monitor.TrainingMonitor(
            optimizer=optimizer, ckpt=ckpt, manager=manager, writer=writer, history=history,
            workdir=out, stage_name=stage.name, stage_index=si, summary_every=t.summary_every,
            image_every=t.image_every, learning_rate=learning_rate, images=images, recon_sample=recon_sample)
        if start < stage.epochs:
            if show_progress and worker.is_chief:
                print(f"stage {si + 1}/{len(t.stages)} {stage.name!r}: epochs {start + 1}.."
                      f"{stage.epochs}")
            train = distribute.train_dataset(strategy, lambda stage=stage, si=si: dataset_fn(
                data_dir, "train", triplets=stage.triplets, background=stage.background,
                close_only=stage.close_only, training=True, augment=t.augment,
                balanced=t.balanced,
                **{**common, "seed": t.seed + si, "batch_size": stage.batch_size or batch}))
            try:
                model.fit(train, epochs=stage.epochs, initial_epoch=start, shuffle=False,
                          steps_per_epoch=steps, callbacks=[guard],
                          verbose=_verbosity(show_progress and worker.is_chief))
            except KeyboardInterrupt:
                manager.save(checkpoint_number=int(optimizer.iterations.numpy()))
                raise
        monitor.write_reconstructions(writer, model, images, int(optimizer.iterations.numpy()))
        if t.evaluate and val is not None:
            with warnings.catch_warnings():  # distributed: the val cardinality is per worker
                warnings.filterwarnings("ignore", message=".*ran out of data.*")
                result = {k: float(v) for k, v in model.evaluate(
                    distribute.eval_dataset(strategy, val), verbose=0, return_dict=True).items()}
            val_accuracy = result["accuracy"]
            history["eval"].append({"stage": stage.name, "stage_index": si,
                                    "step": int(optimizer.iterations.numpy()), **result})
            monitor.write_scalars(writer, result, int(optimizer.iterations.numpy()), prefix="val/")
            if show_progress and worker.is_chief:
                gen = "" if cfg.model.recon == "none" else f", loss/gen {result['loss/gen']:.1f}"
                print(f"  val after {stage.name!r}: accuracy {val_accuracy:.3f}{gen}")
        ckpt.stage.assign(si + 1)
        ckpt.epoch.assign(0)
        manager.save(checkpoint_number=int(optimizer.iterations.numpy()))
        write_json_atomic(out / "history.json", history)
    history["fit_seconds"] = round(history.get("fit_seconds", 0.0) + time.perf_counter() - t0, 1)
    history["commit"] = git_commit()   # the code that trained, for results summaries
    write_json_atomic(out / "history.json", history)  # the fit's wall time, resumed sessions summed
    writer.flush()
    if worker.is_chief and history["curve"]:
        from gmcml_tf.evaluation.plots import training_curves
        training_curves(history["curve"], out / "training_curves.png")
    tmp = out / "model.tmp.keras"
    model.save(tmp)  # on every worker: saving may run collectives
    os.replace(tmp, out / "model.keras")
    writer.close()
    if worker.is_chief and val is not None:
        from gmcml_tf.training.projector import write_projector
        write_projector(model, val, out / "tensorboard", classes.names)
    distribute.finish(worker, workdir)
    if val_accuracy is None and history["eval"]:
        val_accuracy = history["eval"][-1]["accuracy"]
    return {"val_accuracy": val_accuracy, **model.size_mb(), "workdir": str(workdir),
            "steps": int(optimizer.iterations.numpy()), "resumed": resumed,
            "chief": worker.is_chief, "replicas": worker.replicas,
            "seconds": round(time.perf_counter() - t0, 1), "versions": versions(TRAIN_PACKAGES),
            "tensorboard": f"tensorboard --logdir {workdir / 'tensorboard'}"}
