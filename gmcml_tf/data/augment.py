"""Training-time augmentation of rendered batches, for the transfer to real photos.

Renders are tight, centred, sharp, noise-free crops with a hard object edge; photos are
none of these. Two groups, both batched (one op per batch) and stateless (a seed per
batch, so a run is reproducible):

- geometric: one random similarity per image (scale from the crop area and aspect, or
  on a share of the images from the object's box, as a photo frames it; translation,
  small rotation, horizontal flip) applied to O, M and alpha alike, so
  the reconstruction target stays aligned with the input. O is filled by reflection
  where the view leaves the render (the background continues); M and alpha by 0
  (nothing is there).
- plain backdrops: on a share of the images the background becomes one flat colour;
- soft object edges on O (the composite's hard edge is a cue no photo has);
- photometric, on O only (M is a regression target and keeps its colours): brightness,
  contrast, saturation, hue, grayscale, Gaussian blur, sensor noise, JPEG re-encoding,
  random erasing.
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from gmcml_tf.training.train_config import AugmentConfig


def _uniform(seed, n, lo, hi):
    return tf.random.stateless_uniform([n], seed=seed, minval=lo, maxval=hi)


def _chance(seed, n, p):
    return tf.random.stateless_uniform([n], seed=seed) < p


def _box(alpha):
    """alpha (n, S, S, 1) -> the object's box (x0, x1, y0, y1) in image fractions, and
    whether there is an object at all."""
    size = tf.cast(tf.shape(alpha)[1], tf.float32)
    cols = tf.reduce_max(alpha, axis=[1, 3]) > 0.5   # (n, S)
    rows = tf.reduce_max(alpha, axis=[2, 3]) > 0.5

    def span(on):
        lo = tf.cast(tf.argmax(tf.cast(on, tf.int32), axis=1), tf.float32)
        hi = size - tf.cast(tf.argmax(tf.cast(tf.reverse(on, [1]), tf.int32), axis=1), tf.float32)
        return lo / size, hi / size
    (x0, x1), (y0, y1) = span(cols), span(rows)
    return x0, x1, y0, y1, tf.reduce_any(cols, axis=1)


def _object_crop(seed, alpha, cfg: AugmentConfig):
    """Crop sides and centres that frame the object as a photo does: its box fills
    `object_fill` of each crop side (the crop stretched to the square, as `stretch` fits a
    photo), the crop's width/height within [1/object_aspect, object_aspect], the box kept
    inside it at a random place. Photos of a category are framed around the object; a
    render shows it at ~0.6 of the frame (median box side of the shared library's views)."""
    s = tf.random.experimental.stateless_split(seed, 3)
    n = tf.shape(alpha)[0]
    x0, x1, y0, y1, found = _box(alpha)
    fill = _uniform(s[0], n, *cfg.object_fill)
    bw, bh = x1 - x0, y1 - y0
    w, h = bw / fill, bh / fill
    w = tf.maximum(w, h / cfg.object_aspect)
    h = tf.maximum(h, w / cfg.object_aspect)
    w, h = tf.minimum(w, 1.0), tf.minimum(h, 1.0)
    cx = x0 + bw / 2 + (w - bw) * (_uniform(s[1], n, 0.0, 1.0) - 0.5)
    cy = y0 + bh / 2 + (h - bh) * (_uniform(s[2], n, 0.0, 1.0) - 0.5)
    cx = tf.clip_by_value(cx, w / 2, 1.0 - w / 2)   # the crop stays inside the render
    cy = tf.clip_by_value(cy, h / 2, 1.0 - h / 2)
    return w, h, cx, cy, found


def _transforms(seed, n, size: int, cfg: AugmentConfig, alpha=None) -> tf.Tensor:
    """(n, 8) projective transforms (output pixel -> input pixel) of random similarities;
    with `alpha` and `object_crop` > 0, that share of them framed around the object."""
    s = tf.random.experimental.stateless_split(seed, 6)
    area = _uniform(s[0], n, *cfg.crop_area)
    log_aspect = _uniform(s[1], n, math.log(cfg.crop_aspect[0]), math.log(cfg.crop_aspect[1]))
    aspect = tf.exp(log_aspect)
    w = tf.minimum(tf.sqrt(area * aspect), 1.0)   # crop side / image side
    h = tf.minimum(tf.sqrt(area / aspect), 1.0)
    cx = 0.5 + (1.0 - w) * (_uniform(s[2], n, 0.0, 1.0) - 0.5)  # the crop stays inside
    cy = 0.5 + (1.0 - h) * (_uniform(s[3], n, 0.0, 1.0) - 0.5)
    if alpha is not None and cfg.object_crop > 0:
        # seeds of their own, so the other images' transforms do not change with the option
        o_seed = tf.random.experimental.stateless_split(tf.random.experimental.stateless_fold_in(seed, 1), 2)
        ow, oh, ocx, ocy, found = _object_crop(o_seed[0], alpha, cfg)
        use = _chance(o_seed[1], n, cfg.object_crop) & found
        w, h, cx, cy = (tf.where(use, a, b) for a, b in ((ow, w), (oh, h), (ocx, cx), (ocy, cy)))
    theta = _uniform(s[4], n, -1.0, 1.0) * (cfg.rotation_deg * math.pi / 180.0)
    flip = tf.where(_chance(s[5], n, 0.5 if cfg.flip else 0.0), -1.0, 1.0)
    cos, sin = tf.cos(theta), tf.sin(theta)
    # in = centre + scale * R(theta) * diag(flip, 1) * (out - S/2), on pixel centres (+0.5)
    a0, a1 = w * cos * flip, -w * sin
    b0, b1 = h * sin * flip, h * cos
    half = size / 2.0
    a2 = cx * size - 0.5 - (a0 + a1) * (half - 0.5)
    b2 = cy * size - 0.5 - (b0 + b1) * (half - 0.5)
    zero = tf.zeros_like(a0)
    return tf.stack([a0, a1, a2, b0, b1, b2, zero, zero], axis=1)


def _warp(images, transforms, fill_mode: str):
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=tf.shape(images)[1:3],
        fill_value=0.0, interpolation="BILINEAR", fill_mode=fill_mode)


# numpy, not tf.constant: a tensor made at import time would start TensorFlow's runtime
# before a MultiWorkerMirroredStrategy can configure its collectives (train_config imports us).
_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], np.float32)
_RGB = np.linalg.inv(_YIQ).astype(np.float32)


def _hue_rotation(angle):
    """(n, 3, 3) RGB -> RGB matrices rotating the chroma plane of YIQ by `angle`."""
    c, s = tf.cos(angle), tf.sin(angle)
    one, zero = tf.ones_like(c), tf.zeros_like(c)
    rot = tf.reshape(tf.stack([one, zero, zero, zero, c, -s, zero, s, c], axis=1), [-1, 3, 3])
    return tf.einsum("ij,njk,kl->nil", _RGB, rot, _YIQ)


def _gaussian_blur(images, sigma: float = 1.0):
    radius = 2
    x = tf.range(-radius, radius + 1, dtype=tf.float32)
    k = tf.exp(-0.5 * (x / sigma) ** 2)
    k = k / tf.reduce_sum(k)
    kx = tf.tile(tf.reshape(k, [1, -1, 1, 1]), [1, 1, 3, 1])
    ky = tf.tile(tf.reshape(k, [-1, 1, 1, 1]), [1, 1, 3, 1])
    padded = tf.pad(images, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="SYMMETRIC")
    out = tf.nn.depthwise_conv2d(padded, kx, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(out, ky, [1, 1, 1, 1], "VALID")


def _jpeg(images, quality):
    """Per-image JPEG re-encoding; quality 100 means "leave as is"."""
    def one(args):
        img, q = args
        return tf.cond(q < 100, lambda: tf.image.adjust_jpeg_quality(img, q), lambda: img)
    return tf.map_fn(one, (images, quality), fn_output_signature=tf.float32)


def photometric(o, seed, cfg: AugmentConfig):
    """O (n, S, S, 3) in [0, 1] -> the same with random colour, blur, noise, JPEG, erasing."""
    n = tf.shape(o)[0]
    s = tf.random.experimental.stateless_split(seed, 16)
    col = lambda v: tf.reshape(v, [-1, 1, 1, 1])  # noqa: E731
    o = o + col(_uniform(s[0], n, -cfg.brightness, cfg.brightness))
    mean = tf.reduce_mean(o, axis=[1, 2, 3], keepdims=True)
    o = mean + (o - mean) * col(_uniform(s[1], n, *cfg.contrast))
    gray = tf.reduce_sum(o * [0.299, 0.587, 0.114], axis=-1, keepdims=True)
    o = gray + (o - gray) * col(_uniform(s[2], n, *cfg.saturation))
    if cfg.hue > 0:
        o = tf.einsum("nij,nhwj->nhwi", _hue_rotation(_uniform(s[3], n, -cfg.hue, cfg.hue) * 2 * math.pi), o)
    gray = tf.reduce_sum(o * [0.299, 0.587, 0.114], axis=-1, keepdims=True)
    o = tf.where(col(_chance(s[4], n, cfg.grayscale)), tf.tile(gray, [1, 1, 1, 3]), o)
    o = tf.clip_by_value(o, 0.0, 1.0)
    if cfg.blur > 0:  # a mix of sharp and sigma-1.5 blur: any strength in between
        t = tf.where(_chance(s[5], n, cfg.blur), _uniform(s[6], n, 0.3, 1.0), 0.0)
        o = o + col(t) * (_gaussian_blur(o, 1.5) - o)
    if cfg.noise > 0:
        std = tf.where(_chance(s[7], n, cfg.noise), _uniform(s[8], n, 0.0, cfg.noise_std), 0.0)
        o = o + col(std) * tf.random.stateless_normal(tf.shape(o), seed=s[9])
        o = tf.clip_by_value(o, 0.0, 1.0)
    if cfg.jpeg > 0:
        q = tf.where(_chance(s[10], n, cfg.jpeg),
                     tf.cast(_uniform(s[11], n, 30.0, 96.0), tf.int32), 100)
        o = _jpeg(o, q)
    if cfg.erase > 0:
        size = tf.cast(tf.shape(o)[1], tf.float32)
        area = _uniform(s[12], n, 0.02, 0.15)
        side = tf.sqrt(area) * size
        corner = tf.random.stateless_uniform([n, 2], seed=s[13]) * (size - side[:, None])
        grid = tf.range(size)
        inside_y = (grid[None] >= corner[:, :1]) & (grid[None] < corner[:, :1] + side[:, None])
        inside_x = (grid[None] >= corner[:, 1:]) & (grid[None] < corner[:, 1:] + side[:, None])
        box = inside_y[:, :, None] & inside_x[:, None, :] & col(_chance(s[14], n, cfg.erase))[..., 0]
        fill = tf.random.stateless_uniform(tf.shape(o), seed=s[15])
        o = tf.where(box[..., None], fill, o)
    return tf.clip_by_value(o, 0.0, 1.0)


def soften_edges(o, alpha, seed, p: float):
    """The renders are not anti-aliased: every composite has a hard binary object edge
    that no photo has (Dwibedi et al. 2017, "Cut, Paste and Learn"). On a share `p` of
    the images, O is replaced near the edge by a blurred O, the band and the blur of a
    random width (a feathered composite); alpha and M stay exact."""
    n = tf.shape(o)[0]
    s = tf.random.experimental.stateless_split(seed, 2)
    a = tf.tile(alpha, [1, 1, 1, 3])
    band = tf.clip_by_value(3.0 * tf.abs(_gaussian_blur(a, 1.0) - a), 0.0, 1.0)
    strength = tf.where(_chance(s[0], n, p), _uniform(s[1], n, 0.5, 1.0), 0.0)
    return o + tf.reshape(strength, [-1, 1, 1, 1]) * band * (_gaussian_blur(o, 1.0) - o)


def plain_background(o, alpha, seed, p: float):
    """On a share `p` of the images, the background behind the object (1 - alpha) becomes
    one flat colour: white-ish on half of them, any colour on the rest. Catalogue-style
    photos show the object on a plain backdrop (three quarters of real_dev's motorbikes,
    measured on their borders); the renders never do. The same for every class, so the
    backdrop carries no label."""
    n = tf.shape(o)[0]
    s = tf.random.experimental.stateless_split(seed, 4)
    white = tf.tile(_uniform(s[0], n, 0.85, 1.0)[:, None], [1, 3])
    any_colour = tf.random.stateless_uniform([n, 3], seed=s[1])
    colour = tf.where(_chance(s[2], n, 0.5)[:, None], white, any_colour)
    use = tf.cast(_chance(s[3], n, p), o.dtype)
    flat = tf.reshape(colour, [-1, 1, 1, 3])
    keep = 1.0 - tf.reshape(use, [-1, 1, 1, 1]) * (1.0 - alpha)
    return o * keep + flat * (1.0 - keep)


def augment(o, m, alpha, seed, cfg: AugmentConfig, background: bool = True):
    """Geometric (O, M, alpha alike), plain backdrops (when O has a background), soft
    edges, then photometric (O only) augmentation."""
    s = tf.random.experimental.stateless_split(seed, 3)
    n = tf.shape(o)[0]
    t = _transforms(s[0], n, int(o.shape[1]), cfg, alpha)
    o = _warp(o, t, "REFLECT")
    targets = _warp(tf.concat([m, alpha], axis=-1), t, "CONSTANT")
    m, alpha = targets[..., :3], targets[..., 3:]
    if background and cfg.plain_background > 0:
        o = plain_background(o, alpha, tf.random.experimental.stateless_fold_in(seed, 2), cfg.plain_background)
    if cfg.edge_blur > 0:
        o = soften_edges(o, alpha, s[2], cfg.edge_blur)
    return photometric(o, s[1], cfg), m, alpha


def photo_augment(o, seed, cfg: AugmentConfig):
    """The strong view of an unlabelled photo for self-training (gmcml_tf.adaptation): the
    renders' crop, rotation and flip (filled by reflection), then the photometric group."""
    s = tf.random.experimental.stateless_split(seed, 2)
    o = _warp(o, _transforms(s[0], tf.shape(o)[0], int(o.shape[1]), cfg), "REFLECT")
    return photometric(o, s[1], cfg)
