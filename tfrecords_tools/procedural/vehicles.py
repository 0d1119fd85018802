"""Road vehicles: car and bus (trains live in trains.py). Front is +X, ground z=0, metres."""
from __future__ import annotations

import math

import numpy as np

from . import parts as P


def _face(c, idx):
    """A hexa face's corners and its outward direction."""
    q = c[list(idx)]
    return q, q.mean(0) - c.mean(0)


def _windows(m, q, out, spans, t0, t1, lift=0.006):
    for s0, s1 in spans:
        m.add("glass", P.decal(P.sub_quad(q, s0, s1, t0, t1), out, lift))


def side_panel(y, x0, x1, z0, z1, lift=0.0):
    """A dark panel (window, door) on the vertical plane at y, facing away from the centre."""
    return P.decal([[x0, y, z0], [x1, y, z0], [x1, y, z1], [x0, y, z1]], (0, np.sign(y), 0), lift)


def end_panel(x, y0, y1, z0, z1, lift=0.0):
    """A panel on the vertical plane at x (windscreen, rear window), facing away from the centre."""
    return P.decal([[x, y0, z0], [x, y1, z0], [x, y1, z1], [x, y0, z1]], (np.sign(x), 0, 0), lift)


def add_wheels(m, xs, half_track, radius, width, tyre=0.28, seg=24):
    tyre_mesh, hub = P.wheel(radius, width, tyre, seg)
    for x in xs:
        for sy in (-1, 1):
            c = (x, sy * half_track, radius)
            m.add("rubber", tyre_mesh.moved(c))
            m.add("metal", hub.moved(c))


CAR_KINDS = {  # belt, roof, clearance, wheel r, cabin t: rear-bottom, front-bottom, rear-top, front-top
    "sedan": (0.85, 1.42, 0.15, 0.32, (0.22, 0.66, 0.33, 0.52)),
    "hatch": (0.86, 1.45, 0.15, 0.31, (0.03, 0.66, 0.08, 0.52)),
    "suv": (1.02, 1.75, 0.24, 0.38, (0.03, 0.70, 0.06, 0.57)),
    "sport": (0.74, 1.18, 0.11, 0.32, (0.24, 0.60, 0.34, 0.49)),
    "pickup": (1.0, 1.78, 0.25, 0.38, (0.45, 0.72, 0.49, 0.63)),
    "van": (1.02, 1.92, 0.18, 0.33, (0.02, 0.80, 0.03, 0.70)),
}


def car(rng, m):
    kind = list(CAR_KINDS)[rng.integers(len(CAR_KINDS))]
    belt, roof, clear, rw, (tr0, tf0, tr1, tf1) = CAR_KINDS[kind]
    j = lambda v, s=0.06: v * rng.uniform(1 - s, 1 + s)
    belt, roof, rw = j(belt), j(roof, 0.04), j(rw)
    L, W = rng.uniform(3.7, 5.0), rng.uniform(1.65, 1.95)
    if kind == "van":
        L = rng.uniform(4.4, 5.2)
    p, q = rng.uniform(4.0, 8.0), rng.uniform(3.0, 5.0)   # plan and section squareness
    hood = belt - rng.uniform(0.06, 0.22)
    deck = belt - rng.uniform(0.0, 0.1)
    tr0, tf0, tr1, tf1 = (t + rng.uniform(-0.02, 0.02) for t in (tr0, tf0, tr1, tf1))

    def top(t):
        if t > tf0:
            z = belt + (hood - belt) * (t - tf0) / (1 - tf0)
        elif t < tr0:
            z = deck + (belt - deck) * t / max(tr0, 1e-3)
        else:
            z = belt
        return z - 0.12 * max(0.0, abs(2 * t - 1) - 0.9) / 0.1

    ts = 0.5 - 0.5 * np.cos(np.linspace(0, math.pi, 22))
    ang = np.linspace(0, P.TAU, 20, endpoint=False)
    sp = lambda x, e: np.sign(x) * np.abs(x) ** e
    rings = []
    for t in ts:
        w = W / 2 * (1 - abs(2 * t - 1) ** p) ** (1 / p)
        zb = clear + 0.12 * max(0.0, abs(2 * t - 1) - 0.85) / 0.15
        zt = top(t)
        zc, hz = (zb + zt) / 2, (zt - zb) / 2
        rings.append(np.stack([np.full(20, -L / 2 + t * L), w * sp(np.cos(ang), 2 / q),
                               zc + hz * sp(np.sin(ang), 2 / q)], 1))
    m.add("primary", P.loft(rings, False, False))

    # greenhouse: a tapered hexahedron sunk into the body, windows as decals on its faces
    x = lambda t: -L / 2 + t * L
    wb, wt = W / 2 * rng.uniform(0.82, 0.9), W / 2 * rng.uniform(0.62, 0.75)
    zc0 = belt - 0.1
    c = np.array([[x(tr0), -wb, zc0], [x(tf0), -wb, zc0], [x(tf0), wb, zc0], [x(tr0), wb, zc0],
                  [x(tr1), -wt, roof], [x(tf1), -wt, roof], [x(tf1), wt, roof], [x(tr1), wt, roof]])
    m.add("primary", P.hexa(c))
    tw = (belt + 0.04 - zc0) / (roof - zc0)
    n_side = {"sport": 1, "van": 3}.get(kind, 2)
    edges = np.linspace(0.05, 0.95, n_side + 1)
    spans = [(a + 0.03, b - 0.03) for a, b in zip(edges[:-1], edges[1:])]
    for idx in ((0, 1, 5, 4), (3, 2, 6, 7)):
        _windows(m, *_face(c, idx), spans, tw, 0.92)
    _windows(m, *_face(c, (1, 2, 6, 5)), [(0.05, 0.95)], tw, 0.94)
    _windows(m, *_face(c, (3, 0, 4, 7)), [(0.1, 0.9)], tw + 0.05, 0.9)
    for sy in (-1, 1):   # side mirrors
        m.add("primary", P.box((0.1, 0.14, 0.1), (x(tf0) - 0.05, sy * (wb + 0.06), belt + 0.06)))
    if kind == "pickup":
        for sy in (-1, 1):
            bed = (x(tr0) - x(0.03), 0.06, 0.22)
            m.add("primary", P.box(bed, ((x(tr0) + x(0.03)) / 2, sy * W * 0.44, belt)))

    # lamps sit where the rounded nose/tail passes y = +-0.6 W/2
    def end_x(yf, sign):
        t = 0.5 + sign * 0.5 * (1 - yf ** p) ** (1 / p)
        return -L / 2 + t * L, t
    for sign, slot in ((1, "light"), (-1, "signal")):
        xe, te = end_x(0.62, sign)
        ze = (clear + top(te)) / 2 + (0.06 if sign > 0 else 0.1)
        for sy in (-1, 1):
            m.add(slot, P.sphere(0.1, (xe, sy * W / 2 * 0.62, ze), 12, 6, radii=(0.06, 0.17, 0.06)))
    if rng.random() < 0.7:   # grille
        xg, tg = end_x(0.3, 1)
        zg = (clear + top(tg)) / 2 - 0.02
        m.add("glass", P.sphere(0.1, (xg - 0.02, 0, zg), 12, 6, radii=(0.05, W * 0.18, 0.08)))
    wb_len = L * rng.uniform(0.56, 0.64)
    off = rng.uniform(-0.03, 0.03) * L
    add_wheels(m, (off - wb_len / 2, off + wb_len / 2), W / 2 - 0.1 + 0.03, rw, 0.22)


def bus(rng, m):
    L, hw = rng.uniform(8.5, 13.0), rng.uniform(1.2, 1.28)
    decks = 2 if rng.random() < 0.2 else 1
    H = rng.uniform(2.9, 3.3) if decks == 1 else rng.uniform(4.1, 4.4)
    z0, rw, rt = rng.uniform(0.28, 0.4), rng.uniform(0.48, 0.55), rng.uniform(0.12, 0.45)
    ring = P.rrect(hw, z0, H, 0.08, rt, 5)
    def at(x, k):   # the ring at x, narrowed by k so the ends are rounded off
        return np.c_[np.full(len(ring), x), ring[:, 1] * k, z0 + (ring[:, 2] - z0) * (0.96 + 0.04 * k)]
    rings = [at(-L / 2, 0.95), at(-L / 2 + 0.12, 1.0), at(L / 2 - 0.15, 1.0), at(L / 2, 0.95)]
    m.add("primary", P.loft(rings))
    # front: windscreen(s), destination sign, lamps, mirrors
    fx, yw = L / 2 + 0.005, hw * 0.9
    deck_h = H / decks
    m.add("glass", end_panel(fx, -yw, yw, z0 + 0.45 * (deck_h - z0), deck_h - 0.45))
    if decks == 2:
        m.add("glass", end_panel(fx, -yw, yw, deck_h + 0.4, H - 0.35))
    m.add("glass", end_panel(fx + 0.002, -yw, yw, H - (0.3 if decks == 2 else 0.35), H - 0.08))
    m.add("glass", end_panel(-fx, -hw * 0.8, hw * 0.8, H * 0.55, H - 0.35))
    for sy in (-1, 1):
        m.add("light", P.box((0.06, 0.3, 0.15), (L / 2, sy * hw * 0.7, z0 + 0.35)))
        m.add("signal", P.box((0.06, 0.2, 0.3), (-L / 2, sy * hw * 0.75, z0 + 0.6)))
        arm = (L / 2 + 0.25, sy * (hw + 0.25), deck_h - 0.35)
        m.add("secondary", P.tube((L / 2 - 0.2, sy * hw, deck_h - 0.4), arm, 0.03, seg=6),
              P.box((0.06, 0.12, 0.3), np.add(arm, (0, 0, -0.2))))
    # sides: window rows, doors, wheel arches
    ax_f, ax_r = L / 2 - rng.uniform(2.0, 2.8), -L / 2 + rng.uniform(2.4, 3.3)
    nwin = int(round((L - 2.4) / rng.uniform(1.1, 1.6)))
    edges = np.linspace(-L / 2 + 0.4, L / 2 - 1.6, nwin + 1)
    sill = z0 + rng.uniform(0.95, 1.1)
    for sy in (-1, 1):
        y = sy * (hw + 0.004)
        for zl, zh in ((sill, deck_h - 0.3),) + (((deck_h + 0.35, H - 0.3),) if decks == 2 else ()):
            for a, b in zip(edges[:-1], edges[1:]):
                m.add("glass", side_panel(y, a + 0.06, b - 0.06, zl, zh))
        for ax in (ax_f, ax_r):   # dark wheel arches behind the tyres
            a = np.linspace(0, math.pi, 12)
            pts = np.stack([ax + 1.15 * rw * np.cos(a), np.full(12, y), rw + 1.15 * rw * np.sin(a)], 1)
            m.add("rubber", P.fan_cap(pts, (0, sy, 0)))
    doors = [(L / 2 - 1.45, L / 2 - 0.35)] + ([(-0.6, 0.5)] if rng.random() < 0.6 else [])
    for x0, x1 in doors:   # on the kerb side (right, -Y)
        m.add("glass", side_panel(-(hw + 0.006), x0, x1, z0 + 0.05, deck_h - 0.3))
    if rng.random() < 0.6:
        m.add("secondary", P.box((rng.uniform(1.5, 3), 1.4, 0.25), (rng.uniform(-2, 1), 0, H + 0.1)))
    add_wheels(m, (ax_f, ax_r), hw - 0.12, rw, 0.3, 0.3)

