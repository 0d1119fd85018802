"""GMCML (eq. 11) and the ablation networks: gradients, metrics, noise, precision, saving."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from gmcml_tf.models import gmcml as gmcml_module
from gmcml_tf.models.baselines import AlexNetSmall, ConvCoder, SqueezeNet
from gmcml_tf.models.gmcml import GMCML, METRIC_NAMES
from gmcml_tf.noise import check_coupling

try:
    from keras_roundtrip import assert_save_roundtrip
except ImportError:  # tests/ imported as a package
    from tests.keras_roundtrip import assert_save_roundtrip

SIZE = 32
TINY = dict(image_size=SIZE, recon_filters=[8, 8, 8, 16, 16], latent_dim=8, hidden_dim=16, seed=0)
ALL_TERMS = {"enc": 1.0, "gen": 1.0, "pair": 1.0, "tri": 1.0, "softmax": 1.0}


def _batch(n=10, seed=0):
    rng = np.random.default_rng(seed)
    mask = np.zeros((n, SIZE, SIZE, 3), np.float32)
    mask[:, 8:24, 8:24] = rng.random((n, 1, 1, 3))
    return {"image": rng.random((n, SIZE, SIZE, 3), dtype=np.float32), "mask": mask,
            "label": rng.integers(0, 12, n).astype(np.int32)}


def _encoder_grads(model, batch):
    with tf.GradientTape() as tape:
        terms, _, _ = model.compute_terms(batch, training=True)
    variables = model.recon_net.encoder.trainable_variables
    return [g for g in tape.gradient(terms["total"], variables)]


def test_softmax_loss_alone_reaches_the_encoder_and_vc_ablation_stops_it():
    batch = _batch()
    full = GMCML(**TINY)
    full.set_stage({"softmax": 1.0}, triplet_batches=False)
    grads = _encoder_grads(full, batch)
    assert all(g is not None for g in grads)
    assert sum(float(tf.reduce_sum(tf.abs(g))) for g in grads) > 0  # coordinate training, eq. (11)
    vc = GMCML(stop_recon_gradient=True, **TINY)
    vc.set_stage({"softmax": 1.0}, triplet_batches=False)
    grads = _encoder_grads(vc, batch)
    assert all(g is None or float(tf.reduce_sum(tf.abs(g))) == 0 for g in grads)


def test_train_step_reports_every_term_and_ratio():
    model = GMCML(**TINY)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.set_stage(ALL_TERMS, triplet_batches=True)
    logs = model.train_step(_batch(10))  # two multi-triplet sets of 5
    assert set(logs) == set(METRIC_NAMES)
    assert [m.name for m in model.metrics] == list(METRIC_NAMES)
    values = {k: float(v) for k, v in logs.items()}
    assert all(np.isfinite(v) for v in values.values()), values
    for term in ("enc", "gen", "pair", "softmax"):
        assert values[f"loss/{term}"] > 0, term
    assert 0 < values["noise/r_rec"] < 1 and 0 < values["noise/r_cls"] < 1
    assert check_coupling(values["noise/r_rec"], values["noise/r_cls"], atol=1e-4)  # eq. (10)
    assert int(model.optimizer.iterations.numpy()) == 1


def test_noise_only_in_training(monkeypatch):
    calls = []
    real = gmcml_module.apply_noise
    monkeypatch.setattr(gmcml_module, "apply_noise", lambda *a, **k: calls.append(1) or real(*a, **k))
    batch = _batch()
    model = GMCML(**TINY)
    _, _, (r_rec, r_cls, _, _) = model.compute_terms(batch, training=False)
    assert not calls and float(r_rec) == float(r_cls) == 0.0
    a, b = model(batch["image"]), model(batch["image"])  # inference: clean O, deterministic
    np.testing.assert_array_equal(a["logits"], b["logits"])
    assert not calls
    _, _, (r_rec, r_cls, v, _) = model.compute_terms(batch, training=True)
    assert len(calls) == 2 and float(r_cls) > 0  # noi(O) and noi'(O), eq. (8)
    calls.clear()
    gm_ml = GMCML(noise=False, **TINY)  # the GM-ML ablation
    _, _, (r_rec, r_cls, v, _) = gm_ml.compute_terms(batch, training=True)
    assert not calls and float(r_rec) == float(r_cls) == 0.0 and float(v) > 0


def test_training_pass_ratios_read_this_batch_without_a_probe(monkeypatch):
    """ratios_from="training_pass": v (hence R_cls) from the training pass's own M' of this
    batch, R_rec from the previous step's v; one coder pass a step instead of two."""
    from gmcml_tf.noise import noise_ratios, variance_ratio
    batch = _batch()
    model = GMCML(noise_ratios_from="training_pass", **TINY)
    passes = []
    real_call = model.recon_net.__class__.__call__
    monkeypatch.setattr(model.recon_net.__class__, "__call__",
                        lambda self, *a, **k: passes.append(1) or real_call(self, *a, **k))
    terms, out, (r_rec, r_cls, v, v_pass) = model.compute_terms(batch, training=True)
    assert len(passes) == 1  # no probe pass
    assert float(r_rec) == 0.0  # no previous step yet: v = 0, R_rec = tanh(0)
    expected_v = variance_ratio(out["reconstruction"], batch["mask"])
    np.testing.assert_allclose(float(v), float(expected_v), rtol=1e-6)
    np.testing.assert_allclose(float(v_pass), float(v), rtol=1e-6)
    _, want_r_cls, _ = noise_ratios(out["reconstruction"], batch["mask"], model.noise_alpha, model.noise_beta)
    np.testing.assert_allclose(float(r_cls), float(want_r_cls), rtol=1e-6)
    _, _, (r_rec2, _, _, _) = model.compute_terms(_batch(seed=1), training=True)
    np.testing.assert_allclose(float(r_rec2), np.tanh(model.noise_alpha * float(v)), rtol=1e-6)
    probe = GMCML(**TINY)  # the default reads a probe pass and still logs the pass's v
    passes.clear()
    monkeypatch.setattr(probe.recon_net.__class__, "__call__",
                        lambda self, *a, **k: passes.append(1) or real_call(self, *a, **k))
    _, _, (_, _, v_probe, v_pass) = probe.compute_terms(batch, training=True)
    assert len(passes) == 2 and float(v_probe) > 0 and float(v_pass) > 0
    with pytest.raises(ValueError, match="noise_ratios_from"):
        GMCML(noise_ratios_from="guess", **TINY)


def test_gmcml_save_roundtrip(tmp_path):
    model = GMCML(**TINY)
    out = model(_batch(2)["image"])
    assert set(out) == {"logits", "descriptor", "reconstruction"}
    assert_save_roundtrip(model, _batch(2)["image"], tmp_path)


@pytest.mark.parametrize("net", [
    lambda: ConvCoder(SIZE, "fcn", [8, 8, 16]), lambda: ConvCoder(36, "deconvnet", [8, 8, 16]),
    lambda: SqueezeNet(SIZE, 6), lambda: AlexNetSmall(SIZE, 3)])
def test_baselines_shapes_and_roundtrip(net, tmp_path):
    model = net()
    channels = model.input_shape[-1]
    x = np.random.default_rng(0).random((2,) + tuple(model.input_shape[1:3]) + (channels,),
                                        dtype=np.float32)
    out = model(x, training=False)
    if "reconstruction" in out:
        assert out["reconstruction"].shape == x.shape
    else:
        assert out["logits"].shape == (2, 12) and out["descriptor"].shape[0] == 2
    assert_save_roundtrip(model, x, tmp_path)


def test_ablations_train_a_step():
    for kw in (dict(recon="fcn"), dict(recon="deconvnet"),
               dict(recon="none", classifier_input="rgb", classifier="squeezenet")):
        model = GMCML(**{**TINY, **kw})
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        model.set_stage({"gen": 1.0, "softmax": 1.0}, triplet_batches=False)
        logs = model.train_step(_batch(4))
        assert np.isfinite(float(logs["loss/total"])), kw
        assert (float(logs["loss/gen"]) > 0) == (kw["recon"] != "none")


def test_paper_size_fits_the_papers_budget():
    sizes = GMCML(image_size=112, upsample=True).size_mb()
    assert sizes["model_mb"] <= 20.2, sizes  # paper: 20.2 MB = recon 14 + ZigzagNet 6.2


def test_mixed_bfloat16_step():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = GMCML(**TINY)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        model.set_stage(ALL_TERMS, triplet_batches=True)
        logs = model.train_step(_batch(10))
        assert all(np.isfinite(float(v)) for v in logs.values())
        assert logs["loss/total"].dtype == tf.float32  # losses stay float32 (docs/method.md §6)
    finally:
        keras.mixed_precision.set_global_policy(previous)


def test_gate_input_weights_o_by_the_silhouette_of_m_prime_and_trains_the_coder(tmp_path):
    """classifier_input gate: O x (floor + (1 - floor) tanh(max channel of M' / 0.125)): GATE_FLOOR x O
    where M' is black, 0.96+ where M' is an object (>= 0.25); the softmax loss reaches the coder."""
    model = GMCML(classifier_input="gate", recon_skips=True, **TINY)
    o = tf.ones((1, 2, 2, 3))
    m = tf.constant([[[[0.0, 0.0, 0.0], [0.5, 0.1, 0.0]], [[0.0, 0.125, 0.0], [0.0, 0.0, 1.0]]]])
    x = model._classifier_input(o, m).numpy()[0, ..., 0]
    floor = gmcml_module.GATE_FLOOR
    g = lambda v: floor + (1 - floor) * np.tanh(v / 0.125)  # noqa: E731
    np.testing.assert_allclose(x, [[floor, g(0.5)], [g(0.125), g(1.0)]], rtol=1e-5)
    assert g(0.25) > 0.98 and x[0, 0] == floor
    assert model.classifier_net.input_shape[-1] == 3
    model.set_stage({"softmax": 1.0}, triplet_batches=False)
    grads = _encoder_grads(model, _batch())
    assert sum(float(tf.reduce_sum(tf.abs(g))) for g in grads if g is not None) > 0
    assert_save_roundtrip(model, _batch(2)["image"], tmp_path)
    with pytest.raises(ValueError, match="needs a reconstruction net"):
        GMCML(**{**TINY, "recon": "none", "classifier_input": "gate"})
