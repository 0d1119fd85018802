"""Procedural textures and colours.

Every category draws its materials through `palette`, in the same order and from the
same distributions, so colour and texture say nothing about the category: a
recogniser trained on these models has to learn shape.
"""
from __future__ import annotations

import dataclasses

import numpy as np

SIZE = 128


@dataclasses.dataclass(frozen=True)
class Material:
    texture: np.ndarray | None          # (H, W, 3) uint8, or None for a plain colour
    color: tuple[float, float, float, float]


@dataclasses.dataclass(frozen=True)
class Palette:
    primary: Material     # main body / upholstery / hull ...
    secondary: Material   # frame, legs, label, trim ...
    accent: Material      # small parts: caps, seats, buttons
    rubber: Material      # tyres, feet
    glass: Material       # windows, screens (dark, a little glossy-looking)
    metal: Material       # rims, poles, rails
    light: Material       # lamps
    signal: Material      # tail lights, indicators


def hsv(h, s, v):
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]


def random_color(rng) -> np.ndarray:
    if rng.random() < 0.25:   # greys, whites and blacks are common on real objects
        g = rng.uniform(0.06, 0.95)
        return np.clip(g + rng.normal(0, 0.02, 3), 0, 1)
    return np.array(hsv(rng.random(), rng.uniform(0.2, 0.95), rng.uniform(0.2, 0.95)))


def _coords(size=SIZE):
    y, x = np.mgrid[0:size, 0:size] / size
    return x, y


def value_noise(rng, cells, size=SIZE):
    g = rng.random((cells + 1, cells + 1))
    x = np.linspace(0, cells, size, endpoint=False)
    i = x.astype(int)
    t = x - i
    t = t * t * (3 - 2 * t)
    a, b = g[i][:, i], g[i][:, i + 1]
    c, d = g[i + 1][:, i], g[i + 1][:, i + 1]
    tx, ty = t[None, :], t[:, None]
    return (a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + d * tx) * ty


def fbm(rng, base=4, octaves=4, size=SIZE):
    out, amp, tot = np.zeros((size, size)), 1.0, 0.0
    for o in range(octaves):
        out += amp * value_noise(rng, base * 2 ** o, size)
        tot += amp
        amp *= 0.5
    return out / tot


def _mix(c1, c2, t):
    return c1[None, None, :] * (1 - t[..., None]) + c2[None, None, :] * t[..., None]


def _paint(rng, c1, c2):
    x, y = _coords()
    img = _mix(c1, c1 * 0.8, fbm(rng, 3, 3))
    for _ in range(rng.integers(3, 12)):   # scratches: short bright segments
        p, d = rng.random(2), rng.normal(0, 0.15, 2)
        q = p + d
        e = q - p
        s = np.clip(((x - p[0]) * e[0] + (y - p[1]) * e[1]) / max(e @ e, 1e-9), 0, 1)
        dist = np.hypot(x - p[0] - s * e[0], y - p[1] - s * e[1])
        img = np.where((dist < 0.004)[..., None], np.minimum(img * 1.5 + 0.15, 1), img)
    return img


def _stripes(rng, c1, c2):
    x, y = _coords()
    a = rng.uniform(0, np.pi)
    u = x * np.cos(a) + y * np.sin(a)
    band = (u * rng.integers(2, 12) % 1.0) < rng.uniform(0.2, 0.8)
    return _mix(c1, c2, band.astype(float)) * (0.85 + 0.15 * fbm(rng, 4, 2))[..., None]


def _checker(rng, c1, c2):
    x, y = _coords()
    k = rng.integers(2, 10)
    t = ((np.floor(x * k) + np.floor(y * k)) % 2).astype(float)
    return _mix(c1, c2, t) * (0.9 + 0.1 * fbm(rng, 8, 2))[..., None]


def _wood(rng, c1, c2):
    x, y = _coords()
    cx, cy = rng.uniform(-1, 2, 2)
    r = np.hypot((x - cx) * rng.uniform(0.05, 0.3), y - cy) * rng.uniform(6, 20) + 3 * fbm(rng, 4, 3)
    t = 0.5 + 0.5 * np.sin(r * 2 * np.pi) ** 3
    return _mix(c1, c1 * 0.55 + c2 * 0.1, t)


def _fabric(rng, c1, c2):
    x, y = _coords()
    k = rng.integers(16, 48)
    w = (np.sin(2 * np.pi * k * x) * np.sin(2 * np.pi * k * y) > 0).astype(float)
    t = 0.25 * w + 0.5 * fbm(rng, 6, 3)
    if rng.random() < 0.4:   # plaid
        t += 0.5 * ((x * rng.integers(2, 6) % 1) < 0.2) + 0.5 * ((y * rng.integers(2, 6) % 1) < 0.2)
    return _mix(c1, c2, np.clip(t, 0, 1))


def _spots(rng, c1, c2):
    n = fbm(rng, rng.integers(2, 6), 4)
    t = (n > np.quantile(n, rng.uniform(0.3, 0.7))).astype(float)
    return _mix(c1, c2, t)


def _marble(rng, c1, c2):
    x, y = _coords()
    t = 0.5 + 0.5 * np.sin((x + y * rng.uniform(-1, 1)) * rng.uniform(4, 15) + 8 * fbm(rng, 3, 4))
    return _mix(c1, c2, t ** 3)


def _noise(rng, c1, c2):
    return _mix(c1, c2, fbm(rng, rng.integers(2, 16), 4))


def _two_tone(rng, c1, c2):
    _, y = _coords()
    t = (y > rng.uniform(0.3, 0.7)).astype(float)
    return _mix(c1, c2, t) * (0.9 + 0.1 * fbm(rng, 4, 3))[..., None]


KINDS = (_paint, _stripes, _checker, _wood, _fabric, _spots, _marble, _noise, _two_tone)


def random_texture(rng) -> np.ndarray:
    c1, c2 = random_color(rng), random_color(rng)
    kind = KINDS[rng.integers(len(KINDS))]
    img = kind(rng, c1, c2)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def _plain(c) -> Material:
    return Material(None, (float(c[0]), float(c[1]), float(c[2]), 1.0))


def palette(rng) -> Palette:
    """The materials of one model; the same draws for every category."""
    rubber = rng.uniform(0.03, 0.12)
    g = rng.uniform(0.03, 0.2)
    metal = rng.uniform(0.45, 0.85)
    return Palette(
        primary=Material(random_texture(rng), (1.0, 1.0, 1.0, 1.0)),
        secondary=Material(random_texture(rng), (1.0, 1.0, 1.0, 1.0)),
        accent=_plain(random_color(rng)),
        rubber=_plain((rubber, rubber, rubber)),
        glass=_plain(np.clip(g + rng.normal(0, 0.03, 3), 0, 1)),
        metal=_plain(np.clip(metal + rng.normal(0, 0.03, 3), 0, 1)),
        light=_plain(np.clip(rng.uniform(0.8, 1.0) - rng.uniform(0, 0.15, 3), 0, 1)),
        signal=_plain(hsv(rng.uniform(-0.03, 0.1) % 1, rng.uniform(0.7, 1), rng.uniform(0.6, 0.95))),
    )
