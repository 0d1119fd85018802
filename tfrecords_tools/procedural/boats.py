"""Boats: sailboat, motor yacht, ship, fishing boat, rowing boat. Bow +X, keel at z=0, metres."""
from __future__ import annotations

import math

import numpy as np

from . import parts as P


def hull(L, B, D, sheer, q, stern, bulwark, deck_drop, entry=0.45, n=30, k=10):
    """Hull with a recessed deck: rings from stern (x=-L/2) to a pointed bow (x=+L/2).

    q shapes the section (1: V, 2: round bilge, 4: box); `stern` is the transom's share of
    the beam; the deck lies `deck_drop` below the gunwale inside a `bulwark`-thick wall.
    Returns (mesh, deck_z(x), half_beam(x)).
    """
    ts = np.linspace(0, 1, n) ** 0.9
    phi = np.linspace(0, math.pi / 2, k)
    def beam(t):   # widest a little aft of midships, fine entry to the bow
        if t > entry:
            return B / 2 * (1 - (t - entry) / (1 - entry)) ** 0.7
        return B / 2 * (stern + (1 - stern) * math.sin(math.pi * min(t / 0.4, 1) / 2))
    def keel(t):
        return D * 0.9 * max(t - 0.75, 0) / 0.25 + D * 0.15 * max(0.1 - t, 0) / 0.1
    def gunwale(t):
        return D + sheer * (2 * t - 1) ** 2 * (1.4 if t > 0.5 else 0.5)
    def deck_level(t):   # never below the keel where the bow rises
        zg, zk = gunwale(t), keel(t)
        return max(zg - deck_drop, zk + 0.15 * (zg - zk))
    shrink = 1 - bulwark / (B / 2)
    rings = []
    for t in ts:
        b, zk, zg = beam(t), keel(t), gunwale(t)
        half = np.stack([b * np.cos(phi) ** (2 / q), zg - (zg - zk) * np.sin(phi) ** (2 / q)], 1)
        outer = np.concatenate([half, half[::-1][1:] * (-1, 1)])             # +b gunwale -> keel -> -b gunwale
        # the inside follows the hull, a wall thickness in, down to the deck
        zs = np.linspace(zg, deck_level(t), 4)
        ys = shrink * np.interp(zs, half[::-1, 1], half[::-1, 0])
        inner = np.concatenate([np.stack([-ys, zs], 1), np.stack([ys, zs], 1)[::-1]])
        ring = np.concatenate([outer, inner])
        rings.append(np.c_[np.full(len(ring), -L / 2 + t * L), ring])
    deck_z = lambda x: deck_level((x + L / 2) / L)
    half_beam = lambda x: beam((x + L / 2) / L)
    return P.loft(rings, True, False), deck_z, half_beam


def _cabin(m, x0, x1, w0, w1, z0, h, rake=0.3):
    """Tapered deckhouse with a band of windows all round."""
    xb, xf = x0 + h * 0.1, x1 - h * rake
    c = np.array([[x0, -w0, z0], [x1, -w0, z0], [x1, w0, z0], [x0, w0, z0],
                  [xb, -w1, z0 + h], [xf, -w1, z0 + h], [xf, w1, z0 + h], [xb, w1, z0 + h]])
    m.add("secondary", P.hexa(c))
    n_side = max(1, int((x1 - x0) / (1.3 * h)))
    for idx, spans in (((0, 1, 5, 4), n_side), ((3, 2, 6, 7), n_side), ((1, 2, 6, 5), 2), ((3, 0, 4, 7), 1)):
        q = c[list(idx)]
        edges = np.linspace(0.06, 0.94, spans + 1)
        for a, b in zip(edges[:-1], edges[1:]):
            m.add("glass", P.decal(P.sub_quad(q, a + 0.02, b - 0.02, 0.45, 0.85), q.mean(0) - c.mean(0), 0.01 * h))


def _sail(m, pts, thick):
    """A sail as a thin closed slab so it shows from both sides."""
    pts = np.asarray(pts, float)   # (3, 3) in the XZ plane at y=0
    m.add("accent", P.extrude(pts[:, [0, 2]], thick).moved(m=P.rot_x(math.pi / 2)))


def _vertical(x, z0, h):
    return (x, 0, z0), (x, 0, z0 + h)


# per kind: length (m), beam / length, depth / length, section shape q, deck drop / depth, transom / beam
HULLS = {
    "sail": ((8, 14), (0.28, 0.35), (0.1, 0.14), (1.2, 2.2), (0.05, 0.15), (0.6, 0.85)),
    "motor": ((8, 16), (0.28, 0.34), (0.1, 0.14), (1.2, 2.2), (0.05, 0.15), (0.6, 0.85)),
    "ship": ((40, 90), (0.13, 0.17), (0.1, 0.13), (3, 5), (0.05, 0.15), (0.6, 0.85)),
    "fishing": ((10, 20), (0.3, 0.36), (0.13, 0.17), (1.2, 2.2), (0.05, 0.15), (0.6, 0.85)),
    "rowing": ((3, 5), (0.3, 0.38), (0.12, 0.15), (1.6, 2.4), (0.5, 0.7), (0.15, 0.4)),
}


def boat(rng, m):
    kind = ("sail", "motor", "ship", "fishing", "rowing")[rng.integers(5)]
    u = rng.uniform
    L, B, D, q, drop, stern = (u(*rg) for rg in HULLS[kind])
    B, D = B * L, D * L
    drop *= D
    entry = u(0.55, 0.7) if kind == "ship" else u(0.35, 0.5)
    mesh, deck, beam = hull(L, B, D, D * u(0.1, 0.35), q, stern, B * 0.04, drop, entry)
    m.add("primary", mesh)
    {"rowing": _rowing, "sail": _sailing, "motor": _motor, "fishing": _motor, "ship": _ship}[kind](
        m, rng, kind, L, B, D, deck, beam)


def _rowing(m, rng, kind, L, B, D, deck, beam):
    drop = D - deck(0.0)
    for x in np.linspace(-L * 0.3, L * 0.25, int(rng.integers(2, 4))):   # thwarts
        m.add("secondary", P.box((L * 0.06, 1.7 * beam(x), D * 0.05), (x, 0, deck(x) + drop * 0.75)))
    for sy in (-1, 1):   # oars
        a = rng.uniform(-0.4, 0.4)
        blade = (-L * 0.2 * math.cos(a), sy * B * 1.3, D * 0.3)
        m.add("secondary", P.tube((0, sy * B * 0.4, D * 1.05), blade, 0.025, seg=6))


def _sailing(m, rng, kind, L, B, D, deck, beam):
    u = rng.uniform
    xm, mast_h = L * u(0.0, 0.15), L * u(1.1, 1.5)
    zd = deck(xm)
    m.add("metal", P.tube(*_vertical(xm, zd, mast_h), L * 0.008, L * 0.005, 8))
    boom_z, boom_l = zd + L * 0.12, L * u(0.35, 0.5)
    m.add("metal", P.tube((xm, 0, boom_z), (xm - boom_l, 0, boom_z), L * 0.006, seg=6))
    t = L * 0.004
    _sail(m, [[xm - 0.05, 0, boom_z + 0.05], [xm - boom_l, 0, boom_z + 0.05], [xm - 0.05, 0, zd + mast_h * 0.95]], t)
    if rng.random() < 0.8:   # jib
        _sail(m, [[xm + 0.05, 0, zd + mast_h * 0.85], [L * 0.47, 0, deck(L * 0.47) + 0.1], [xm + 0.05, 0, boom_z]], t)
    _cabin(m, xm - L * 0.35, xm - L * 0.02, beam(xm) * 0.6, beam(xm) * 0.5, deck(xm), D * 0.35, 0.6)


def _motor(m, rng, kind, L, B, D, deck, beam):
    u = rng.uniform
    fishing = kind == "fishing"
    x1 = L * (u(0.1, 0.25) if fishing else u(0.0, 0.15))
    x0 = x1 - L * (u(0.2, 0.3) if fishing else u(0.3, 0.5))
    w, z = beam(x1) * 0.75, deck(x1)
    h = D * (u(1.0, 1.5) if fishing else u(0.6, 0.9))
    _cabin(m, x0, x1, w, w * 0.85, z - 0.05, h, 0.15 if fishing else 1.0)
    if not fishing and rng.random() < 0.6:   # flybridge
        _cabin(m, x0 + L * 0.05, x1 - L * 0.1, w * 0.8, w * 0.7, z + h - 0.05, D * 0.4, 0.5)
    if fishing:   # mast, derrick boom and a radar post
        mx = x0 - L * 0.15
        m.add("metal", P.tube(*_vertical(mx, deck(mx), L * 0.5), L * 0.01, seg=8),
              P.tube((mx, 0, deck(mx) + L * 0.35), (-L * 0.48, 0, deck(mx) + L * 0.1), L * 0.006, seg=6),
              P.tube(*_vertical(x1 - L * 0.05, z + h, L * 0.15), L * 0.008, seg=6))


def _ship(m, rng, kind, L, B, D, deck, beam):
    """Cargo ship (bridge aft or forward, deck cargo) or ferry (long stacked deckhouse)."""
    u = rng.uniform
    ferry = rng.random() < 0.4
    aft = ferry or rng.random() < 0.7
    xs = -L * 0.42 if aft else L * 0.2
    tiers = int(rng.integers(2, 5))
    w, x0, z = beam(xs + L * 0.05) * 0.95, xs - L * 0.04, deck(xs)
    x1 = x0 + L * (u(0.5, 0.7) if ferry else u(0.1, 0.16))
    for i in range(tiers):
        h = D * u(0.3, 0.45)
        _cabin(m, x0, x1, w, w * 0.97, z - 0.05, h, 0.05 if i < tiers - 1 else 0.3)
        z += h - 0.05
        x0, x1, w = x0 + L * 0.01, x1 - (L * 0.03 if ferry else 0.0), w * 0.95
    fx = (x0 + x1) / 2 if ferry else xs - L * 0.02
    m.add("accent", P.lathe([B * 0.1, B * 0.09, B * 0.09], [0, D * 0.6, D * 0.9], 14).moved((fx, 0, z - 0.1)))
    if not ferry:   # bridge wings and deck cargo
        m.add("secondary", P.box((L * 0.03, beam(xs) * 2.3, 0.3), (x1 - L * 0.02, 0, z - 0.2)))
        lo, hi = (xs + L * 0.14, L * 0.36) if aft else (-L * 0.45, xs - L * 0.06)
        hgt = D * u(0.3, 0.7)
        for x in np.arange(lo, hi, L * 0.06):
            for sy in (-1, 1):
                hh = hgt * rng.choice([0.5, 1.0, 1.0])
                m.add("secondary", P.box((L * 0.055, beam(x) * 0.9, hh), (x, sy * beam(x) * 0.46, deck(x) + hh / 2)))
    m.add("metal", P.tube(*_vertical(L * 0.4, deck(L * 0.4), D * 0.8), L * 0.004, seg=6))
