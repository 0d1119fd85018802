"""Test-time inference shared by evaluation and the exported SavedModel.

`predict(model, images, flip)` runs the test mode of paper §VI, cls(ren(map(O)), O),
and with `flip` also on the mirrored images: the class scores are then the mean of the
two log-softmaxes (the geometric mean of the probabilities; renders and photos alike
have no preferred left-right direction, so the average removes a pose bias at no
training cost). Descriptor and reconstruction stay those of the unmirrored image.
"""
from __future__ import annotations

import tensorflow as tf


def predict(model, images, flip: bool = False) -> dict:
    """{"logits" (log-probabilities when `flip`), "descriptor", ["reconstruction"]} as float32."""
    out = dict(model(images, training=False))
    logits = tf.cast(out["logits"], tf.float32)
    if flip:
        mirrored = tf.cast(model(tf.reverse(images, axis=[2]), training=False)["logits"], tf.float32)
        logits = 0.5 * (tf.nn.log_softmax(logits) + tf.nn.log_softmax(mirrored))
    out["logits"] = logits
    return out
