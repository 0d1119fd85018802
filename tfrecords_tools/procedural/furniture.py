"""Furniture: chair, sofa, dining table. Seat fronts face +X, floor is z=0, metres."""
from __future__ import annotations

import math

import numpy as np

from . import parts as P


def _leg(m, style, top, bottom, w):
    """One furniture leg from `top` down to `bottom` in a given style."""
    top, bottom = np.asarray(top, float), np.asarray(bottom, float)
    if style == "square":
        m.add("secondary", P.bar(bottom, top, w))
    elif style == "tapered":
        m.add("secondary", P.tube(bottom, top, w * 0.3, w * 0.6, 12))
    elif style == "turned":
        h = float(np.linalg.norm(top - bottom))
        z = np.array([0, 0.02, 0.1, 0.18, 0.3, 0.45, 0.6, 0.75, 0.85, 1.0]) * h
        r = np.array([0.35, 0.4, 0.3, 0.45, 0.3, 0.38, 0.28, 0.45, 0.5, 0.5]) * w
        m.add("secondary", P.lathe(r, z, 12).moved(bottom, P.z_to(top - bottom)))
    else:   # thin metal
        m.add("metal", P.tube(bottom, top, w * 0.3, seg=10))


def _star_base(m, rng, h, r):
    """Office-chair pedestal: five arms on casters and a gas column up to height h."""
    a0 = rng.uniform(0, P.TAU)
    for k in range(5):
        a = a0 + k * P.TAU / 5
        end = np.array([r * math.cos(a), r * math.sin(a), 0.06])
        m.add("secondary", P.tube((0, 0, 0.09), end, 0.022, 0.015, 8))
        tyre, _ = P.wheel(0.025, 0.02, 0.4, 10)
        m.add("rubber", tyre.moved(end - (0, 0, 0.035), P.rot_z(a)))
    m.add("metal", P.tube((0, 0, 0.07), (0, 0, h), 0.025, seg=12))
    m.add("secondary", P.cylinder(0.045, 0.14, (0, 0, 0.15), seg=14))


def chair(rng, m):
    style = ("wood", "wood", "modern", "office")[rng.integers(4)]
    u = rng.uniform
    hs, sw, sd = u(0.42, 0.5), u(0.4, 0.52), u(0.38, 0.5)
    st = u(0.02, 0.06) if style != "office" else u(0.07, 0.11)
    bh, tilt = u(0.35, 0.6), math.radians(u(4, 16))
    xb = -sd / 2   # seat rear edge
    if style == "office":
        _star_base(m, rng, hs - st, u(0.28, 0.34))
        m.add("primary", P.superquadric((sd / 2, sw / 2, st / 2), 0.3, 0.3, 24, 10, (0, 0, hs - st / 2)))
        m.add("secondary", P.bar((xb + 0.02, 0, hs - st), (xb - 0.06, 0, hs + 0.12), 0.05))
        bz0 = hs + 0.08
        back_c = np.array([xb - 0.08 - bh / 2 * math.sin(tilt), 0, bz0 + bh / 2])
        back = P.superquadric((0.04, sw / 2 * u(0.85, 1.05), bh / 2), 0.4, 0.4, 24, 10)
        m.add("primary", back.moved(back_c, P.rot_y(-tilt)))
        if rng.random() < 0.6:
            for sy in (-1, 1):
                y = sy * (sw / 2 + 0.03)
                m.add("secondary", P.bar((0, y, hs - st / 2), (-0.02, y, hs + 0.2), 0.03))
                m.add("rubber", P.box((sd * 0.6, 0.06, 0.03), (-0.03, y, hs + 0.21)))
        return
    leg_style = ("square", "tapered", "turned", "metal")[rng.integers(4)] if style == "wood" else "metal"
    lw = u(0.03, 0.05)
    inset, splay = lw / 2 + u(0.0, 0.03), u(0.0, 0.04)
    corners = [(sx * (sd / 2 - inset), sy * (sw / 2 - inset)) for sx in (-1, 1) for sy in (-1, 1)]
    for x, y in corners:
        bottom = (x + np.sign(x) * splay, y + np.sign(y) * splay, 0.0)
        _leg(m, leg_style, (x, y, hs - st), bottom, lw)
    e = u(0.1, 0.2) if style == "wood" else u(0.2, 0.35)    # seat edge roundness
    m.add("primary", P.superquadric((sd / 2, sw / 2, st / 2), e, e, 24, 8, (0, 0, hs - st / 2)))
    if style == "wood" and rng.random() < 0.5:   # stretchers
        for sy in (-1, 1):
            y = sy * (sw / 2 - inset)
            m.add("secondary", P.bar((-(sd / 2 - inset), y, 0.14), (sd / 2 - inset, y, 0.14), lw * 0.5))
    # backrest: rear posts rise from the rear legs and lean back
    lean = bh * math.tan(tilt)
    xr = xb + inset
    def on_back(y, z):   # a point on the leaning plane of the back posts
        return np.array([xr - lean * (z - hs) / bh, y, z])
    panel = rng.integers(4) if style == "wood" else 3
    if style == "wood":
        for y in (-(sw / 2 - inset), sw / 2 - inset):
            m.add("secondary", P.bar((xr, y, hs - st), on_back(y, hs + bh), lw))
        yy = sw / 2 - inset
        rail_h = u(0.05, 0.12)
        top_c = on_back(0, hs + bh - rail_h / 2)
        m.add("primary", P.superquadric((0.0125, yy, rail_h / 2), 0.2, 0.2, 20, 6, top_c, P.rot_y(-tilt)))
        z_lo, z_hi = hs + 0.05, hs + bh - rail_h
        if panel == 0:     # vertical slats
            for y in np.linspace(-yy, yy, int(rng.integers(3, 7)) + 2)[1:-1]:
                m.add("primary", P.bar(on_back(y, z_lo), on_back(y, z_hi), 0.035, 0.015))
        elif panel == 1:   # horizontal rails
            for z in np.linspace(z_lo, z_hi, int(rng.integers(2, 4)) + 1)[:-1]:
                m.add("primary", P.box((0.02, 2 * yy, 0.04), on_back(0, z), P.rot_y(-tilt)))
        elif panel == 2:   # spindles
            for y in np.linspace(-yy, yy, int(rng.integers(5, 9)) + 2)[1:-1]:
                m.add("secondary", P.tube(on_back(y, z_lo), on_back(y, z_hi), 0.008, seg=6))
        else:
            c = on_back(0, (z_lo + z_hi) / 2)
            m.add("primary", P.superquadric((0.012, yy, (z_hi - z_lo) / 2), 0.15, 0.15, 20, 6, c, P.rot_y(-tilt)))
    else:   # modern: one solid back on two metal uprights
        c = np.array([xb - lean / 2 + 0.01, 0, hs + bh * 0.55])
        m.add("primary", P.superquadric((0.015, sw / 2, bh * 0.45), 0.25, 0.3, 24, 8, c, P.rot_y(-tilt)))
        for y in (-(sw / 2 - 0.05), sw / 2 - 0.05):
            m.add("metal", P.tube((xb + 0.03, y, hs - st), (xb - lean * 0.7, y, hs + bh * 0.6), 0.008, seg=6))
    if style == "wood" and rng.random() < 0.25:   # armrests
        for y in (-(sw / 2 - inset), sw / 2 - inset):
            m.add("secondary", P.bar((sd / 2 - inset, y, hs - st), (sd / 2 - inset, y, hs + 0.22), lw * 0.8))
            m.add("primary", P.bar((sd / 2 - inset + 0.03, y, hs + 0.23), on_back(y, hs + 0.23), 0.05, 0.025))


def sofa(rng, m):
    u = rng.uniform
    W, D = u(1.3, 2.5), u(0.8, 1.0)
    hs, ha, hb = u(0.4, 0.48), u(0.5, 0.7), u(0.72, 0.95)
    aw, bt, lh = u(0.1, 0.26), u(0.15, 0.25), (u(0.04, 0.16) if rng.random() < 0.8 else 0.0)
    arms = rng.random() < 0.92
    yi = W / 2 - (aw if arms else 0.0)         # inner half width
    cush = u(0.1, 0.18)
    e = u(0.15, 0.4)                           # roundness of upholstery
    soft = lambda half, c, m_=None: P.superquadric(half, e, e, 20, 8, c, m_)
    base_top = hs - cush
    m.add("primary", P.box((D, 2 * yi, base_top - lh), (0, 0, (lh + base_top) / 2)))
    m.add("primary", soft((bt / 2, W / 2, (hb - lh) / 2), (-D / 2 + bt / 2, 0, (lh + hb) / 2)))
    n = max(1, int(round(2 * yi / u(0.55, 0.85))))
    cw = 2 * yi / n
    chaise = rng.random() < 0.15
    for i in range(n):
        y = -yi + cw * (i + 0.5)
        ext = u(0.5, 0.7) if chaise and i == 0 else 0.0
        depth = D - bt + ext
        m.add("primary", soft((depth / 2, cw / 2 - 0.005, cush / 2), (-D / 2 + bt + depth / 2, y, hs - cush / 2)))
        if ext:
            m.add("primary", P.box((ext, cw, base_top - lh), (D / 2 + ext / 2, y, (lh + base_top) / 2)))
            for sy in (-1, 1):
                m.add("secondary", P.box((0.05, 0.05, lh), (D / 2 + ext - 0.05, y + sy * (cw / 2 - 0.05), lh / 2)))
    if rng.random() < 0.75:   # back cushions leaning on the frame
        nb = n if rng.random() < 0.7 else max(1, n - 1)
        bw = 2 * yi / nb
        th = u(0.12, 0.2)
        for i in range(nb):
            c = (-D / 2 + bt + th / 2 - 0.02, -yi + bw * (i + 0.5), hs + (hb - hs) / 2 - 0.02)
            m.add("primary", soft((th / 2, bw / 2 - 0.005, (hb - hs) / 2 - 0.01), c, P.rot_y(-math.radians(u(6, 14)))))
    if arms:
        style = rng.integers(3)
        for sy in (-1, 1):
            y = sy * (W / 2 - aw / 2)
            if style == 0:
                m.add("primary", soft((D / 2, aw / 2, (ha - lh) / 2), (0, y, (lh + ha) / 2)))
            else:
                top = ha - (aw / 2 if style == 2 else 0)
                m.add("primary", P.box((D, aw, top - lh), (0, y, (lh + top) / 2)))
                if style == 2:   # rolled arm
                    m.add("primary", P.cylinder(aw * 0.6, D, (0, y, ha - aw * 0.55), (1, 0, 0), 16))
    if rng.random() < 0.4:    # throw pillows in the corners
        for sy in (-1, 1):
            s = u(0.18, 0.25)
            c = (-D / 2 + bt + 0.12, sy * (yi - s * 0.8), hs + s * 0.8)
            m.add("secondary", soft((0.06, s, s), c, P.rot_x(sy * 0.3) @ P.rot_y(-0.3)))
    if lh > 0:
        leg = ("square", "tapered", "metal")[rng.integers(3)]
        for x in (-D / 2 + 0.05, D / 2 - 0.05):
            for y in (-W / 2 + 0.05, W / 2 - 0.05):
                _leg(m, leg, (x, y, lh + 0.001), (x, y, 0.0), 0.05)


def diningtable(rng, m):
    u = rng.uniform
    shape = ("rect", "rect", "round", "oval")[rng.integers(4)]
    h, t = u(0.71, 0.78), u(0.025, 0.06)
    if shape == "round":
        Wy = Dx = u(0.8, 1.4)
    else:
        Wy, Dx = (u(1.2, 2.4), u(0.75, 1.05)) if shape == "rect" else (u(1.2, 1.8), u(0.85, 1.1))
    q = u(6, 14) if shape == "rect" else 2.0
    ang = np.linspace(0, P.TAU, 64, endpoint=False)
    sp = lambda x: np.sign(x) * np.abs(x) ** (2 / q)
    ring = np.stack([Dx / 2 * sp(np.cos(ang)), Wy / 2 * sp(np.sin(ang))], 1)
    edge = min(t * 0.3, 0.01)   # eased edge: rings shrink a little at the top and bottom faces
    k = lambda d: 1 - d / (min(Dx, Wy) / 2)
    m.add("primary", P.loft([np.c_[ring * k(dk), np.full(len(ang), z)]
                             for dk, z in ((edge, h - t), (0, h - t + edge), (0, h - edge), (edge, h))]))
    base = "legs" if shape == "rect" else ("pedestal" if rng.random() < 0.6 else "legs")
    if shape == "rect" and rng.random() < 0.2:
        base = "trestle"
    if base == "legs":
        leg = ("square", "tapered", "turned", "metal", "square")[rng.integers(5)]
        lw = u(0.04, 0.08) if leg != "metal" else u(0.03, 0.05)
        f = 0.82 if shape == "rect" else 0.6
        ix, iy = Dx / 2 * f - u(0.0, 0.05), Wy / 2 * f - u(0.0, 0.05)
        for sx in (-1, 1):
            for sy in (-1, 1):
                _leg(m, leg, (sx * ix, sy * iy, h - t), (sx * ix, sy * iy, 0.0), lw)
        if rng.random() < 0.75:   # apron
            ah = u(0.06, 0.12)
            za = h - t - ah / 2
            m.add("secondary", P.box((0.02, 2 * iy, ah), (ix, 0, za)), P.box((0.02, 2 * iy, ah), (-ix, 0, za)),
                  P.box((2 * ix, 0.02, ah), (0, iy, za)), P.box((2 * ix, 0.02, ah), (0, -iy, za)))
    elif base == "pedestal":
        r = u(0.05, 0.12)
        prof_z = np.array([0.0, 0.1, 0.2, 0.5, 0.8, 0.9, 1.0]) * (h - t)
        prof_r = np.array([1.6, 1.0, 0.9, 0.7, 0.8, 1.0, 1.2]) * r
        m.add("secondary", P.lathe(prof_r, prof_z, 20))
        if rng.random() < 0.5:
            m.add("secondary", P.cylinder(min(Dx, Wy) * 0.3, 0.03, (0, 0, 0.015), seg=28))
        else:
            a0 = u(0, P.TAU)
            for k in range(int(rng.integers(3, 5))):
                a = a0 + k * P.TAU / 4
                reach = min(Dx, Wy) * 0.35
                m.add("secondary", P.bar((0, 0, 0.05), (math.cos(a) * reach, math.sin(a) * reach, 0.02), 0.06))
    else:   # trestle: two end frames joined by a stretcher
        yl = Wy / 2 * 0.75
        for sy in (-1, 1):
            m.add("secondary", P.box((0.08, 0.06, h - t - 0.08), (0, sy * yl, (h - t) / 2)),
                  P.box((Dx * 0.8, 0.08, 0.06), (0, sy * yl, 0.03)),
                  P.box((Dx * 0.7, 0.08, 0.05), (0, sy * yl, h - t - 0.025)))
        m.add("secondary", P.box((0.05, 2 * yl, 0.08), (0, 0, 0.25)))
