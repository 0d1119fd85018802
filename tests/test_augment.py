"""Training augmentation, class-balanced draws, the learning-rate schedule, free bits and
label smoothing: the recipe for the transfer to real photos, on real renders."""
import dataclasses
import math

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from gmcml_tf import losses as L  # noqa: E402
from gmcml_tf.data import make_dataset  # noqa: E402
from gmcml_tf.data.augment import AugmentConfig, augment, photometric  # noqa: E402
from gmcml_tf.training.train import stage_learning_rate  # noqa: E402
from tfrecords_tools.configlib import ConfigError  # noqa: E402

OFF = dict(brightness=0.0, contrast=[1.0, 1.0], saturation=[1.0, 1.0], hue=0.0, grayscale=0.0,
           blur=0.0, noise=0.0, jpeg=0.0, erase=0.0, edge_blur=0.0)


def take(ds):
    return {k: v.numpy() for k, v in next(iter(ds)).items()}


def test_geometry_moves_o_m_and_alpha_together(smoke_render):
    """Whatever the crop, rotation and flip, M and alpha stay aligned with O's object."""
    cfg, _ = smoke_render
    kw = dict(image_size=64, batch_size=16, background=False, seed=3)
    b = take(make_dataset(cfg.out, "train", augment=AugmentConfig(**OFF), **kw))
    obj = b["image"].max(-1) > 0          # over black, the object is where O is not black
    inside = b["alpha"][..., 0] > 0.99
    assert inside.sum() > 1000
    assert obj[inside].mean() > 0.97      # where alpha says object, O has one
    assert (b["mask"].max(-1)[b["alpha"][..., 0] < 0.01] < 0.02).all()  # no M outside alpha
    plain = take(make_dataset(cfg.out, "train", **kw))
    assert not np.allclose(plain["alpha"], b["alpha"])  # the geometry did change something


def test_photometric_changes_o_only_and_stays_in_range(smoke_render):
    cfg, _ = smoke_render
    kw = dict(image_size=32, batch_size=12, seed=1)
    geo_only = AugmentConfig(**OFF)
    full = AugmentConfig(grayscale=0.5, blur=0.5, noise=0.5, jpeg=0.5, erase=0.5)
    a = take(make_dataset(cfg.out, "train", augment=geo_only, **kw))
    b = take(make_dataset(cfg.out, "train", augment=full, **kw))
    np.testing.assert_array_equal(a["mask"], b["mask"])     # same draws for the geometry
    np.testing.assert_array_equal(a["alpha"], b["alpha"])
    assert not np.allclose(a["image"], b["image"])
    assert b["image"].min() >= 0.0 and b["image"].max() <= 1.0


def test_augmentation_is_deterministic_for_a_seed(smoke_render):
    cfg, _ = smoke_render
    kw = dict(image_size=32, batch_size=8, augment=AugmentConfig(), balanced=True)
    a, b = (take(make_dataset(cfg.out, "train", seed=5, **kw)) for _ in range(2))
    c = take(make_dataset(cfg.out, "train", seed=6, **kw))
    np.testing.assert_array_equal(a["image"], b["image"])
    assert not np.array_equal(a["image"], c["image"])


def test_photometric_factors_hand_computed():
    """Grayscale makes the channels equal; hue 0 and factors 1 leave O unchanged."""
    o = tf.random.stateless_uniform([4, 8, 8, 3], seed=[1, 2])
    same = photometric(o, tf.constant([0, 1], tf.int64), AugmentConfig(**OFF))
    np.testing.assert_allclose(same.numpy(), o.numpy(), atol=1e-5)
    gray = photometric(o, tf.constant([0, 1], tf.int64), AugmentConfig(**{**OFF, "grayscale": 1.0}))
    want = (o.numpy() * [0.299, 0.587, 0.114]).sum(-1)
    for ch in range(3):
        np.testing.assert_allclose(gray.numpy()[..., ch], want, atol=1e-5)


def test_identity_geometry_is_exact():
    """Crop area 1, aspect 1, no rotation or flip: the warp returns its input."""
    cfg = AugmentConfig(**OFF, crop_area=[1.0, 1.0], crop_aspect=[1.0, 1.0], rotation_deg=0.0, flip=False)
    o = tf.random.stateless_uniform([3, 16, 16, 3], seed=[0, 0])
    m = tf.random.stateless_uniform([3, 16, 16, 3], seed=[0, 1])
    alpha = tf.ones([3, 16, 16, 1])
    o2, m2, a2 = augment(o, m, alpha, tf.constant([4, 4], tf.int64), cfg)
    np.testing.assert_allclose(o2.numpy(), o.numpy(), atol=1e-5)
    np.testing.assert_allclose(m2.numpy(), m.numpy(), atol=1e-5)


def test_balanced_draws_even_out_an_imbalanced_library(smoke_render):
    cfg, manifest = smoke_render
    ds = make_dataset(cfg.out, "train", image_size=16, batch_size=64, balanced=True, seed=0)
    labels = np.concatenate([b["label"].numpy() for b in ds.take(30)])
    counts = np.bincount(labels, minlength=12)
    present = [i for i, n in enumerate(counts) if n]
    assert len(present) == len(manifest["splits"]["train"]["per_category"])
    expected = len(labels) / len(present)
    assert all(abs(counts[i] - expected) < 5 * math.sqrt(expected) for i in present)


def test_config_rejects_bad_augmentation_ranges():
    with pytest.raises(ConfigError, match="crop_area"):
        AugmentConfig(crop_area=[0.5, 1.5]).validate("train.augment")
    with pytest.raises(ConfigError, match="jpeg"):
        AugmentConfig(jpeg=2.0).validate("train.augment")


def test_learning_rate_warmup_then_cosine_to_zero():
    lr = [stage_learning_rate(1.0, s, 100, "cosine", 0.1) for s in range(100)]
    assert lr[0] == pytest.approx(0.1) and lr[9] == pytest.approx(1.0)
    assert lr[10] == pytest.approx(1.0) and lr[55] == pytest.approx(0.5, abs=0.02)
    assert lr[-1] < 0.001 and all(a >= b for a, b in zip(lr[10:], lr[11:]))
    assert stage_learning_rate(2e-3, 50, 100, "constant", 0.0) == 2e-3


def test_free_bits_and_label_smoothing_against_hand_computation():
    mu = tf.constant([[1.0, 0.0], [1.0, 0.0]])
    log_var = tf.zeros([2, 2])
    # KL per dimension: 0.5 * mu^2 -> [0.5, 0]; free bits 0.2 lifts the second to 0.2
    assert float(L.free_bits_kl(mu, log_var, 0.2)) == pytest.approx(0.7)
    assert float(L.free_bits_kl(mu, log_var, 0.0)) == pytest.approx(float(tf.reduce_mean(L.kl_divergence(mu, log_var))))
    logits = tf.constant([[2.0, 0.0, 0.0]])
    p = tf.nn.log_softmax(logits).numpy()[0]
    want = -(0.9 + 0.1 / 3) * p[0] - (0.1 / 3) * (p[1] + p[2])
    assert float(L.softmax_cross_entropy([0], logits, 0.1)[0]) == pytest.approx(want, rel=1e-5)


def test_augmentation_keys_reach_the_config():
    from gmcml_tf.config import load_config
    cfg = load_config(None, ["train.augment.enabled=true", "train.augment.jpeg=0.5",
                             "train.balanced=true", "train.kl.free_bits=0.1", "eval.flip=true"])
    assert cfg.train.augment.enabled and cfg.train.augment.jpeg == 0.5 and cfg.train.balanced
    assert cfg.train.kl.free_bits == 0.1 and cfg.eval.flip
    assert dataclasses.asdict(cfg)["train"]["augment"]["crop_area"] == [0.6, 1.0]


def test_soft_edges_change_o_only_near_the_object_edge():
    from gmcml_tf.data.augment import soften_edges
    o = tf.random.stateless_uniform([2, 32, 32, 3], seed=[5, 5])
    alpha = np.zeros((2, 32, 32, 1), np.float32)
    alpha[:, 8:24, 8:24] = 1.0
    out = soften_edges(o, tf.constant(alpha), tf.constant([1, 2], tf.int64), 1.0).numpy()
    changed = np.abs(out - o.numpy()).max(-1) > 1e-6
    assert changed[:, 7:9, 10:22].all()          # at the edge
    assert not changed[:, 12:20, 12:20].any()    # deep inside
    assert not changed[:, :3, :3].any()          # far outside


def _box_sides(alpha):
    """(n, S, S, 1) -> the object box's width and height as fractions of the image."""
    on = alpha[..., 0] > 0.5
    cols, rows = on.any(1), on.any(2)
    span = [(x.shape[1] - np.argmax(x[:, ::-1], 1) - np.argmax(x, 1)) / x.shape[1] for x in (cols, rows)]
    return np.where(on.any((1, 2)), span[0], np.nan), np.where(on.any((1, 2)), span[1], np.nan)


def test_object_crop_frames_the_object_as_photos_do_and_keeps_o_m_alpha_aligned(smoke_render):
    cfg, _ = smoke_render
    b = take(make_dataset(cfg.out, "train", image_size=64, batch_size=16, background=False, seed=2))
    o, m, alpha = (tf.constant(b[k]) for k in ("image", "mask", "alpha"))
    framed = AugmentConfig(**OFF, object_crop=1.0, object_fill=[0.9, 0.9], object_aspect=10.0,
                           rotation_deg=0.0, flip=False)
    o2, m2, a2 = (x.numpy() for x in augment(o, m, alpha, tf.constant([1, 2], tf.int64), framed))
    w0, h0 = _box_sides(b["alpha"])
    w1, h1 = _box_sides(a2)
    before, after = np.nanmedian(np.maximum(w0, h0)), np.nanmedian(np.maximum(w1, h1))
    assert before < 0.85 and after > 0.85        # the object fills the frame now
    # each side fills 0.9 of the crop unless the crop reached the render's border (side 1)
    grown = (w1 >= np.minimum(0.9 * np.ones_like(w0), w0) - 0.05)
    assert grown[~np.isnan(w0)].all()
    inside = a2[..., 0] > 0.99
    assert ((o2.max(-1) > 0)[inside]).mean() > 0.97            # O's object is where alpha is
    assert (m2.max(-1)[a2[..., 0] < 0.01] < 0.02).all()          # and M nowhere else


def test_object_crop_leaves_the_other_images_draws_alone(smoke_render):
    cfg, _ = smoke_render
    b = take(make_dataset(cfg.out, "train", image_size=32, batch_size=16, background=False, seed=4))
    o, m, alpha = (tf.constant(b[k]) for k in ("image", "mask", "alpha"))
    seed = tf.constant([7, 8], tf.int64)
    plain = augment(o, m, alpha, seed, AugmentConfig(**OFF))[2].numpy()
    half = augment(o, m, alpha, seed, AugmentConfig(**OFF, object_crop=0.5))[2].numpy()
    same = [np.array_equal(plain[i], half[i]) for i in range(len(plain))]
    assert 0 < sum(same) < len(same)
    with pytest.raises(ConfigError, match="object_fill"):
        AugmentConfig(object_fill=[0.8, 1.2]).validate("train.augment")


def test_plain_background_flattens_only_what_alpha_leaves(smoke_render):
    cfg, _ = smoke_render
    b = take(make_dataset(cfg.out, "train", image_size=32, batch_size=16, seed=4))
    o, m, alpha = (tf.constant(b[k]) for k in ("image", "mask", "alpha"))
    flat = AugmentConfig(**OFF, plain_background=1.0, crop_area=[1.0, 1.0], crop_aspect=[1.0, 1.0],
                         rotation_deg=0.0, flip=False)
    o2, m2, a2 = (x.numpy() for x in augment(o, m, alpha, tf.constant([3, 3], tf.int64), flat))
    a = b["alpha"][..., 0]
    np.testing.assert_allclose(o2[a > 0.999], b["image"][a > 0.999], atol=1e-5)   # the object stays
    np.testing.assert_allclose(m2, b["mask"], atol=1e-5)                               # M is a target
    for i in range(len(a)):
        bg = o2[i][a[i] == 0]
        assert bg.std(0).max() < 1e-4          # one colour behind the object
    # without a background (the paper's black-backdrop stage) nothing is painted in
    o3 = augment(o, m, alpha, tf.constant([3, 3], tf.int64), flat, background=False)[0].numpy()
    np.testing.assert_allclose(o3, b["image"], atol=1e-5)
