"""The rounds of self-training (self_training.py) with checkpoints, progress lines and
TensorBoard scalars; resumes from the last finished round."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from gmcml_tf.adaptation import pseudo_labels as PL
from gmcml_tf.adaptation.self_training import (SelfTrainingConfig, learning_rate, make_step,
                                               predict_all, reestimate_batch_norm)
from tfrecords_tools.writer import write_json_atomic


def self_train(run, model, views: np.ndarray, out: Path, cfg: SelfTrainingConfig, seed: int,
               renders: str | None, progress: dict | None, hashes: list[str], say,
               allowed: list[int] | None = None) -> list[dict]:
    """Rounds of self-training; `allowed`: the labels the photos may show (all when None)."""
    import keras
    import tensorflow as tf

    from gmcml_tf.adaptation.runner import PROGRESS_FILE
    names = run.class_names
    t = run.config.train
    optimizer = keras.optimizers.AdamW(cfg.learning_rate, weight_decay=cfg.weight_decay)
    model.kl_warmup_steps = 0          # the run is trained: the KL term has its full weight
    model.set_stage(model.loss_weights, triplet_batches=False)
    model.compile(optimizer=optimizer)
    optimizer.build(model.trainable_variables)
    done = tf.Variable(0, dtype=tf.int64)
    ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, round=done)
    manager = tf.train.CheckpointManager(ckpt, str(out / "checkpoints"), max_to_keep=2)
    if progress and manager.latest_checkpoint:
        ckpt.restore(manager.latest_checkpoint).expect_partial()
        say(f"resuming {out} after round {int(done.numpy())} of {cfg.rounds}")
    else:
        progress = None
    first = int(done.numpy())
    probs, feats = predict_all(model, views, run.flip)
    if progress is None:
        teacher = PL.restrict_probs(probs, allowed)
        progress = {"photo_hashes": hashes, "settings": dataclasses.asdict(cfg),
                    "before": teacher.argmax(1).tolist(), "rounds": [], "labels": None,
                    "teacher": np.round(teacher, 5).tolist() if cfg.smoothing_to == "teacher" else None}
        manager.save()     # round 0: the unadapted model, where a collapse in round 1 returns to
        write_json_atomic(out / PROGRESS_FILE, progress)
    before = np.asarray(progress["before"])
    teacher = None if progress.get("teacher") is None else np.asarray(progress["teacher"], np.float32)
    augment = t.augment if t.augment.enabled else None
    step = make_step(model, optimizer, augment, cfg, renders is not None)
    batches = _render_batches(run, renders, cfg, seed, first)
    writer = tf.summary.create_file_writer(str(out / "tensorboard" / "adapt"))
    previous = None if progress["labels"] is None else np.asarray(progress["labels"])
    for r in range(first, cfg.rounds):
        t0 = time.perf_counter()
        probs = PL.restrict_probs(probs, allowed)
        labels = (PL.cluster_labels(probs, feats, cfg.min_share, temperature=cfg.cluster_temperature)[0]
                  if cfg.cluster else probs.argmax(1))
        confidence = probs[np.arange(len(labels)), labels]
        selected = PL.select_balanced(labels, confidence, cfg.fraction(r),
                                      probs.argmax(1) if cfg.agree else None)
        targets = PL.targets(labels, len(names), cfg.label_smoothing, teacher)
        summary = PL.round_summary(labels, selected, confidence, previous, names)
        chosen = np.flatnonzero(selected)
        rng = np.random.default_rng([seed, r])   # per round: a resumed run draws the same photos
        losses = []
        for i in range(cfg.steps_per_round):
            s = r * cfg.steps_per_round + i
            optimizer.learning_rate.assign(learning_rate(cfg, s))
            pick = rng.choice(chosen, cfg.photo_batch, replace=len(chosen) < cfg.photo_batch)
            view = rng.integers(0, views.shape[1], cfg.photo_batch)
            losses.append([float(v) for v in step(next(batches), tf.constant(views[pick, view]),
                                                   tf.constant(targets[pick]),
                                                   tf.constant([seed, s], tf.int64))])
            if s % 10 == 0:
                with writer.as_default(step=s):
                    for name, v in zip(("render_loss", "photo_loss", "pseudo_label_agreement"), losses[-1]):
                        tf.summary.scalar(f"adapt/{name}", v)
        if cfg.reestimate_bn:
            reestimate_batch_norm(model, views)
        probs, feats = predict_all(model, views, run.flip)
        predicted = PL.restrict_probs(probs, allowed).argmax(1)
        why = PL.collapse(before, predicted, names)
        counts = np.bincount(predicted, minlength=len(names))
        summary.update(round=r + 1, seconds=round(time.perf_counter() - t0, 1),
                       render_loss=round(float(np.mean([x[0] for x in losses])), 4),
                       photo_loss=round(float(np.mean([x[1] for x in losses])), 4),
                       predicted={names[c]: int(n) for c, n in enumerate(counts) if n},
                       collapse=why)
        _write_round(writer, summary, r + 1)
        say(_line(summary, cfg.rounds))
        if why:
            ckpt.restore(manager.latest_checkpoint).expect_partial()
            say(f"  round {r + 1} undone: the predictions collapsed ({why}); keeping round {r}")
            progress["rounds"].append(summary)
            break
        done.assign(r + 1)
        manager.save()
        previous = labels
        progress["rounds"].append(summary)
        progress["labels"] = labels.tolist()
        write_json_atomic(out / PROGRESS_FILE, progress)
    writer.flush()
    return progress["rounds"]


def _render_batches(run, renders, cfg: SelfTrainingConfig, seed: int, first_round: int):
    """Render batches as fit draws them (augmented, class-balanced per the run's config), or
    forever None when adapting on the photos alone."""
    if renders is None:
        while True:
            yield None
    from gmcml_tf.data import make_dataset
    t = run.config.train
    ds = make_dataset(renders, "train", image_size=run.config.model.image_size,
                      batch_size=cfg.render_batch, training=True, seed=seed * 1000 + first_round,
                      shuffle_buffer=t.shuffle_buffer, augment=t.augment if t.augment.enabled else None,
                      balanced=t.balanced)
    for batch in ds:
        yield {k: batch[k] for k in ("image", "mask", "label")}


def _write_round(writer, summary: dict, r: int) -> None:
    import tensorflow as tf
    with writer.as_default(step=r):
        tf.summary.scalar("adapt_round/selected", summary["selected"])
        tf.summary.scalar("adapt_round/mean_confidence", summary["mean_confidence"] or 0.0)
        if summary["flipped"] is not None:
            tf.summary.scalar("adapt_round/flipped", summary["flipped"])
        for name, n in summary["predicted"].items():
            tf.summary.scalar(f"adapt_round/predicted/{name}", n / summary["photos"])


def _line(s: dict, rounds: int) -> str:
    per = ", ".join(f"{c} {v['selected']}/{v['labelled']} ({v['confidence']:.2f})" for c, v in s["per_class"].items())
    flipped = "" if s["flipped"] is None else f", {s['flipped']:.1%} flipped"
    return (f"round {s['round']}/{rounds}: {s['selected']} of {s['photos']} photos pseudo-labelled "
            f"[{per}]{flipped}; photo loss {s['photo_loss']:.3f}, render loss {s['render_loss']:.3f}; "
            f"{s['seconds']:.0f} s")
