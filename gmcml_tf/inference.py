"""Test-time inference shared by evaluation and the exported SavedModel.

`predict(model, images, flip)` runs the test mode of paper §VI, cls(ren(map(O)), O).
`images` is (B, S, S, 3), or (B, V, S, S, 3) with V views of each photo (several photo
fittings, gmcml_tf.preprocess.fit_to_square). With `flip` every view also runs mirrored.
With more than one pass the class scores are the mean of the passes' log-softmaxes (the
geometric mean of the probabilities): renders and photos alike have no preferred
left-right direction, and neither fitting is right for every photo, so the average
removes a bias at no training cost. Descriptor and reconstruction stay those of the
first, unmirrored view.
"""
from __future__ import annotations

import tensorflow as tf


def predict(model, images, flip: bool = False) -> dict:
    """{"logits" (log-probabilities when averaged), "descriptor", ["reconstruction"]} as float32."""
    views = [images] if images.shape.rank == 4 else tf.unstack(images, axis=1)
    out = dict(model(views[0], training=False))
    logits = [tf.cast(out["logits"], tf.float32)]
    logits += [tf.cast(model(v, training=False)["logits"], tf.float32) for v in views[1:]]
    if flip:
        logits += [tf.cast(model(tf.reverse(v, axis=[2]), training=False)["logits"], tf.float32)
                   for v in views]
    if len(logits) > 1:
        logits = [tf.reduce_mean(tf.stack([tf.nn.log_softmax(x) for x in logits]), axis=0)]
    out["logits"] = logits[0]
    return out
