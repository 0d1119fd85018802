"""What the trainer reports while it runs: the NaN guard, the learning-rate schedule, TensorBoard
scalars and image grids (through tf.summary), the loss curve kept in history.json, and the
per-epoch checkpoint; plus the custom-scalars layout of the run's TensorBoard dashboard.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from gmcml_tf.errors import TrainingError
from gmcml_tf.models.gmcml import LOSS_TERMS
from tfrecords_tools.writer import write_json_atomic

GUARDED = tuple(f"loss/{t}" for t in LOSS_TERMS) + ("loss/total",)


def write_scalars(writer, values: dict, step: int, prefix: str = "") -> None:
    with writer.as_default():
        for name, value in values.items():
            tf.summary.scalar(prefix + name, float(value), step=step)


def write_reconstructions(writer, model, images, step: int) -> None:
    """Rows of O | M | M' for a few val views (paper Fig. 9)."""
    if images is None or model.recon_net is None:
        return
    o, m = images
    m_pred = np.asarray(model(o, training=False)["reconstruction"])
    grid = np.concatenate([o, m, m_pred], axis=2)
    grid = grid.reshape(-1, grid.shape[2], 3).astype(np.float32)
    with writer.as_default():
        tf.summary.image("reconstruction/O_M_Mpred", np.clip(grid, 0, 1)[None], step=step)


def write_dashboard_layout(writer) -> None:
    """TensorBoard's custom-scalars layout: the loss terms on one chart, R_rec / R_cls / the
    variance ratio on another (their crossing is the paper's Fig. 8), accuracy, learning rate."""
    from tensorboard.plugins.custom_scalar import layout_pb2
    from tensorboard.plugins.custom_scalar import summary as custom_scalar

    def chart(title, regex):
        return layout_pb2.Chart(title=title, multiline=layout_pb2.MultilineChartContent(tag=[regex]))

    layout = layout_pb2.Layout(category=[layout_pb2.Category(title="GM-CML", chart=[
        chart("loss terms (eq. 5, 6, 11, 12, L_gen)", r"^loss/(enc|gen|pair|tri|softmax|total)$"),
        chart("noise: R_rec, R_cls, Var(M')/Var(M) (eq. 8-10, Fig. 8)", r"^noise/"),
        chart("accuracy (train batches, synthetic val)", r"^(val/)?accuracy$"),
        chart("M' on val renders: silhouette IoU, colour names the class", r"^val/mprime_"),
        chart("learning rate", r"^learning_rate$")])])
    with writer.as_default():
        tf.summary.experimental.write_raw_pb(custom_scalar.pb(layout).SerializeToString(), step=0)


class TrainingMonitor(keras.callbacks.Callback):
    """One stage's callback. `learning_rate`: a function of the optimizer step (so a resumed
    run continues the schedule exactly); `images`: (O, M) val views for the image grid;
    `recon_sample`: (val batches, class colours) scored for M' at each epoch's end
    (gmcml_tf.evaluation.reconstruction: val/mprime_silhouette_iou, val/mprime_hue_accuracy)."""

    def __init__(self, *, optimizer, ckpt, manager, writer, history: dict, workdir: Path,
                 stage_name: str, stage_index: int, summary_every: int, image_every: int,
                 learning_rate=None, images=None, recon_sample=None):
        super().__init__()
        self.optimizer, self.ckpt, self.manager, self.writer = optimizer, ckpt, manager, writer
        self.history, self.workdir = history, Path(workdir)
        self.stage_name, self.stage_index = stage_name, stage_index
        self.summary_every, self.image_every = summary_every, image_every
        self.learning_rate, self.images, self.recon_sample = learning_rate, images, recon_sample

    def _step(self) -> int:
        return int(self.optimizer.iterations.numpy())

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        if self.learning_rate is not None:
            self.optimizer.learning_rate.assign(self.learning_rate(self._step()))

    def on_train_batch_end(self, batch, logs=None):
        step = self._step()
        for name in GUARDED:
            value = float(logs[name])
            if not math.isfinite(value):
                raise TrainingError(
                    f"step {step} (stage {self.stage_name!r}): {name} is {value}; stopped, the last "
                    f"good checkpoint is kept in {self.workdir / 'checkpoints'}")
        if step % self.summary_every == 0:
            self.history["curve"].append({"step": step, "stage": self.stage_name,
                                          **{k: round(float(v), 6) for k, v in logs.items()}})
            write_scalars(self.writer, {**logs, "learning_rate": self.optimizer.learning_rate.numpy()},
                          step)
        if step % self.image_every == 0:
            write_reconstructions(self.writer, self.model, self.images, step)

    def on_epoch_end(self, epoch, logs=None):
        seconds = round(time.perf_counter() - self.t0, 2)  # the epoch's training, not the M' scoring
        logs = {**(logs or {}), **self._reconstruction_scalars()}
        self.history["epochs"].append({"stage": self.stage_name, "stage_index": self.stage_index,
                                       "epoch": epoch + 1, "step": self._step(), "seconds": seconds,
                                       **{k: float(v) for k, v in logs.items()}})
        # history first: a resume trims it back to the checkpoint it restores
        write_json_atomic(self.workdir / "history.json", self.history)
        self.ckpt.stage.assign(self.stage_index)
        self.ckpt.epoch.assign(epoch + 1)
        self.manager.save(checkpoint_number=self._step())

    def _reconstruction_scalars(self) -> dict:
        if self.recon_sample is None or self.model.recon_net is None:
            return {}
        from gmcml_tf.evaluation.reconstruction import score_batches
        batches, colors = self.recon_sample
        r = score_batches(self.model, batches, colors)
        values = {"val/mprime_silhouette_iou": r["silhouette_iou"], "val/mprime_hue_accuracy": r["hue_accuracy"]}
        write_scalars(self.writer, values, self._step())
        return values
