"""Ablation networks of paper Tables I-III (docs/method.md §7).

Reconstruction baselines (deterministic, no latent variables, same macro architecture
as the variational coder of docs/method.md §2):
  * ``ConvCoder(kind="fcn")``: conv encoder, transposed-conv decoder with FCN-style
    skip connections (concatenation of the encoder map of the same size); no dense
    layers at all.
  * ``ConvCoder(kind="deconvnet")``: conv encoder -> dense bottleneck (the fc layers of
    DeconvNet) -> mirrored transposed convs; the VC with z = mu and no KL (eq. 12).
Both return ``{"reconstruction": M'}`` in [0, 1].

Classifier baselines, both returning ``{"logits", "descriptor"}`` like ZigzagNet:
  * ``SqueezeNet``: Fire modules (squeeze -> expand 1x1 || 3x3, ReLU on the expand,
    no bypass) in ZigzagNet's macro layout, the network ZigzagNet modifies (§V-A).
  * ``AlexNetSmall``: five convs + two fully connected layers, narrower than AlexNet;
    the descriptor is the second fc layer.
"""
from __future__ import annotations

from collections.abc import Sequence

import keras

from gmcml_tf.models.variational_coder import _halvings, _pair, decode_to_mask, dense_to_map
from gmcml_tf.models.zigzagnet import _MODULES, ClassifierBase, FireModule

_PACKAGE = "gmcml_tf"


def _conv_bn_relu(x, filters, kernel, strides, name):
    x = keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False,
                            name=name)(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ConvCoder(keras.Model):
    """Deterministic FCN / DeconvNet reconstruction baseline O -> M' (docs/method.md §7)."""

    def __init__(self, image_size: int | Sequence[int] = 112, kind: str = "fcn",
                 filters: Sequence[int] = (64, 64, 64, 128, 128), hidden_dim: int = 128,
                 dropout: float = 0.2, **kwargs):
        if kind not in ("fcn", "deconvnet"):
            raise ValueError(f"kind must be 'fcn' or 'deconvnet', got {kind!r}")
        height, width = _pair(image_size)
        filters = [int(f) for f in filters]
        hs, ws = _halvings(height, len(filters)), _halvings(width, len(filters))

        images = keras.Input(shape=(height, width, 3), name="images")
        x, skips = images, []
        for i, f in enumerate(filters):
            skips.append(x)
            x = _conv_bn_relu(x, f, 3, 2, f"conv{i + 1}")
            x = keras.layers.Dropout(dropout, name=f"conv{i + 1}_dropout")(x)
        if kind == "deconvnet":
            x = keras.layers.Flatten(name="flatten")(x)
            x = dense_to_map(x, hs, ws, filters, hidden_dim, names=("fc1", "fc2"))
        # FCN: a skip connection from the encoder map of each size
        m_pred = decode_to_mask(x, hs, ws, filters, skips if kind == "fcn" else None)
        super().__init__(inputs=images, outputs={"reconstruction": m_pred}, **kwargs)
        self.image_size = (height, width)
        self.kind = kind
        self.filters = filters
        self.hidden_dim = hidden_dim
        self.dropout = dropout

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "image_size": list(self.image_size), "kind": self.kind,
                "filters": list(self.filters), "hidden_dim": self.hidden_dim,
                "dropout": self.dropout}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _stem(image_size, input_channels, upsample, conv1_kernel):
    """Input, optional learned 2x upsampling (112 -> 224, as ZigzagNet), conv1, pool1."""
    height, width = _pair(image_size)
    inputs = keras.Input(shape=(height, width, input_channels), name="inputs")
    x = inputs
    if upsample:
        x = keras.layers.Conv2DTranspose(input_channels, 3, strides=2, padding="same",
                                         name="upsample")(x)
    x = _conv_bn_relu(x, 64, conv1_kernel, 2, "conv1")
    x = keras.layers.MaxPooling2D(3, 2, padding="same", name="pool1")(x)
    return inputs, x, (height, width)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SqueezeNet(ClassifierBase):
    """SqueezeNet (Fire modules, no bypass) in ZigzagNet's macro layout (docs/method.md §3, §7)."""

    def __init__(self, image_size=112, input_channels: int = 3, num_classes: int = 12,
                 upsample: bool = False, dropout: float = 0.5, **kwargs):
        inputs, x, size = _stem(image_size, input_channels, upsample, conv1_kernel=3)
        for i, (s, e1, e3, pool_first) in enumerate(_MODULES):
            if pool_first:
                x = keras.layers.MaxPooling2D(3, 2, padding="same", name=f"pool_fire{i + 2}")(x)
            x = FireModule(s, e1, e3, name=f"fire{i + 2}")(x)
        descriptor = keras.layers.GlobalAveragePooling2D(dtype="float32", name="descriptor")(x)
        x = keras.layers.Dropout(dropout, name="dropout")(x)
        x = keras.layers.Conv2D(num_classes, 1, name="classifier")(x)
        logits = keras.layers.GlobalAveragePooling2D(dtype="float32", name="logits")(x)
        super().__init__(inputs=inputs, outputs={"logits": logits, "descriptor": descriptor},
                         **kwargs)
        self._finish(size, input_channels, num_classes, upsample, dropout)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class AlexNetSmall(ClassifierBase):
    """AlexNet-like classifier: 5 convs (BN, ReLU, 3 max-pools), fc 512, fc 512, classes."""

    def __init__(self, image_size=112, input_channels: int = 3, num_classes: int = 12,
                 upsample: bool = False, dropout: float = 0.5, **kwargs):
        inputs, x, size = _stem(image_size, input_channels, upsample, conv1_kernel=5)
        x = _conv_bn_relu(x, 128, 5, 1, "conv2")
        x = keras.layers.MaxPooling2D(3, 2, padding="same", name="pool2")(x)
        x = _conv_bn_relu(x, 192, 3, 1, "conv3")
        x = _conv_bn_relu(x, 192, 3, 1, "conv4")
        x = _conv_bn_relu(x, 128, 3, 1, "conv5")
        x = keras.layers.MaxPooling2D(3, 2, padding="same", name="pool5")(x)
        # Global pooling instead of flatten keeps the fc sizes independent of the input size.
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        x = keras.layers.Dense(512, activation="relu", name="fc6")(x)
        x = keras.layers.Dropout(dropout, name="fc6_dropout")(x)
        x = keras.layers.Dense(512, activation="relu", name="fc7")(x)
        descriptor = keras.layers.Activation("linear", dtype="float32", name="descriptor")(x)
        x = keras.layers.Dropout(dropout, name="fc7_dropout")(x)
        logits = keras.layers.Dense(num_classes, dtype="float32", name="logits")(x)
        super().__init__(inputs=inputs, outputs={"logits": logits, "descriptor": descriptor},
                         **kwargs)
        self._finish(size, input_channels, num_classes, upsample, dropout)
