"""Aeroplanes: airliner, turboprop, light propeller plane, fighter. Nose +X, metres."""
from __future__ import annotations

import math

import numpy as np

from . import parts as P

SEG = 20


def _airfoil(chord, thick, n=14):
    """Symmetric NACA-00xx ring in local (chord, thickness) coords, leading edge at 0, trailing at -chord."""
    phi = np.linspace(0, P.TAU, 2 * n, endpoint=False)
    xa = (1 + np.cos(phi)) / 2
    t = 5 * thick * (0.2969 * np.sqrt(xa) - 0.126 * xa - 0.3516 * xa ** 2 + 0.2843 * xa ** 3 - 0.1036 * xa ** 4)
    return -xa * chord, np.sign(np.sin(phi)) * t * chord


def surface(root, span_dir, length, c0, c1, sweep_deg, thick=0.12, n=4):
    """A lifting surface (wing, stabiliser, fin) from its root leading edge along span_dir."""
    sd = P.unit(np.asarray(span_dir, float))
    td = P.unit(np.cross((1.0, 0.0, 0.0), sd))
    rings = []
    for s in np.linspace(0, 1, n):
        xs, ts = _airfoil(c0 + (c1 - c0) * s, thick)
        base = np.asarray(root, float) + s * length * sd - (s * length * math.tan(math.radians(sweep_deg)), 0, 0)
        rings.append(base + np.outer(xs, (1.0, 0.0, 0.0)) + np.outer(ts, td))
    return P.loft(rings)


def _pair(m, slot, mesh):
    m.add(slot, mesh, mesh.moved(m=P.MIRROR_Y))


def _fuselage(Lf, R, nose_frac, tail_frac, tail_r, blunt):
    ts = np.concatenate([np.linspace(0, tail_frac, 8), np.linspace(tail_frac, 1 - nose_frac, 5)[1:-1],
                         1 - nose_frac + nose_frac * np.sin(np.linspace(0, math.pi / 2, 9))])
    ang = np.linspace(0, P.TAU, SEG, endpoint=False)
    rings = []
    for t in ts:
        if t > 1 - nose_frac:
            s = (t - (1 - nose_frac)) / nose_frac
            r = R * max(1 - s ** blunt, 0.0) ** 0.5
        elif t < tail_frac:
            r = R * (tail_r + (1 - tail_r) * (t / tail_frac) ** 0.7)
        else:
            r = R
        zc = (R - r) * 0.8 if t < 0.5 else (R - r) * -0.15
        rings.append(np.stack([np.full(SEG, (t - 0.5) * Lf), r * np.cos(ang), zc + 1.05 * r * np.sin(ang)], 1))
    return np.array(rings), ts


def _windows(m, R, x0, x1, pitch, z0, zoff, size):
    """Cabin windows: small panels tangent to the cylindrical mid fuselage."""
    y = R * math.sqrt(max(1 - (zoff / (1.05 * R)) ** 2, 0)) + 0.01 * R
    for x in np.arange(x0, x1, pitch):
        for sy in (-1, 1):
            q = [[x - size, sy * y, z0 + zoff - size * 1.2], [x + size, sy * y, z0 + zoff - size * 1.2],
                 [x + size, sy * y, z0 + zoff + size * 1.2], [x - size, sy * y, z0 + zoff + size * 1.2]]
            m.add("glass", P.decal(q, (0, sy * y, zoff), 0.0))


def _prop(m, rng, centre, radius, blades):
    x, y, z = centre
    m.add("metal", P.lathe([radius * 0.18, radius * 0.16, 0.0], [0, radius * 0.2, radius * 0.45], 12)
          .moved(centre, P.rot_y(math.pi / 2)))
    a0 = rng.uniform(0, math.pi)
    for k in range(blades):
        m.add("rubber", P.box((radius * 0.04, radius * 0.16, radius), (0, 0, radius / 2),
                              P.rot_x(a0 + k * P.TAU / blades) @ P.rot_z(0.3)).moved((x + radius * 0.08, y, z)))


def _gear(m, x, y, top, r):
    m.add("metal", P.tube((x, y, top), (x, y, r), r * 0.18, seg=6))
    tyre, hub = P.wheel(r, r * 0.7, 0.3, 14)
    m.add("rubber", tyre.moved((x, y, r)))
    m.add("metal", hub.moved((x, y, r)))


# per kind: span / length, root chord / length, tip chord / length, sweep (deg), dihedral (deg), wing LE x / length
WINGS = {
    "airliner": ((0.9, 1.15), (0.14, 0.2), (0.04, 0.07), (25, 37), (3, 7), (0.05, 0.15)),
    "turboprop": ((1.05, 1.4), (0.09, 0.14), (0.05, 0.1), (-2, 5), (0, 2), (0.06, 0.16)),
    "light": ((1.05, 1.4), (0.09, 0.14), (0.05, 0.1), (-2, 5), (0, 5), (0.06, 0.16)),
    "fighter": ((0.55, 0.7), (0.35, 0.5), (0.03, 0.08), (40, 60), (-3, 2), (0.05, 0.15)),
}


def _tail(m, rng, kind, Lf, R, z0):
    """Fin(s) and tailplane; returns whether the tailplane sits on top of the fin (T-tail)."""
    u = rng.uniform
    xt = -Lf / 2 + Lf * u(0.02, 0.05)
    fin_h, fin_c = Lf * u(0.13, 0.18) * (1.3 if kind == "light" else 1.0), Lf * u(0.12, 0.18)
    t_tail = kind != "fighter" and rng.random() < (0.6 if kind == "turboprop" else 0.2)
    top = z0 + R * 0.5
    twin = kind == "fighter" and rng.random() < 0.6
    for sy in ((-1, 1) if twin else (0,)):
        root = (xt + fin_c, sy * 0.5 * R, top - 0.3 * R)
        fin_dir = (0, sy * 0.35, 1) if twin else (0, 0, 1)
        m.add("primary", surface(root, fin_dir, fin_h, fin_c, fin_c * u(0.35, 0.6), u(30, 50), 0.1))
    if t_tail:
        root = (xt + fin_c * 0.4 - fin_h * 0.92 * math.tan(math.radians(40)), 0.1 * R, top + fin_h * 0.92)
    else:
        root = (xt + fin_c * 1.1, 0.1 * R, z0 + R * 0.2)
    span = Lf * u(0.14, 0.2)
    _pair(m, "primary", surface(root, (0, 1, 0.08), span, fin_c * 0.8, fin_c * 0.35, u(20, 35), 0.1))
    return t_tail


def _engines(m, rng, kind, Lf, R, z0, span, wing_le, rear_mounted):
    """Underwing (airliner) or on-wing (turboprop) nacelles, or a pair on the rear fuselage."""
    u = rng.uniform
    re = R * (u(0.35, 0.5) if kind == "airliner" else u(0.25, 0.35))
    le = Lf * u(0.1, 0.14)
    per_side = 2 if kind == "airliner" and not rear_mounted and rng.random() < 0.25 else 1
    for i in range(per_side):
        y = span / 2 * (0.33 + 0.3 * i)
        lx, lz = wing_le(y)
        zc = lz + (-(re + 0.1 * R) if kind == "airliner" else 0.15 * R)
        if rear_mounted:
            y, lx, zc = R + re * 1.2, -Lf * 0.3 + le, z0 + 0.4 * R
        nac = P.lathe([0.0, re * 0.75, re, re * 0.95, re * 0.6, re * 0.3],
                      [0, 0, le * 0.08, le * 0.65, le, le * 1.02], 16)
        front = np.array([lx + le * 0.45, y, zc])
        _pair(m, "secondary", nac.moved(front, P.rot_y(-math.pi / 2)))
        _pair(m, "rubber", P.cylinder(re * 0.8, 0.02 * re, front + (0.01, 0, 0), (1, 0, 0), 16))
        if kind == "turboprop":
            prop = P.Model()
            _prop(prop, rng, front, re * 2.6, 4)
            for slot, meshes in prop.parts.items():
                for mesh in meshes:
                    _pair(m, slot, mesh)


def aeroplane(rng, m):
    kind = ("airliner", "airliner", "turboprop", "light", "fighter")[rng.integers(5)]
    u = rng.uniform
    if kind == "light":
        Lf, R = u(7.0, 9.0), u(0.55, 0.7)
    elif kind == "fighter":
        Lf, R = u(14.0, 19.0), u(0.75, 0.95)
    else:
        Lf = u(22.0, 45.0)
        R = Lf * u(0.045, 0.06)
    nose = u(0.06, 0.1) if kind != "fighter" else u(0.2, 0.3)
    rings, ts = _fuselage(Lf, R, nose, u(0.2, 0.3), u(0.1, 0.25), u(1.6, 2.4) if kind != "fighter" else 1.1)
    gear = kind != "fighter" or rng.random() < 0.5
    g_h = R * u(0.9, 1.3) if gear else 0.0
    z0 = g_h + R          # fuselage axis height
    rings = rings + (0, 0, z0)
    m.add("primary", P.loft(rings))
    k = len(ts) - 6      # nose rows: cockpit glazing on the upper front
    m.add("glass", P.patch(rings[k:k + 3, 3:8], 0.03 * R, (0, 0, z0)))

    high = kind == "turboprop" or (kind == "light" and rng.random() < 0.6)
    span, c0, c1, sweep, dih, wx = (u(*rg) for rg in WINGS[kind])
    span, c0, c1, wx = span * Lf, c0 * Lf, c1 * Lf, wx * Lf
    wz = {"fighter": z0, "airliner": z0 - 0.55 * R}.get(kind, z0 + (0.85 if high else -0.6) * R)
    wing_dir = (0, math.cos(math.radians(dih)), math.sin(math.radians(dih)))
    _pair(m, "primary", surface((wx, 0.3 * R, wz), wing_dir, span / 2, c0, c1, sweep, 0.1))

    def wing_le(y):   # leading edge (x, z) at span station y
        return (wx - (y - 0.3 * R) * math.tan(math.radians(sweep)),
                wz + (y - 0.3 * R) * math.tan(math.radians(dih)))

    t_tail = _tail(m, rng, kind, Lf, R, z0)
    if kind in ("airliner", "turboprop"):
        _engines(m, rng, kind, Lf, R, z0, span, wing_le, t_tail and kind == "airliner")
        _windows(m, R, -Lf * 0.3, Lf * 0.38, u(0.8, 1.2) * R * 0.35, z0, 0.3 * R, R * 0.07)
    elif kind == "light":
        _prop(m, rng, (Lf / 2 - 0.05, 0, z0), R * 2.5, int(rng.integers(2, 4)))
    else:   # fighter: intakes, nozzle, canopy
        _pair(m, "secondary", P.box((Lf * 0.3, R * 0.6, R * 1.1), (Lf * 0.02, R * 1.05, z0 - 0.1 * R)))
        m.add("rubber", P.cylinder(R * 0.55, 0.5, (-Lf / 2 + 0.1, 0, z0 + 0.2 * R), (1, 0, 0), 16))
        m.add("glass", P.superquadric((Lf * 0.1, R * 0.55, R * 0.6), 0.8, 0.8, 16, 8, (Lf * 0.27, 0, z0 + 0.7 * R)))
    if gear:
        rg = g_h * 0.35
        _gear(m, Lf * 0.38, 0, z0 - R * 0.9, rg)
        my = R * 1.2 if high or kind == "light" else R * 1.6
        lo, hi = m.bounds()
        xm = min(wing_le(my)[0] - c0 * 0.6, (lo[0] + hi[0]) / 2 - 0.03 * Lf)
        for sy in (-1, 1):   # main gear behind the middle: it sits on its wheels, not its tail
            _gear(m, xm, sy * my, z0 - R * 0.5, rg)
