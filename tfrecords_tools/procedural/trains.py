"""Trains: a lead unit (multiple-unit cab, streamlined nose, diesel or steam locomotive)
plus carriages, standing on a short stretch of track. Front is +X, metres."""
from __future__ import annotations

import math

import numpy as np

from . import parts as P
from .vehicles import side_panel

RAIL = 0.6          # top of rail above ground
HALF_GAUGE = 0.72


def _track(m, x0, x1, rng):
    ring = np.array([[0, 1.9, 0.0], [0, 1.45, 0.3], [0, -1.45, 0.3], [0, -1.9, 0.0]])[::-1]
    m.add("secondary", P.loft([ring + (x0, 0, 0), ring + (x1, 0, 0)], flat=True))
    gap = rng.uniform(0.6, 0.75)
    for x in np.arange(x0 + 0.3, x1 - 0.2, gap):
        m.add("secondary", P.box((0.26, 2.6, 0.16), (x, 0, 0.38)))
    for sy in (-1, 1):
        m.add("metal", P.box((x1 - x0, 0.08, 0.14), ((x0 + x1) / 2, sy * HALF_GAUGE, RAIL - 0.07)))


def _bogie(m, x, r=0.45):
    m.add("rubber", P.box((2.6, 2.0, 0.45), (x, 0, RAIL + r + 0.1)))
    for dx in (-0.9, 0.9):
        for sy in (-1, 1):
            m.add("metal", P.cylinder(r, 0.14, (x + dx, sy * HALF_GAUGE, RAIL + r), (0, 1, 0), 14))


def _body(m, rng, x0, x1, hw, zb, zt, rt, nose, win_rows=True):
    """A carriage shell; `nose` in (None, 'flat', 'bullet') shapes its +X end."""
    base = P.rrect(hw, zb, zt, 0.15, rt, 4)
    at = lambda x, k=1.0, ztop=None: np.c_[np.full(len(base), x), base[:, 1] * k,
                                             zb + (base[:, 2] - zb) * ((ztop or zt) - zb) / (zt - zb)]
    rings = [at(x0, 0.97), at(x0 + 0.1)]
    inside = np.array([(x0 + x1) / 2, 0, (zb + zt) / 2])
    if nose == "bullet":
        ln = rng.uniform(4.0, 8.0)
        tip = zb + rng.uniform(0.4, 0.9)
        ts = np.linspace(0, 1, 9)
        nose_rings = []
        for t in ts:
            k = max(math.sqrt(max(1 - t ** 2.2, 0.0)), 0.08)
            ztop = tip + (zt - tip) * (1 - t ** 1.6)
            r = at(x1 - ln + t * ln, k, ztop)
            r[:, 2] = zb + (r[:, 2] - zb) * (1 - 0.3 * t ** 3)
            nose_rings.append(r)
        rings += nose_rings
        g = np.array(nose_rings)   # windscreen follows the curved nose
        m.add("glass", P.patch(g[4:7, 5:12], 0.01, inside))
        m.add("light", P.patch(g[6:8, 1:3], 0.01, inside), P.patch(g[6:8, 13:15], 0.01, inside))
    else:
        rake = rng.uniform(0.0, 0.8) if nose == "flat" else 0.0
        rings += [at(x1 - 0.4)]
        front = at(x1, 0.96)
        front[:, 0] -= rake * (front[:, 2] - zb) / (zt - zb)
        rings.append(front)
        if nose == "flat":
            xz = lambda z: x1 - rake * (z - zb) / (zt - zb)
            za, zc = zb + 0.5 * (zt - zb), zt - 0.3
            out = (1.0, 0.0, rake / (zt - zb))
            m.add("glass", P.decal([[xz(za), -hw * 0.8, za], [xz(za), hw * 0.8, za],
                                    [xz(zc), hw * 0.8, zc], [xz(zc), -hw * 0.8, zc]], out, 0.01))
            for sy in (-1, 1):
                z = zb + 0.25
                m.add("light", P.decal([[xz(z), sy * 0.9, z], [xz(z), sy * 0.5, z],
                                        [xz(z + 0.2), sy * 0.5, z + 0.2], [xz(z + 0.2), sy * 0.9, z + 0.2]], out, 0.01))
    m.add("primary", P.loft(rings))
    if win_rows:   # passenger windows and doors along both sides
        n = int((x1 - x0 - 5) / rng.uniform(1.4, 2.2))
        edges = np.linspace(x0 + 2.2, x1 - (6.0 if nose == "bullet" else 2.2), n + 1)
        zl, zh = zb + 0.45 * (zt - zb), zb + 0.78 * (zt - zb)
        for sy in (-1, 1):
            y = sy * hw
            for a, b in zip(edges[:-1], edges[1:]):
                m.add("glass", side_panel(y, a + 0.15, b - 0.15, zl, zh, 0.01))
            for d in (x0 + 1.0, x1 - (5.0 if nose == "bullet" else 1.0)):
                m.add("glass", side_panel(y, d - 0.5, d + 0.5, zb + 0.1, zh, 0.01))
    ln = x1 - x0
    for x in (x0 + 0.18 * ln, x1 - 0.18 * ln):
        _bogie(m, x)
    m.add("rubber", P.box((ln * 0.4, hw * 1.6, 0.4), ((x0 + x1) / 2, 0, zb - 0.15)))


def _steam(m, rng, x1):
    """Steam locomotive with tender, front at x1; returns the tender's rear x."""
    lb, rb = rng.uniform(6.0, 8.0), rng.uniform(0.75, 0.9)
    zc = RAIL + 1.1 + rb
    xb0 = x1 - 0.8 - lb
    m.add("primary", P.box((lb + 4.5, 2.7, 0.15), (x1 - (lb + 4.5) / 2, 0, RAIL + 1.0)))
    m.add("primary", P.tube((xb0, 0, zc), (x1 - 0.8, 0, zc), rb, seg=20))
    m.add("rubber", P.tube((x1 - 1.4, 0, zc), (x1 - 0.55, 0, zc), rb * 1.05, seg=20))
    m.add("rubber", P.lathe([0.25, 0.25, 0.35, 0.35], [0, 0.9, 1.2, 1.35], 14).moved((x1 - 1.1, 0, zc + rb * 0.7)))
    m.add("metal", P.sphere(0.45, (x1 - 0.8 - lb * 0.45, 0, zc + rb * 0.9), 14, 7))
    cab0 = xb0 - 3.0
    cz0, cz1 = RAIL + 1.05, zc + rb + 0.9
    m.add("primary", P.box((3.0, 2.9, cz1 - cz0), (cab0 + 1.5, 0, (cz0 + cz1) / 2)),
          P.box((3.4, 3.1, 0.12), (cab0 + 1.5, 0, cz1 + 0.06)))
    for sy in (-1, 1):
        m.add("glass", side_panel(sy * 1.45, cab0 + 0.6, cab0 + 2.3, cz1 - 1.4, cz1 - 0.4, 0.01))
    rw = rng.uniform(0.7, 0.85)
    xs = [x1 - 2.6 - i * (2 * rw + 0.25) for i in range(3)]
    for sy in (-1, 1):
        y = sy * HALF_GAUGE
        for x in xs:
            m.add("secondary", P.cylinder(rw, 0.14, (x, y, RAIL + rw), (0, 1, 0), 20))
        rod = ((xs[0] + xs[-1]) / 2, sy * (HALF_GAUGE + 0.12), RAIL + rw * 0.8)   # coupling rod
        m.add("metal", P.box((xs[0] - xs[-1] + 0.3, 0.06, 0.12), rod))
        m.add("secondary", P.cylinder(0.4, 0.12, (x1 - 1.0, y, RAIL + 0.4), (0, 1, 0), 14))
        m.add("metal", P.cylinder(0.18, 0.5, (x1 - 0.05, sy * 0.9, RAIL + 0.95), (1, 0, 0), 10))
    z0, z1 = RAIL + 0.1, RAIL + 0.85    # cowcatcher: a wedge ahead of the front wheels
    m.add("rubber", P.hexa([[x1 - 0.3, -1.3, z0], [x1 + 0.6, -0.2, z0], [x1 + 0.6, 0.2, z0], [x1 - 0.3, 1.3, z0],
                            [x1 - 0.3, -1.3, z1], [x1, -0.2, z1], [x1, 0.2, z1], [x1 - 0.3, 1.3, z1]]))
    lt = rng.uniform(5.0, 7.0)
    t1 = cab0 - 0.5
    m.add("secondary", P.box((lt, 2.8, 2.3), (t1 - lt / 2, 0, RAIL + 2.1)))
    m.add("rubber", P.superquadric((lt * 0.45, 1.25, 0.35), 0.6, 0.2, 16, 6, (t1 - lt / 2, 0, RAIL + 3.25)))
    _bogie(m, t1 - lt * 0.25)
    _bogie(m, t1 - lt * 0.75)
    return t1 - lt


def train(rng, m):
    style = ("emu", "bullet", "diesel", "steam")[rng.integers(4)]
    n_cars = int(rng.random() < 0.4)
    hw, zb = rng.uniform(1.35, 1.5), RAIL + rng.uniform(0.9, 1.15)
    zt, rt = zb + rng.uniform(2.6, 3.2), rng.uniform(0.3, 0.9)
    car_len = rng.uniform(11.0, 16.0)
    x = 0.0
    if style == "steam":
        x = _steam(m, rng, x)
    else:
        ln = car_len if style != "diesel" else rng.uniform(12.0, 17.0)
        _body(m, rng, x - ln, x, hw, zb, zt, rt, "bullet" if style == "bullet" else "flat", style != "diesel")
        if style == "diesel":
            for i in range(int(rng.integers(2, 5))):
                m.add("metal", P.cylinder(0.45, 0.25, (x - 5 - 1.2 * i, 0, zt + 0.05), seg=14))
            for sy in (-1, 1):
                m.add("glass", side_panel(sy * hw, x - 2.2, x - 0.8, zb + 1.4, zt - 0.4, 0.01))
        elif rng.random() < 0.7:   # pantograph
            px, pz = x - ln * 0.6, zt
            m.add("metal", P.box((1.2, 1.0, 0.2), (px, 0, pz + 0.05)))
            for sy in (-1, 1):
                m.add("metal", P.tube((px - 0.5, sy * 0.4, pz + 0.1), (px + 0.3, sy * 0.4, pz + 0.9), 0.03, seg=5),
                      P.tube((px + 0.3, sy * 0.4, pz + 0.9), (px - 0.3, sy * 0.4, pz + 1.6), 0.03, seg=5))
            m.add("metal", P.box((0.15, 1.8, 0.05), (px - 0.3, 0, pz + 1.62)))
        x -= ln
    for _ in range(n_cars):
        m.add("rubber", P.box((0.8, hw * 1.5, (zt - zb) * 0.85), (x - 0.4, 0, (zb + zt) / 2)))
        x -= 0.8
        _body(m, rng, x - car_len, x, hw, zb, zt, rt, None)
        x -= car_len
    _track(m, x - rng.uniform(1.0, 4.0), rng.uniform(1.0, 5.0), rng)
