"""Coupled adaptive noise for coordinate training (paper §VI-A, eq. 8-10; docs/method.md §5).

Early in training M' carries little variance, so the classifier's RGB input is heavily
corrupted and it must lean on M'; as M' becomes informative, R_cls falls and R_rec
rises. Apply in training only: at test time the nets see clean O (docs/method.md §6).
Names match docs/method.md and the training logs: ``r_rec``, ``r_cls``, ``variance_ratio``.
"""
from __future__ import annotations

import keras
import tensorflow as tf

ALPHA = 0.25
BETA = 2.0
# Only guards against a batch of all-black masks (Var(M) = 0); an order of magnitude
# below the variance of a typical batch of masks, so it hardly moves v otherwise.
M_NOISE = 1e-3
# Gaussian noise centred on mid-grey: inputs live in [0, 1], so at R = 1 the image
# keeps the mean the nets (and their batch-norm statistics) are used to, and 0.25
# puts ~95% of draws inside [0, 1]. Not clipped: eq. (8) says Gaussian, and clipping
# would turn it into a truncated one with a smaller, R-dependent variance.
NOISE_MEAN = 0.5
NOISE_STDDEV = 0.25


def variance_ratio(m_pred, m_true, m_noise: float = M_NOISE) -> tf.Tensor:
    """v = Var(M') / (Var(M) + m_noise), variances over every element of the batch (eq. 9).

    The denominator is the ground-truth mask M, not the RGB input the authors' code used.
    """
    m_pred, m_true = tf.cast(m_pred, tf.float32), tf.cast(m_true, tf.float32)
    return tf.math.reduce_variance(m_pred) / (tf.math.reduce_variance(m_true) + m_noise)


def noise_ratios(m_pred, m_true, alpha: float = ALPHA, beta: float = BETA,
                 m_noise: float = M_NOISE) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """(r_rec, r_cls, variance_ratio) for the current batch (eq. 9).

    R_rec = tanh(alpha * v), R_cls = tanh(1 - tanh(beta * v)); scalars.
    """
    # The ratios are a schedule read off the batch, not something to optimise: a
    # gradient through v would let the coder cut its loss by reshaping Var(M') to push
    # noise from its own input onto the classifier's, instead of reconstructing M.
    v = tf.stop_gradient(variance_ratio(m_pred, m_true, m_noise))
    return (*ratios_from_variance(v, alpha, beta), v)


def ratios_from_variance(v, alpha: float = ALPHA, beta: float = BETA) -> tuple[tf.Tensor, tf.Tensor]:
    """(R_rec, R_cls) = (tanh(alpha v), tanh(1 - tanh(beta v))) for a variance ratio v (eq. 9)."""
    v = tf.cast(v, tf.float32)
    return tf.tanh(alpha * v), tf.tanh(1.0 - tf.tanh(beta * v))


def coupled_r_cls(r_rec, alpha: float = ALPHA, beta: float = BETA) -> tf.Tensor:
    """R_cls from R_rec alone: tanh(1 - tanh((beta / alpha) * artanh(R_rec))) (eq. 10)."""
    r_rec = tf.cast(r_rec, tf.float32)
    return tf.tanh(1.0 - tf.tanh((beta / alpha) * tf.math.atanh(r_rec)))


def check_coupling(r_rec, r_cls, alpha: float = ALPHA, beta: float = BETA,
                   atol: float = 1e-5) -> bool:
    """True when the pair (r_rec, r_cls) satisfies eq. (10) to within atol."""
    gap = tf.abs(coupled_r_cls(r_rec, alpha, beta) - tf.cast(r_cls, tf.float32))
    return bool(tf.reduce_all(gap <= atol))


def apply_noise(images, ratio, seed=None, mean: float = NOISE_MEAN,
                stddev: float = NOISE_STDDEV) -> tf.Tensor:
    """n(I) = R * Ran + (1 - R) * I with Ran ~ N(mean, stddev^2) per element (eq. 8).

    Args:
        images: (B, H, W, C) tensor; the result has its dtype.
        ratio: R, a scalar or one value per sample (B,).
        seed: None, an int, a `keras.random.SeedGenerator` (use one inside a compiled
            train step so each step draws fresh noise) or a `tf.random.Generator`.
    """
    images = tf.convert_to_tensor(images)
    x = tf.cast(images, tf.float32)
    shape = tf.shape(x)
    if isinstance(seed, tf.random.Generator):
        ran = seed.normal(shape, mean=mean, stddev=stddev, dtype=tf.float32)
    else:
        ran = keras.random.normal(shape, mean=mean, stddev=stddev, dtype="float32", seed=seed)
    r = tf.cast(ratio, tf.float32)
    if r.shape.rank == 1:
        r = tf.reshape(r, [-1] + [1] * (x.shape.rank - 1))
    return tf.cast(r * ran + (1.0 - r) * x, images.dtype)
