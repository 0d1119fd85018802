"""Fitting a photo of any size and mode to the square network input, in TensorFlow ops.

One function serves evaluation, `gmcml-tf predict` and the exported SavedModel, so a
photo is prepared the same way everywhere. Renders are square already and pass
through every mode unchanged (up to the resize).

Modes (`fit`): `stretch` resizes the whole photo to S x S (aspect ratio lost);
`pad` letterboxes it — scales the long side to S and pads with black, the colour of
the background in the renders without background; `crop` scales the short side to
S and keeps the centre square.
"""
from __future__ import annotations

import tensorflow as tf

FIT_MODES = ("stretch", "pad", "crop")


def check_fit(fit: str) -> str:
    if fit not in FIT_MODES:
        raise ValueError(f"fit: {fit!r} is not one of {', '.join(FIT_MODES)}")
    return fit


def fit_to_square(image: tf.Tensor, size: int, fit: str = "stretch") -> tf.Tensor:
    """(H, W, 3) or (B, H, W, 3) float in [0, 1] -> (..., size, size, 3) float32."""
    check_fit(fit)
    image = tf.cast(image, tf.float32)
    if fit == "stretch":
        out = tf.image.resize(image, (size, size), antialias=True)
    elif fit == "pad":
        out = tf.image.resize_with_pad(image, size, size, antialias=True)
    else:
        shape = tf.shape(image)
        h, w = tf.cast(shape[-3], tf.float32), tf.cast(shape[-2], tf.float32)
        scale = tf.cast(size, tf.float32) / tf.minimum(h, w)
        new = tf.cast(tf.math.ceil(tf.stack([h * scale, w * scale])), tf.int32)
        out = tf.image.resize(image, tf.maximum(new, size), antialias=True)
        out = tf.image.resize_with_crop_or_pad(out, size, size)
    return tf.clip_by_value(out, 0.0, 1.0)


def decode_image(data: tf.Tensor) -> tf.Tensor:
    """Encoded JPEG/PNG/GIF/BMP bytes -> (H, W, 3) float32 in [0, 1].

    Grey becomes RGB, alpha is dropped (composited on black, like the renders), and
    16-bit PNGs keep their full range through `convert_image_dtype`.
    """
    # channels=0 keeps the file's own layout: JPEG cannot be asked for 4 channels.
    image = tf.io.decode_image(data, channels=0, dtype=tf.float32, expand_animations=False)
    channels = tf.shape(image)[-1]
    rgb = tf.cond(channels < 3, lambda: tf.repeat(image[..., :1], 3, axis=-1),
                  lambda: image[..., :3])
    has_alpha = tf.logical_or(tf.equal(channels, 2), tf.equal(channels, 4))
    alpha = tf.cond(has_alpha, lambda: image[..., -1:], lambda: tf.ones_like(image[..., :1]))
    return tf.ensure_shape(rgb * alpha, [None, None, 3])
