"""AdaBN: batch-norm statistics re-estimated on unlabelled photos.

Li et al. 2016 (AdaBN) and the "norm" step of TENT (Wang et al. 2021): a net trained on
renders normalises its features with the renders' statistics; photos have others.
Re-estimating every batch-norm layer's moving mean and variance on photos of the target
domain, with the weights untouched, needs no labels.

Each batch runs both nets in training mode (batch statistics) with dropout off and the
coder's z = mu, and every batch-norm layer's moving statistics become the running mean
of the batch statistics (momentum (k - 1) / k at batch k), so each photo counts the same.
Self-training (self_training.py) ends each round with the same re-estimation: its photo
passes train the weights under photo batch statistics, so photo statistics are the ones
that match them at inference.
"""
from __future__ import annotations

import contextlib


@contextlib.contextmanager
def _statistics_mode(model):
    """Training-mode batch norm, nothing else random: dropout rates 0, z = mu."""
    import keras

    from gmcml_tf.models.variational_coder import Reparameterize
    layers = [layer for layer in model._flatten_layers()]
    saved = [(layer, layer.rate) for layer in layers if isinstance(layer, keras.layers.Dropout)]
    reparam = [layer for layer in layers if isinstance(layer, Reparameterize)]
    for layer, _ in saved:
        layer.rate = 0.0
    for layer in reparam:
        layer.sample = False
    try:
        yield [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]
    finally:
        for layer, rate in saved:
            layer.rate = rate
        for layer in reparam:
            layer.sample = True


def adapt_batch_norm(model, batches) -> int:
    """Set every batch-norm layer's moving statistics to those of `batches` (images);
    returns the number of images used."""
    with _statistics_mode(model) as norms:
        momenta = [layer.momentum for layer in norms]
        seen = 0
        try:
            for k, images in enumerate(batches, start=1):
                for layer in norms:
                    layer.momentum = (k - 1) / k
                model(images, training=True)
                seen += int(images.shape[0])
        finally:
            for layer, m in zip(norms, momenta):
                layer.momentum = m
    return seen
