"""Loss terms (eq. 5, 6, 12, L_gen, L_s) and coupled adaptive noise (eq. 8-10) by hand."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from gmcml_tf import losses, noise

RNG = np.random.default_rng(0)


def _np(x):
    return keras.ops.convert_to_numpy(x)


# --- eq. (12) and L_gen -----------------------------------------------------------

def test_kl_divergence_matches_closed_form():
    mu = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5]], dtype="float32")
    log_var = np.array([[0.0, 0.0, 0.0], [0.3, -1.0, 2.0]], dtype="float32")
    expected = 0.5 * np.sum(mu**2 + np.exp(log_var) - 1.0 - log_var, axis=1)
    got = _np(losses.kl_divergence(mu, log_var))
    assert got.shape == (2,)
    assert got[0] == pytest.approx(0.0, abs=1e-7)  # posterior == prior
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert float(losses.KLDivergence()(mu, log_var)) == pytest.approx(expected.mean(), rel=1e-5)


def test_reconstruction_loss_is_per_image_sum_of_squares():
    m_true = RNG.random((3, 4, 5, 3), dtype=np.float32)
    m_pred = RNG.random((3, 4, 5, 3), dtype=np.float32)
    expected = ((m_pred - m_true) ** 2).reshape(3, -1).sum(axis=1)
    np.testing.assert_allclose(_np(losses.reconstruction_loss(m_true, m_pred)), expected,
                               rtol=1e-5)
    np.testing.assert_allclose(float(losses.ReconstructionLoss()(m_true, m_pred)),
                               expected.mean(), rtol=1e-5)


# --- eq. (5) and (6) --------------------------------------------------------------

def test_pair_loss_and_distances():
    a = np.array([[0.0, 0.0], [1.0, 2.0]], dtype="float32")
    b = np.array([[3.0, 4.0], [1.0, 0.0]], dtype="float32")
    d = _np(losses.squared_distance(a, b))
    np.testing.assert_allclose(d, [25.0, 4.0])
    np.testing.assert_allclose(_np(losses.pair_loss(d)), [25.0, 4.0])


def test_multi_triplet_loss_by_hand():
    margin = 1.0
    f_ref = np.array([[0.0, 0.0], [0.0, 0.0]], dtype="float32")
    f_pos = np.array([[1.0, 0.0], [0.0, 2.0]], dtype="float32")  # D_ij = 1, 4
    f_negs = np.array([
        [[3.0, 0.0], [1.0, 1.0], [0.5, 0.0]],  # D_ik = 9 (clamped), 2 (boundary), 0.25
        [[0.0, 0.0], [2.0, 0.0], [0.0, 3.0]],  # D_ik = 0, 4, 9 (clamped)
    ], dtype="float32")
    # Sample 0: D_ij + m = 2: 2 - 9/2 < 1 -> 0; 2 - 2/2 = 1 -> 0; 2 - 0.125 -> ln 1.875.
    # Sample 1: D_ij + m = 5: ln 2; ln(2 - 0.8) = ln 1.2; 2 - 1.8 < 1 -> 0.
    tri = np.array([np.log(1.875), np.log(2.0) + np.log(1.2)])
    pair = np.array([1.0, 4.0])
    got = _np(losses.multi_triplet_loss(f_ref, f_pos, f_negs, margin))
    np.testing.assert_allclose(got, pair + tri, rtol=1e-6)
    as_list = losses.multi_triplet_loss(f_ref, f_pos, list(f_negs.transpose(1, 0, 2)), margin)
    np.testing.assert_allclose(_np(as_list), got, rtol=1e-6)
    no_pair = losses.multi_triplet_loss(f_ref, f_pos, f_negs, margin, include_pair=False)
    np.testing.assert_allclose(_np(no_pair), tri, rtol=1e-6)
    loss = losses.MultiTripletLoss(margin=margin)
    assert float(loss(f_ref, f_pos, f_negs)) == pytest.approx((pair + tri).mean(), rel=1e-6)


def test_triplet_term_clamp_has_zero_loss_and_gradient():
    d_ij = tf.constant([1.0, 1.0])
    d_ik = tf.Variable([9.0, 0.5])  # clamped; not clamped
    with tf.GradientTape() as tape:
        values = losses.triplet_term(d_ij, d_ik, 1.0)
    grad = _np(tape.gradient(values, d_ik))
    np.testing.assert_allclose(_np(values), [0.0, np.log(1.75)], rtol=1e-6)
    assert grad[0] == 0.0
    # d/dD_ik ln(2 - D_ik / 2) = -1 / (2 * (2 - D_ik / 2)).
    assert grad[1] == pytest.approx(-1.0 / (2.0 * 1.75), rel=1e-6)


def test_softmax_cross_entropy_sparse_and_one_hot():
    logits = np.array([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0]], dtype="float32")
    labels = np.array([0, 1])
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -log_p[np.arange(2), labels]
    np.testing.assert_allclose(_np(losses.softmax_cross_entropy(labels, logits)), expected,
                               rtol=1e-6)
    one_hot = np.eye(3, dtype="float32")[labels]
    np.testing.assert_allclose(_np(losses.softmax_cross_entropy(one_hot, logits)), expected,
                               rtol=1e-6)
    assert float(losses.SoftmaxCrossEntropy()(labels, logits)) == pytest.approx(
        expected.mean(), rel=1e-6)


def test_losses_compute_in_float32():
    mu = tf.constant([[0.5, -0.5]], dtype=tf.float16)
    assert losses.kl_divergence(mu, mu).dtype == tf.float32
    assert losses.reconstruction_loss(mu[:, :, None], mu[:, :, None]).dtype == tf.float32
    negs = tf.stack([mu] * 3, axis=1)
    assert losses.multi_triplet_loss(mu, mu, negs, 1.0).dtype == tf.float32


@pytest.mark.parametrize("loss", [
    losses.KLDivergence(reduction="sum"),
    losses.MultiTripletLoss(margin=0.5, include_pair=False),
    losses.ReconstructionLoss(),
    losses.SoftmaxCrossEntropy(),
])
def test_loss_classes_serialise(loss):
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(restored) is type(loss)
    assert restored.get_config() == loss.get_config()


# --- eq. (8)-(10) -----------------------------------------------------------------

def test_noise_ratios_by_hand():
    m_true = RNG.random((2, 8, 8, 3), dtype=np.float32)
    m_pred = 0.3 * RNG.random((2, 8, 8, 3), dtype=np.float32)
    alpha, beta, m_noise = 0.25, 2.0, 1e-3
    v = np.var(m_pred) / (np.var(m_true) + m_noise)
    r_rec, r_cls, got_v = noise.noise_ratios(m_pred, m_true, alpha, beta, m_noise)
    assert float(got_v) == pytest.approx(v, rel=1e-5)
    assert float(r_rec) == pytest.approx(np.tanh(alpha * v), rel=1e-5)
    assert float(r_cls) == pytest.approx(np.tanh(1.0 - np.tanh(beta * v)), rel=1e-5)


def test_eq10_coupling_holds():
    m_true = RNG.random((2, 8, 8, 3), dtype=np.float32)
    for scale in (0.01, 0.3, 1.0, 2.0):
        r_rec, r_cls, _ = noise.noise_ratios(scale * m_true, m_true)
        assert noise.check_coupling(r_rec, r_cls)
    assert not noise.check_coupling(r_rec, r_cls + 0.01)


def test_r_cls_falls_and_r_rec_rises_with_variance_ratio():
    m_true = RNG.random((2, 8, 8, 3), dtype=np.float32)
    rows = [noise.noise_ratios(s * m_true, m_true) for s in (0.0, 0.1, 0.5, 1.0, 2.0)]
    r_rec, r_cls, v = (np.array([float(r[i]) for r in rows]) for i in range(3))
    assert np.all(np.diff(v) > 0)
    assert np.all(np.diff(r_rec) > 0) and np.all(np.diff(r_cls) < 0)
    assert r_rec[0] == 0.0 and r_cls[0] == pytest.approx(np.tanh(1.0))


def test_no_gradient_through_ratios():
    m_pred = tf.Variable(RNG.random((1, 4, 4, 3), dtype=np.float32))
    with tf.GradientTape() as tape:
        r_rec, r_cls, _ = noise.noise_ratios(m_pred, tf.ones((1, 4, 4, 3)))
        total = r_rec + r_cls
    assert tape.gradient(total, m_pred) is None


def test_apply_noise_extremes():
    images = RNG.random((4, 32, 32, 3), dtype=np.float32)
    np.testing.assert_array_equal(_np(noise.apply_noise(images, 0.0, seed=1)), images)
    pure = _np(noise.apply_noise(images, 1.0, seed=1))
    assert pure.mean() == pytest.approx(noise.NOISE_MEAN, abs=0.01)
    assert pure.std() == pytest.approx(noise.NOISE_STDDEV, abs=0.01)
    assert abs(np.corrcoef(pure.ravel(), images.ravel())[0, 1]) < 0.05


def test_apply_noise_mixes_per_sample_and_seeds():
    images = np.zeros((2, 8, 8, 3), dtype=np.float32)
    mixed = _np(noise.apply_noise(images, np.array([0.0, 0.5], dtype="float32"), seed=2))
    assert np.all(mixed[0] == 0.0) and mixed[1].std() > 0.05
    a = noise.apply_noise(images, 0.5, seed=7)
    np.testing.assert_array_equal(_np(a), _np(noise.apply_noise(images, 0.5, seed=7)))
    generator = tf.random.Generator.from_seed(3)
    assert noise.apply_noise(images, 0.5, seed=generator).shape == images.shape
