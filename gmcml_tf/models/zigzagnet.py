"""The classification sub-network: ZigzagNet (paper §V-A, Fig. 4; docs/method.md §3).

A SqueezeNet-like stack of Zigzag modules with a 1x1-conv bypass in every module and
no fully connected layers. Two fixes over the authors' code: the "3x3" expand branch
is a real 3x3 convolution, and dropout is off at inference (Keras' training flag).
"""
from __future__ import annotations

from collections.abc import Sequence

import keras

from gmcml_tf.models.variational_coder import _pair

_PACKAGE = "gmcml_tf"

# (squeeze, expand 1x1, expand 3x3) per module, and whether a max-pool precedes it.
_MODULES: tuple[tuple[int, int, int, bool], ...] = (
    (16, 64, 64, False), (16, 64, 64, False),
    (32, 128, 128, True), (32, 128, 128, False),
    (48, 192, 192, True), (48, 192, 192, False),
    (64, 256, 256, False), (64, 256, 256, False),
)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FireModule(keras.layers.Layer):
    """SqueezeNet Fire module: 1x1 squeeze -> ReLU(expand 1x1 || expand 3x3), no bypass
    (the SqueezeNet ablation); ZigzagModule adds the bypass."""

    def __init__(self, squeeze: int, expand_1x1: int, expand_3x3: int, **kwargs):
        super().__init__(**kwargs)
        self.squeeze, self.expand_1x1, self.expand_3x3 = squeeze, expand_1x1, expand_3x3
        # Conv biases are dropped where batch norm follows: its beta does the job.
        self.squeeze_conv = keras.layers.Conv2D(squeeze, 1, use_bias=False, name="squeeze")
        self.squeeze_bn = keras.layers.BatchNormalization(name="squeeze_bn")
        self.expand1_conv = keras.layers.Conv2D(expand_1x1, 1, use_bias=False, name="expand_1x1")
        self.expand3_conv = keras.layers.Conv2D(
            expand_3x3, 3, padding="same", use_bias=False, name="expand_3x3")
        self.expand_bn = keras.layers.BatchNormalization(name="expand_bn")

    def _shapes(self, input_shape):
        return (tuple(input_shape[:-1]) + (self.squeeze,),
                tuple(input_shape[:-1]) + (self.expand_1x1 + self.expand_3x3,))

    def build(self, input_shape):
        squeezed, expanded = self._shapes(input_shape)
        self.squeeze_conv.build(input_shape)
        self.squeeze_bn.build(squeezed)
        self.expand1_conv.build(squeezed)
        self.expand3_conv.build(squeezed)
        self.expand_bn.build(expanded)

    def _expand(self, inputs, training):
        """squeeze -> ReLU -> expand 1x1 || 3x3 -> batch norm (no ReLU yet)."""
        s = keras.ops.relu(self.squeeze_bn(self.squeeze_conv(inputs), training=training))
        e = keras.ops.concatenate([self.expand1_conv(s), self.expand3_conv(s)], axis=-1)
        return self.expand_bn(e, training=training)

    def call(self, inputs, training=None):
        return keras.ops.relu(self._expand(inputs, training))

    def compute_output_shape(self, input_shape):
        return self._shapes(input_shape)[1]

    def get_config(self):
        return {**super().get_config(), "squeeze": self.squeeze,
                "expand_1x1": self.expand_1x1, "expand_3x3": self.expand_3x3}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ZigzagModule(FireModule):
    """Zigzag module (paper Fig. 4a): squeeze -> expand 1x1 || 3x3 -> + bypass -> ReLU.

    Output channels = expand_1x1 + expand_3x3. The ReLU sits after the sum, not on the
    expand branch (the paper's change to the bypassed Fire module), so both summands
    are on the same linear scale; batch norm on both branches serves the same end.
    """

    def __init__(self, squeeze: int, expand_1x1: int, expand_3x3: int, **kwargs):
        super().__init__(squeeze, expand_1x1, expand_3x3, **kwargs)
        self.bypass_conv = keras.layers.Conv2D(expand_1x1 + expand_3x3, 1, use_bias=False,
                                               name="bypass")
        self.bypass_bn = keras.layers.BatchNormalization(name="bypass_bn")

    def build(self, input_shape):
        super().build(input_shape)
        self.bypass_conv.build(input_shape)
        self.bypass_bn.build(self._shapes(input_shape)[1])

    def call(self, inputs, training=None):
        b = self.bypass_bn(self.bypass_conv(inputs), training=training)
        return keras.ops.relu(self._expand(inputs, training) + b)


class ClassifierBase(keras.Model):
    """The config every classifier (ZigzagNet and the baselines) shares: one get_config."""

    def _finish(self, image_size, input_channels, num_classes, upsample, dropout):
        self.image_size = image_size
        self.input_channels = input_channels
        self.num_classes = num_classes
        self.upsample = upsample
        self.dropout = dropout

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "image_size": list(self.image_size), "input_channels": self.input_channels,
                "num_classes": self.num_classes, "upsample": self.upsample,
                "dropout": self.dropout}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ZigzagNet(ClassifierBase):
    """ZigzagNet classifier (paper Fig. 4b) on concat[O, M'] (6 channels by default).

    Returns a dict: ``logits`` (B, num_classes) and ``descriptor`` (B, 512), the
    penultimate features (last module, before the 1x1 class projection) globally
    average-pooled: the descriptor for nearest-neighbour evaluation (paper §V-A).

    Args:
        image_size: int or (H, W) of the input.
        input_channels: 6 for [O, M']; 3 for the "ZigzagNet alone" ablation.
        num_classes: number of categories.
        upsample: learned 2x upsampling (3x3 stride-2 transposed conv) first, as the
            authors did to take 112^2 renders to 224^2.
        dropout: rate before the class projection.
    """

    def __init__(
        self,
        image_size: int | Sequence[int] = 112,
        input_channels: int = 6,
        num_classes: int = 12,
        upsample: bool = True,
        dropout: float = 0.5,
        **kwargs,
    ):
        height, width = _pair(image_size)

        # === Layers ===
        up = (keras.layers.Conv2DTranspose(input_channels, 3, strides=2, padding="same",
                                           name="upsample") if upsample else None)
        conv1 = keras.layers.Conv2D(64, 3, strides=2, padding="same", use_bias=False,
                                    name="conv1")
        conv1_bn = keras.layers.BatchNormalization(name="conv1_bn")
        modules = [ZigzagModule(s, e1, e3, name=f"zigzag{i + 2}")
                   for i, (s, e1, e3, _) in enumerate(_MODULES)]
        drop = keras.layers.Dropout(dropout, name="dropout")
        classifier = keras.layers.Conv2D(num_classes, 1, name="classifier")

        # === Functional Model ===
        inputs = keras.Input(shape=(height, width, input_channels), name="inputs")
        x = up(inputs) if up is not None else inputs
        x = keras.layers.ReLU(name="conv1_relu")(conv1_bn(conv1(x)))
        # 'same' pooling keeps tiny test inputs (32^2) from collapsing to zero size.
        x = keras.layers.MaxPooling2D(3, 2, padding="same", name="pool1")(x)
        for module, (_, _, _, pool_first) in zip(modules, _MODULES):
            if pool_first:
                x = keras.layers.MaxPooling2D(3, 2, padding="same",
                                              name=f"pool_{module.name}")(x)
            x = module(x)
        descriptor = keras.layers.GlobalAveragePooling2D(dtype="float32", name="descriptor")(x)
        x = classifier(drop(x))
        logits = keras.layers.GlobalAveragePooling2D(dtype="float32", name="logits")(x)
        super().__init__(inputs=inputs, outputs={"logits": logits, "descriptor": descriptor},
                         **kwargs)

        # === Config ===
        self._finish((height, width), input_channels, num_classes, upsample, dropout)
        self.descriptor_dim = _MODULES[-1][1] + _MODULES[-1][2]
        self.zigzag_modules = modules


def model_size_mb(model: keras.Model) -> float:
    """Size of all weights stored as float32, in MiB (the paper's "MB on disk")."""
    return model.count_params() * 4 / 2**20


def parameter_summary(model: keras.Model) -> str:
    """One line per top-level layer with weights, and the totals, for logs and docs."""
    lines = [f"{model.name}:"]
    for layer in model.layers:
        n = layer.count_params() if layer.built else 0
        if n:
            lines.append(f"  {layer.name:<24s}{n:>12,d}")
    trainable = sum(int(keras.ops.size(w)) for w in model.trainable_weights)
    lines.append(f"  {'total':<24s}{model.count_params():>12,d}"
                 f"  ({trainable:,d} trainable, {model_size_mb(model):.2f} MB as float32)")
    return "\n".join(lines)
