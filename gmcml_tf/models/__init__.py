"""GM-CML networks: the variational coder (reconstruction) and ZigzagNet (classifier)."""

from gmcml_tf.models.variational_coder import Reparameterize, VariationalCoder
from gmcml_tf.models.zigzagnet import ZigzagModule, ZigzagNet, model_size_mb, parameter_summary

__all__ = [
    "Reparameterize",
    "VariationalCoder",
    "ZigzagModule",
    "ZigzagNet",
    "model_size_mb",
    "parameter_summary",
]
