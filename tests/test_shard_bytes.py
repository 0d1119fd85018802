"""The bytes a render writes after the GL pass are pinned: background crops (PIL BOX and
BILINEAR resizes), compositing, the four PNG encodes (Up filter, libdeflate level 1).
Shards are promised byte-identical for a config and seed, so a faster encoder, resize or
compositing must reproduce these digests; a dependency upgrade that changes them shows here
first. (The rasterised pixels themselves depend on Mesa's version and are held by the
same-seed tests of test_render_pipeline.py instead.)"""
from __future__ import annotations

import hashlib

import numpy as np

from tfrecords_tools.compose import BackgroundPool, composite
from tfrecords_tools.png import encode_png

PINNED = "a91a6c6e938316d8cc464459e813697862a3dd42c7babbaa6778e78af656c5f5"


def _view_bytes() -> bytes:
    rng = np.random.default_rng(7)
    out = []
    pool = BackgroundPool("default")
    for seed, size in ((3, 64), (4, 200), (5, 128)):  # 200 px from 256-px tiles: BILINEAR too
        rgb = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        alpha = np.where(rng.random((size, size)) < 0.4, 255, 0).astype(np.uint8)
        depth = rng.integers(1, 65536, (size, size), dtype=np.uint16)
        _, bg = pool.sample(np.random.default_rng(seed), size)
        for arr in (composite(rgb, alpha, bg), rgb, depth, alpha):
            out.append(encode_png(arr, 1))
    return b"".join(out)


def test_the_bytes_after_the_gl_pass_are_the_pinned_ones():
    assert hashlib.sha256(_view_bytes()).hexdigest() == PINNED


def test_composite_is_the_select_it_stands_for():
    """Object where drawn (alpha > 0) or covered by an occluder, background elsewhere: the
    bitwise select against np.where, with flipped (non-contiguous) backgrounds too."""
    rng = np.random.default_rng(1)
    for _ in range(20):
        rgb = rng.integers(0, 256, (33, 47, 3), dtype=np.uint8)
        alpha = rng.choice(np.array([0, 255], np.uint8), (33, 47))
        bg = rng.integers(0, 256, (33, 47, 3), dtype=np.uint8)[:, ::-1] if rng.random() < 0.5 else \
            rng.integers(0, 256, (33, 47, 3), dtype=np.uint8)
        cover = None if rng.random() < 0.5 else rng.random((33, 47)) < 0.2
        front = alpha > 0 if cover is None else (alpha > 0) | cover
        want = np.where(front[..., None], rgb, bg)
        got = composite(rgb, alpha, bg, cover)
        assert got.dtype == np.uint8 and np.array_equal(got, want)
    assert composite(rgb, alpha, None) is rgb  # no background: black already
