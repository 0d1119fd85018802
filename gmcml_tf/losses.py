"""GM-CML loss terms (paper eq. 5, 6, 12 and L_gen; docs/method.md §2, §4, §6).

Pure functions return one value per sample and leave the reduction to the caller, so
the training step can log each term of eq. (11) on its own. Every function casts its
inputs to float32: the sums of squares and the ratio in eq. (6) lose too much in
float16 under mixed precision. Thin serialisable classes wrap them for configs.
"""
from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions
_PACKAGE = "gmcml_tf"


def _f32(x) -> tf.Tensor:
    return tf.cast(x, tf.float32)


def kl_divergence(mu, log_var) -> tf.Tensor:
    """L_enc = KL(N(mu, diag sigma^2) || N(0, I)) per sample, shape (B,) (eq. 12).

    Equals 0.5 * sum(sigma^2 + mu^2 - 1 - log sigma^2), eq. (12) for diagonal Sigma.
    """
    mu, log_var = _f32(mu), _f32(log_var)
    posterior = tfd.Independent(
        tfd.Normal(loc=mu, scale=tf.exp(0.5 * log_var)), reinterpreted_batch_ndims=1)
    prior = tfd.Independent(
        tfd.Normal(loc=tf.zeros_like(mu), scale=tf.ones_like(mu)), reinterpreted_batch_ndims=1)
    return posterior.kl_divergence(prior)


def kl_per_dimension(mu, log_var) -> tf.Tensor:
    """The terms of eq. (12) one latent dimension at a time, shape (B, D); their sum over D
    is `kl_divergence`."""
    mu, log_var = _f32(mu), _f32(log_var)
    return tfd.Normal(loc=mu, scale=tf.exp(0.5 * log_var)).kl_divergence(
        tfd.Normal(loc=tf.zeros_like(mu), scale=tf.ones_like(mu)))


def free_bits_kl(mu, log_var, free_bits: float) -> tf.Tensor:
    """sum_d max(E_batch[KL_d], lambda): L_enc with "free bits" (Kingma et al. 2016), scalar.

    A departure from eq. (12): a dimension that carries less than lambda nats costs a
    constant, so the coder is not pushed to close it (posterior collapse). lambda = 0
    gives the batch mean of eq. (12).
    """
    per_dim = tf.reduce_mean(kl_per_dimension(mu, log_var), axis=0)
    return tf.reduce_sum(tf.maximum(per_dim, float(free_bits)))


def reconstruction_loss(m_true, m_pred) -> tf.Tensor:
    """L_gen = ||M' - M||_2^2 summed over each image, shape (B,) (docs/method.md §2, eq. 13).

    A sum over pixels, not a mean, as docs/method.md §2 states it: a per-pixel mean would shrink
    L_gen by H*W*3 against L_enc in eq. (11) and change their balance.
    """
    diff = _f32(m_pred) - _f32(m_true)
    return tf.reduce_sum(tf.reshape(tf.square(diff), [tf.shape(diff)[0], -1]), axis=1)


def squared_distance(a, b) -> tf.Tensor:
    """D = ||f(a) - f(b)||_2^2 over the last axis (paper §V-B, below eq. 6)."""
    return tf.reduce_sum(tf.square(_f32(a) - _f32(b)), axis=-1)


def pair_loss(d_ij) -> tf.Tensor:
    """L_pair = D_ij, the squared reference-positive distance (eq. 5)."""
    return _f32(d_ij)


def triplet_term(d_ij, d_ik, margin) -> tf.Tensor:
    """L_tri = ln(max(1, 2 - D_ik / (D_ij + m_tri))) (eq. 6).

    Zero once D_ik >= D_ij + m_tri; at most ln 2 (D_ik = 0), so a wildly far negative
    from a busy background cannot blow up the gradient (the paper's reason for the log).
    The margin also keeps the ratio finite when D_ij = 0; it must be > 0.
    """
    d_ij, d_ik = _f32(d_ij), _f32(d_ik)
    return tf.math.log(tf.maximum(1.0, 2.0 - d_ik / (d_ij + margin)))


def multi_triplet_loss(f_ref, f_pos, f_negs, margin, include_pair: bool = True) -> tf.Tensor:
    """L_triplet = L_pair + sum_k L_tri(i, j, k) per multi-triplet set, shape (B,) (eq. 5).

    Args:
        f_ref, f_pos: descriptors (B, D) of the reference x_i and positive x_j.
        f_negs: (B, K, D) tensor, or a list of K tensors (B, D), for the negatives x_k
            (K = 3 in the paper: one same-class other-pose, two other-class).
        margin: m_tri of eq. (6), > 0.
        include_pair: add L_pair; the paper uses the pair term only in the first,
            background-free stage (§V-B), so later stages switch it off.
    """
    if isinstance(f_negs, (list, tuple)):
        f_negs = tf.stack([_f32(f) for f in f_negs], axis=1)
    f_ref, f_pos, f_negs = _f32(f_ref), _f32(f_pos), _f32(f_negs)
    d_ij = squared_distance(f_ref, f_pos)
    d_ik = squared_distance(f_ref[:, None, :], f_negs)
    loss = tf.reduce_sum(triplet_term(d_ij[:, None], d_ik, margin), axis=1)
    return loss + pair_loss(d_ij) if include_pair else loss


def softmax_cross_entropy(labels, logits, label_smoothing: float = 0.0) -> tf.Tensor:
    """L_s, softmax cross-entropy per sample, shape (B,) (eq. 11).

    ``labels`` are class indices (B,), or one-hot / soft targets shaped like logits.
    ``label_smoothing`` eps mixes the targets with the uniform distribution:
    (1 - eps) * target + eps / K (not in the paper; a transfer aid).
    """
    logits, labels = _f32(logits), tf.convert_to_tensor(labels)
    if label_smoothing:
        k = logits.shape[-1]
        if labels.shape.rank != logits.shape.rank:
            labels = tf.one_hot(tf.cast(labels, tf.int32), k)
        labels = _f32(labels) * (1.0 - label_smoothing) + label_smoothing / k
    if labels.shape.rank == logits.shape.rank:
        return tf.nn.softmax_cross_entropy_with_logits(labels=_f32(labels), logits=logits)
    return tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.int32), logits=logits)


def _reduce(values: tf.Tensor, reduction: str | None) -> tf.Tensor:
    if reduction in (None, "none"):
        return values
    if reduction == "sum":
        return tf.reduce_sum(values)
    if reduction == "mean":
        return tf.reduce_mean(values)
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ReconstructionLoss(keras.losses.Loss):
    """Keras wrapper of `reconstruction_loss` (L_gen): ``loss(m_true, m_pred)``."""

    def __init__(self, reduction="sum_over_batch_size", name="reconstruction_loss", **kwargs):
        super().__init__(reduction=reduction, name=name, **kwargs)

    def call(self, y_true, y_pred):
        return reconstruction_loss(y_true, y_pred)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SoftmaxCrossEntropy(keras.losses.Loss):
    """Keras wrapper of `softmax_cross_entropy` (L_s): ``loss(labels, logits)``."""

    def __init__(self, reduction="sum_over_batch_size", name="softmax_cross_entropy", **kwargs):
        super().__init__(reduction=reduction, name=name, **kwargs)

    def call(self, y_true, y_pred):
        return softmax_cross_entropy(y_true, y_pred)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class KLDivergence:
    """Callable `kl_divergence` (L_enc, eq. 12): ``loss(mu, log_var)``.

    Not a keras Loss: its inputs are two predictions, with no y_true.
    """

    def __init__(self, reduction: str | None = "mean"):
        self.reduction = reduction

    def __call__(self, mu, log_var):
        return _reduce(kl_divergence(mu, log_var), self.reduction)

    def get_config(self):
        return {"reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MultiTripletLoss:
    """Callable `multi_triplet_loss` (eq. 5-6): ``loss(f_ref, f_pos, f_negs)``.

    The paper gives no value for m_tri; 1.0 is a placeholder for configs to override.
    """

    def __init__(self, margin: float = 1.0, include_pair: bool = True,
                 reduction: str | None = "mean"):
        if margin <= 0:
            raise ValueError(f"margin must be > 0 (it divides in eq. 6), got {margin}")
        self.margin = float(margin)
        self.include_pair = bool(include_pair)
        self.reduction = reduction

    def __call__(self, f_ref, f_pos, f_negs):
        values = multi_triplet_loss(f_ref, f_pos, f_negs, self.margin, self.include_pair)
        return _reduce(values, self.reduction)

    def get_config(self):
        return {"margin": self.margin, "include_pair": self.include_pair,
                "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
