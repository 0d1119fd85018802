"""Pixel facts of real renders (llvmpipe through EGL), read back from the shards."""
import numpy as np
import pytest

from tfrecords_tools import schema
from tfrecords_tools.categories import PALETTE
from tfrecords_tools.stats import decode_png, iter_examples


@pytest.fixture(scope="module")
def examples(smoke_render):
    cfg, _ = smoke_render
    return list(iter_examples(cfg.out))


def test_every_category_rendered_with_object_pixels(examples):
    assert {e["label"] for e in examples} == set(range(12))
    for e in examples:
        alpha = decode_png(e["alpha/encoded"])
        assert alpha.shape == (64, 64) and set(np.unique(alpha)) <= {0, 255}
        assert 0.003 < (alpha > 0).mean() < 0.9, (e["category"], e["model_id"])


def test_mask_is_palette_colour_times_one_shading_factor(examples):
    for e in examples:
        mask = decode_png(e["mask/encoded"]).astype(np.float64)
        obj = decode_png(e["alpha/encoded"]) > 0
        palette = np.array(PALETTE[e["label"]])
        strongest = int(np.argmax(palette))
        s = mask[obj][:, strongest] / (255 * palette[strongest])   # the shading factor per pixel
        assert (s > 0.2).all() and (s <= 1.0 + 1e-9).all()
        expected = s[:, None] * palette[None] * 255
        assert np.abs(mask[obj] - expected).max() <= 1.01  # PNG quantisation only: no tint, no gamma
        assert (mask[~obj] == 0).all()


def test_alpha_equals_mask_non_black_and_depth_finite_exactly_there(examples):
    for e in examples:
        alpha = decode_png(e["alpha/encoded"]) > 0
        assert (alpha == (decode_png(e["mask/encoded"]).max(axis=2) > 0)).all()
        depth16 = decode_png(e["depth/encoded"])
        assert depth16.dtype == np.uint16
        assert (alpha == (depth16 > 0)).all()
        depth = depth16[alpha] / schema.DEPTH_SCALE
        # the object is inside the unit sphere around the focal point's neighbourhood
        lo = e["pose/distance"] - 1.0 - 0.25
        assert depth.min() >= lo - 1e-3 and depth.max() <= e["pose/distance"] + 1.0 + 0.25


def test_background_shows_where_no_object_and_object_where_alpha(examples, tmp_path):
    with_bg = [e for e in examples if e["background/id"] != b"none"]
    assert with_bg
    for e in with_bg:
        image = decode_png(e["image/encoded"]).astype(int)
        alpha = decode_png(e["alpha/encoded"]) > 0
        assert image[~alpha].std() > 1.0   # a photo/texture, not black
    # the same views rendered without background: identical object pixels, black elsewhere
    from conftest import smoke_config
    from tfrecords_tools.runners import render
    black = smoke_config(backgrounds="none", out=str(tmp_path / "black"))
    render(black, show_progress=False)
    by_seed = {e["seed"]: e for e in examples}
    for bare in list(iter_examples(black.out))[:12]:
        withbg = by_seed[bare["seed"]]
        a = decode_png(bare["alpha/encoded"]) > 0
        img_none, img_bg = decode_png(bare["image/encoded"]), decode_png(withbg["image/encoded"])
        assert (a == (decode_png(withbg["alpha/encoded"]) > 0)).all()
        assert (img_none[a] == img_bg[a]).all()
        assert (img_none[~a] == 0).all() and (img_bg[~a] != 0).any()
        assert img_none[a].std() > 2.0  # lit and textured, not a flat fill


def test_camera_poses_respect_the_z_cut(examples):
    for e in examples:
        lo, hi = (-0.8, 0.3) if e["category"] == b"aeroplane" else (-0.3, 0.6)
        z = np.sin(np.radians(e["pose/elevation"]))
        assert lo - 1e-6 <= z < hi
        assert 2.2 <= e["pose/distance"] <= 3.0
        assert e["camera/mode"] == b"center"
