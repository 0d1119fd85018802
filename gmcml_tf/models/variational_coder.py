"""The reconstruction sub-network: a variational coder O -> M' (paper §IV-A, docs/method.md §2).

Encoder q(X) gives mu and log sigma^2 of a diagonal Gaussian (eq. 1-2); z is drawn by
re-parameterisation (eq. 14); the generator p(z) renders the semantic mask M'.
The losses on these outputs (eq. 12 and L_gen) live in `gmcml_tf.losses`.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence

import keras

_PACKAGE = "gmcml_tf"


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, numbers.Integral):
        return (int(size), int(size))
    h, w = size
    return (int(h), int(w))


def _halvings(size: int, steps: int) -> list[int]:
    """Spatial sizes of a stride-2 'same' stack: ceil-halving, e.g. 112,56,28,14,7,4."""
    sizes = [size]
    for _ in range(steps):
        sizes.append(-(-sizes[-1] // 2))
    return sizes


@keras.saving.register_keras_serializable(package=_PACKAGE)
def upsample_block(x, filters: int, i: int, hs: list[int], ws: list[int]):
    """Generator step i: stride-2 transposed conv back to the encoder's size at that depth.

    A stride-2 transposed conv doubles; crop the extra row/column where the encoder
    rounded an odd size up (e.g. 4 -> 8 -> 7). All but the last step get BN + ReLU.
    Shared by the variational coder and the FCN/DeconvNet baselines (same macro layout).
    """
    steps = len(hs) - 1
    last = i == steps - 1
    x = keras.layers.Conv2DTranspose(filters, 3, strides=2, padding="same", use_bias=last,
                                     name=f"deconv{i + 1}")(x)
    th, tw = hs[steps - 1 - i], ws[steps - 1 - i]
    dh, dw = 2 * hs[steps - i] - th, 2 * ws[steps - i] - tw
    if dh or dw:
        x = keras.layers.Cropping2D(((0, dh), (0, dw)), name=f"deconv{i + 1}_crop")(x)
    if not last:
        x = keras.layers.BatchNormalization(name=f"deconv{i + 1}_bn")(x)
        x = keras.layers.ReLU(name=f"deconv{i + 1}_relu")(x)
    return x


def dense_to_map(x, hs: list[int], ws: list[int], filters: list[int], hidden_dim: int,
                 names: tuple[str, str] = ("hidden", "project")):
    """A vector -> ReLU dense `hidden_dim` -> ReLU dense -> the encoder's smallest map
    (hs[-1], ws[-1], filters[-1]). The coder's generator and the DeconvNet baseline's fc
    layers (their layer names kept, so saved weights still load)."""
    x = keras.layers.Dense(hidden_dim, activation="relu", name=names[0])(x)
    x = keras.layers.Dense(hs[-1] * ws[-1] * filters[-1], activation="relu", name=names[1])(x)
    return keras.layers.Reshape((hs[-1], ws[-1], filters[-1]), name="reshape")(x)


def decode_to_mask(x, hs: list[int], ws: list[int], filters: list[int], skips=None):
    """Mirror the encoder back to M: up-step i restores the size the encoder had before its
    conv i (widths filters[-2], ..., filters[0], then 3 channels), then a sigmoid (float32).
    `skips`: the encoder's maps for FCN's skip connections, concatenated after each step.

    Sigmoid, not the authors' BN+ReLU: M is a colour image in [0, 1], and ReLU output units
    die at 0 on the black background."""
    out_filters = list(reversed(filters[:-1])) + [3]
    steps = len(out_filters)
    for i, f in enumerate(out_filters):
        x = upsample_block(x, f, i, hs, ws)
        if skips is not None and i < steps - 1:
            x = keras.layers.Concatenate(name=f"skip{i + 1}")([x, skips[steps - 1 - i]])
    return keras.layers.Activation("sigmoid", dtype="float32", name="mask")(x)


class Reparameterize(keras.layers.Layer):
    """z = mu + sigma * eps, eps ~ N(0, I) (the re-parameterisation trick, eq. 14).

    In inference mode z = mu: exported models and evaluation are then deterministic,
    and mu is the expected latent code, the natural point estimate at test time.
    """

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        # False: z = mu in training mode too (batch-norm re-estimation, gmcml_tf.evaluation.adapt).
        self.sample = True

    def call(self, inputs, training=None):
        mu, log_var = inputs
        if not training or not self.sample:
            return mu
        eps = keras.random.normal(keras.ops.shape(mu), dtype=mu.dtype, seed=self.seed_generator)
        return mu + keras.ops.exp(0.5 * log_var) * eps

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class VariationalCoder(keras.Model):
    """Variational coder mapping an RGB render O to its semantic mask M' (docs/method.md §2).

    Call on images (B, H, W, 3) in [0, 1]; returns a dict with
    ``reconstruction`` (B, H, W, 3) in [0, 1], ``mu`` and ``log_var`` (B, latent_dim).
    ``encoder`` (image -> mu, log_var) and ``generator`` (z -> M') are stand-alone
    Keras models, so ``vc.generator(z)`` with z ~ N(0, I) samples masks (paper Fig. 6c).

    Args:
        image_size: int or (H, W) of the input; odd intermediate sizes are handled.
        filters: encoder conv widths (stride 2 each); the generator mirrors them.
        latent_dim: size of z.
        hidden_dim: width of the dense layers either side of z.
        dropout: encoder dropout rate (authors: keep 0.8, i.e. rate 0.2).
        skips: the generator also sees the encoder's map of each size (U-Net skips, as the
            FCN baseline): M' can follow the object's outline, which 32 numbers of z alone
            blur. Then the generator takes [z, maps...] and cannot sample masks from z alone.
    """

    def __init__(
        self,
        image_size: int | Sequence[int] = 112,
        filters: Sequence[int] = (64, 64, 64, 128, 128),
        latent_dim: int = 32,
        hidden_dim: int = 128,
        dropout: float = 0.2,
        seed: int | None = None,
        skips: bool = False,
        **kwargs,
    ):
        height, width = _pair(image_size)
        filters = [int(f) for f in filters]
        hs = _halvings(height, len(filters))
        ws = _halvings(width, len(filters))

        # === Layers ===
        encoder = self._build_encoder(height, width, filters, latent_dim, hidden_dim, dropout, skips)
        generator = self._build_generator(hs, ws, filters, latent_dim, hidden_dim, skips)
        sampler = Reparameterize(seed=seed, name="reparameterize")

        # === Functional Model ===
        images = keras.Input(shape=(height, width, 3), name="images")
        mu, log_var, *maps = encoder(images)
        z = sampler([mu, log_var])
        reconstruction = generator([z, *maps] if skips else z)
        super().__init__(
            inputs=images,
            outputs={"reconstruction": reconstruction, "mu": mu, "log_var": log_var},
            **kwargs,
        )

        # === Config ===
        self.image_size = (height, width)
        self.filters = filters
        self.latent_dim = latent_dim
        self.hidden_dim = hidden_dim
        self.dropout = dropout
        self.seed = seed
        self.skips = bool(skips)
        self.encoder = encoder
        self.generator = generator
        self.sampler = sampler

    @staticmethod
    def _build_encoder(height, width, filters, latent_dim, hidden_dim, dropout, skips=False):
        x = images = keras.Input(shape=(height, width, 3), name="images")
        maps = []   # the input of each conv but the first: the skips' sources
        for i, f in enumerate(filters):
            if i:
                maps.append(x)
            # No conv bias: batch norm's beta replaces it.
            x = keras.layers.Conv2D(f, 3, strides=2, padding="same", use_bias=False,
                                    name=f"conv{i + 1}")(x)
            x = keras.layers.BatchNormalization(name=f"conv{i + 1}_bn")(x)
            x = keras.layers.ReLU(name=f"conv{i + 1}_relu")(x)
            x = keras.layers.Dropout(dropout, name=f"conv{i + 1}_dropout")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        x = keras.layers.Dense(hidden_dim, activation="relu", name="hidden")(x)
        # float32 even under mixed precision: exp(log_var) overflows float16 early in training.
        mu = keras.layers.Dense(latent_dim, dtype="float32", name="mu")(x)
        log_var = keras.layers.Dense(latent_dim, dtype="float32", name="log_var")(x)
        return keras.Model(images, [mu, log_var, *(maps if skips else [])], name="encoder")

    @staticmethod
    def _build_generator(hs, ws, filters, latent_dim, hidden_dim, skips=False):
        z = keras.Input(shape=(latent_dim,), name="z")
        x = dense_to_map(z, hs, ws, filters, hidden_dim)
        if not skips:
            return keras.Model(z, decode_to_mask(x, hs, ws, filters), name="generator")
        maps = [keras.Input(shape=(hs[i], ws[i], f), name=f"skip_in{i}")
                for i, f in zip(range(1, len(filters)), filters)]
        # decode_to_mask reads skips[k] as the map of size hs[k]; k = 0 (the image) is never read
        return keras.Model([z, *maps], decode_to_mask(x, hs, ws, filters, [None, *maps]), name="generator")

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "image_size": list(self.image_size),
            "filters": list(self.filters),
            "latent_dim": self.latent_dim,
            "hidden_dim": self.hidden_dim,
            "dropout": self.dropout,
            "seed": self.seed,
            "skips": self.skips,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
