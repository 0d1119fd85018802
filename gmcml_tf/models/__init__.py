"""GM-CML networks: the variational coder (reconstruction), ZigzagNet (classifier), the joined
GMCML model and the ablation baselines. Importing this package registers them for loading."""

from gmcml_tf.models.variational_coder import Reparameterize, VariationalCoder
from gmcml_tf.models.zigzagnet import FireModule, ZigzagModule, ZigzagNet, model_size_mb, parameter_summary
from gmcml_tf.models.baselines import AlexNetSmall, ConvCoder, SqueezeNet  # noqa: E402
from gmcml_tf.models.gmcml import GMCML  # noqa: E402

__all__ = [
    "AlexNetSmall",
    "ConvCoder",
    "FireModule",
    "GMCML",
    "SqueezeNet",
    "Reparameterize",
    "VariationalCoder",
    "ZigzagModule",
    "ZigzagNet",
    "model_size_mb",
    "parameter_summary",
]
