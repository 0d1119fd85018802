"""Turning decoded batches into model inputs: scale, background removal, resize, flip.

Works on whole batches (one resize and one flip per batch, not per image: the cheap
way on CPU). Outputs follow `make_dataset`'s API (METHOD §1, §4): O and M as float32
in [0, 1], alpha (N, S, S, 1).
"""
from __future__ import annotations

import tensorflow as tf


def resize(px: tf.Tensor, stored_size: int | None, image_size: int) -> tf.Tensor:
    """(N, H, W, C) float -> (N, S, S, C) with a convex filter (no overshoot, so M keeps
    its colours' range and O * alpha stays 0 where the resized alpha is 0).

    An integer downscale (128 -> 64) is an exact box average (avg_pool: ~2x faster than
    antialiased bilinear on CPU); anything else is antialiased bilinear.
    """
    if stored_size == image_size:
        return px
    if stored_size and stored_size > image_size and stored_size % image_size == 0:
        k = stored_size // image_size
        return tf.nn.avg_pool2d(px, k, k, "VALID")
    px = tf.image.resize(px, [image_size, image_size], method="bilinear", antialias=True)
    return tf.clip_by_value(px, 0.0, 1.0)  # float rounding only


def preprocess(batch: dict, seed: tf.Tensor, *, image_size: int, stored_size: int | None,
               background: bool, training: bool) -> dict:
    """{"pixels": (N, H, W, 7) uint8, ...} -> {"image", "mask", "alpha", ...} at image_size.

    - background=False multiplies O by alpha *before* resizing: O rendered over black
      (alpha is exactly 0/1 at the stored size), the paper's first triplet stage
      (METHOD §4, §V-C).
    - training: a random horizontal flip (stateless, seeded, per row) of the stacked
      channels, so O, M and alpha stay aligned. Nothing alters M's colours: it is the
      reconstruction target (METHOD §2).
    """
    px = tf.cast(batch["pixels"], tf.float32) * (1.0 / 255.0)
    if not background:
        px = tf.concat([px[..., :3] * px[..., 6:], px[..., 3:]], axis=-1)
    px = resize(px, stored_size, image_size)
    if training:
        flip = tf.random.stateless_uniform([tf.shape(px)[0]], seed=seed) < 0.5
        px = tf.where(flip[:, None, None, None], tf.reverse(px, axis=[2]), px)
    out = {k: v for k, v in batch.items() if k != "pixels"}
    out.update(image=px[..., :3], mask=px[..., 3:6], alpha=px[..., 6:])
    return out
