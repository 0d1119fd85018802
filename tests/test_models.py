"""Shapes, inference determinism and .keras round trips of the GM-CML networks."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from gmcml_tf.models import (Reparameterize, VariationalCoder, ZigzagModule, ZigzagNet,
                             model_size_mb, parameter_summary)
from tfrecords_tools.categories import NUM_CLASSES

try:
    from keras_roundtrip import assert_save_roundtrip
except ImportError:  # tests/ imported as a package
    from tests.keras_roundtrip import assert_save_roundtrip

SMALL_FILTERS = [8, 8, 8, 16, 16]


def _images(batch, size, channels=3, seed=0):
    h, w = (size, size) if isinstance(size, int) else size
    return np.random.default_rng(seed).random((batch, h, w, channels), dtype=np.float32)


# --- VariationalCoder -------------------------------------------------------------

def test_variational_coder_default_shapes():
    vc = VariationalCoder()
    out = vc(_images(2, 112), training=False)
    assert out["reconstruction"].shape == (2, 112, 112, 3)
    assert out["mu"].shape == out["log_var"].shape == (2, 32)
    recon = keras.ops.convert_to_numpy(out["reconstruction"])
    assert recon.min() >= 0.0 and recon.max() <= 1.0  # sigmoid output
    # The encoder's last feature map is 4x4 (112 -> 56 -> 28 -> 14 -> 7 -> 4).
    assert vc.generator.get_layer("reshape").output.shape[1:3] == (4, 4)
    print(f"\nVariationalCoder 112^2: {vc.count_params():,d} params, "
          f"{model_size_mb(vc):.2f} MB")


@pytest.mark.parametrize("size", [32, 50, (36, 44)])
def test_variational_coder_small_and_odd_sizes(size):
    vc = VariationalCoder(image_size=size, filters=SMALL_FILTERS, latent_dim=4, hidden_dim=8)
    h, w = vc.image_size
    out = vc(_images(2, size), training=False)
    assert out["reconstruction"].shape == (2, h, w, 3)


def test_encoder_and_generator_stand_alone():
    vc = VariationalCoder(image_size=32, filters=SMALL_FILTERS, latent_dim=4, hidden_dim=8)
    mu, log_var = vc.encoder(_images(3, 32), training=False)
    assert mu.shape == log_var.shape == (3, 4)
    z = np.random.default_rng(1).standard_normal((5, 4)).astype("float32")  # z ~ N(0, I)
    masks = vc.generator(z, training=False)
    assert masks.shape == (5, 32, 32, 3)


def test_variational_coder_inference_is_deterministic():
    vc = VariationalCoder(image_size=32, filters=SMALL_FILTERS, latent_dim=4, hidden_dim=8)
    x = _images(2, 32)
    a, b = vc(x, training=False), vc(x, training=False)
    np.testing.assert_array_equal(a["reconstruction"], b["reconstruction"])
    # In training z is sampled (and dropout is on): two calls differ.
    c, d = vc(x, training=True), vc(x, training=True)
    assert not np.allclose(c["reconstruction"], d["reconstruction"])


def test_reparameterize():
    layer = Reparameterize(seed=3)
    mu = np.full((4000, 2), 1.5, dtype="float32")
    log_var = np.log(np.full((4000, 2), 0.25, dtype="float32"))
    np.testing.assert_array_equal(layer([mu, log_var], training=False), mu)
    z = keras.ops.convert_to_numpy(layer([mu, log_var], training=True))
    assert abs(z.mean() - 1.5) < 0.03 and abs(z.std() - 0.5) < 0.03


def test_variational_coder_save_roundtrip(tmp_path):
    vc = VariationalCoder(image_size=32, filters=SMALL_FILTERS, latent_dim=4, hidden_dim=8)
    restored = assert_save_roundtrip(vc, _images(2, 32), tmp_path)
    z = np.zeros((1, 4), dtype="float32")
    np.testing.assert_allclose(restored.generator(z), vc.generator(z), atol=1e-5)


def test_variational_coder_with_skips_sees_the_encoder_maps_and_round_trips(tmp_path):
    """recon_skips: the generator takes [z, the encoder's maps]; M' then depends on the image
    beyond z (two images with the same z give different M'), at odd sizes too."""
    vc = VariationalCoder(image_size=(36, 44), filters=SMALL_FILTERS, latent_dim=4, hidden_dim=8, skips=True)
    x = _images(2, (36, 44))
    mu, log_var, *maps = vc.encoder(x, training=False)
    assert [tuple(m.shape[1:3]) for m in maps] == [(18, 22), (9, 11), (5, 6), (3, 3)]
    z = np.zeros((2, 4), dtype="float32")
    masks = np.asarray(vc.generator([keras.ops.convert_to_tensor(z), *maps], training=False))
    assert masks.shape == (2, 36, 44, 3) and not np.allclose(masks[0], masks[1])
    restored = assert_save_roundtrip(vc, x, tmp_path)
    assert restored.skips is True


# --- ZigzagNet --------------------------------------------------------------------

def test_zigzag_module_has_real_3x3_expand():
    module = ZigzagModule(4, 8, 8)
    y = module(_images(2, 8, channels=6), training=False)
    assert y.shape == (2, 8, 8, 16)
    assert tuple(module.expand3_conv.kernel.shape) == (3, 3, 4, 8)
    assert tuple(module.expand1_conv.kernel.shape) == (1, 1, 4, 8)
    assert tuple(module.bypass_conv.kernel.shape) == (1, 1, 6, 16)
    assert float(keras.ops.min(y)) >= 0.0  # ReLU after the sum


def test_zigzagnet_paper_configuration():
    net = ZigzagNet(image_size=112, upsample=True)
    assert net.input_shape == (None, 112, 112, 6)
    assert net.get_layer("upsample").output.shape[1:] == (224, 224, 6)
    out = net(_images(2, 112, channels=6), training=False)
    assert out["logits"].shape == (2, NUM_CLASSES)
    assert out["descriptor"].shape == (2, net.descriptor_dim) == (2, 512)
    print("\n" + parameter_summary(net))
    # The paper reports 6.2 MB on disk for ZigzagNet.
    assert 5.5 < model_size_mb(net) < 6.5


def test_zigzagnet_dropout_off_in_inference():
    net = ZigzagNet(image_size=32, input_channels=3, upsample=False)
    x = _images(2, 32)
    a, b = net(x, training=False), net(x, training=False)
    np.testing.assert_array_equal(a["logits"], b["logits"])
    c, d = net(x, training=True), net(x, training=True)
    assert not np.allclose(c["logits"], d["logits"])


def test_zigzagnet_save_roundtrip(tmp_path):
    net = ZigzagNet(image_size=32, num_classes=5, upsample=True)
    assert_save_roundtrip(net, _images(2, 32, channels=6), tmp_path)
