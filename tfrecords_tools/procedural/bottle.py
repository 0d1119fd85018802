"""Bottles as surfaces of revolution (round) or lofted rounded squares (spirits/flasks):
body, shoulder, neck, lip, cap and a label band. Base at z=0, metres."""
from __future__ import annotations

import math

import numpy as np

from . import parts as P

SEG = 28


# ranges of: height (m), radius / height, neck radius / radius, body / height, shoulder / height
SHAPES = {
    "wine": ((0.28, 0.34), (0.11, 0.14), (0.32, 0.4), (0.55, 0.65), (0.1, 0.16)),
    "beer": ((0.2, 0.25), (0.12, 0.15), (0.35, 0.42), (0.45, 0.55), (0.15, 0.22)),
    "soda": ((0.22, 0.33), (0.13, 0.17), (0.4, 0.5), (0.5, 0.65), (0.12, 0.2)),
    "spirits": ((0.2, 0.3), (0.15, 0.22), (0.3, 0.4), (0.6, 0.72), (0.05, 0.1)),
    "stubby": ((0.18, 0.24), (0.18, 0.24), (0.3, 0.45), (0.6, 0.7), (0.1, 0.16)),
}


def _profile(rng, kind):
    """(r, z) of the outer profile from the base centre up to the mouth."""
    H, R, rn, body, shoulder = (rng.uniform(*rg) for rg in SHAPES[kind])
    R *= H
    rn *= R
    body *= H
    shoulder *= H
    s = np.linspace(0, 1, 9)[1:]
    r = [0.0, R * 0.96, R]
    z = [0.0, 0.0, R * 0.04]
    if kind == "soda":   # moulded ribs
        for t in np.linspace(0.1, 0.95, 10)[1:]:
            r.append(R * (0.93 if len(r) % 2 else 1.0))
            z.append(body * t)
    r += [R]
    z += [body]
    bulge = 0.5 if kind in ("wine", "spirits", "stubby") else 1.0
    r += list(rn + (R - rn) * (1 - s ** (1 + bulge)) ** 0.8 * (1 - s))
    z += list(body + shoulder * s)
    top = H
    r += [rn, rn * 1.12, rn * 1.12]
    z += [top - H * 0.05, top - H * 0.05, top - H * 0.02]
    return np.array(r), np.array(z), R, rn, body, top


def bottle(rng, m):
    kind = ("wine", "beer", "soda", "spirits", "wine", "stubby")[rng.integers(6)]
    r, z, R, rn, body, top = _profile(rng, kind)
    start = math.pi   # texture seam at the back (-X)
    ang = start + np.linspace(0, P.TAU, SEG, endpoint=False)
    if kind == "spirits" and rng.random() < 0.6:   # square section: loft rounded squares
        e = rng.uniform(0.25, 0.5)
        section = np.stack([np.sign(np.cos(ang)) * np.abs(np.cos(ang)) ** e,
                            np.sign(np.sin(ang)) * np.abs(np.sin(ang)) ** e], 1)
        zs = body + 0.3 * (top - body)
        rings = [np.c_[ri * section, np.full(SEG, zi)] for ri, zi in zip(r, z) if zi <= body]
        m.add("primary", P.loft(rings + [np.c_[rn * section, np.full(SEG, zs)]]))
        m.add("primary", P.lathe(np.r_[rn, r[-3:]], np.r_[zs - 0.002, z[-3:]], SEG, start))
    else:
        section = np.stack([np.cos(ang), np.sin(ang)], 1)
        m.add("primary", P.lathe(r, z, SEG, start))
    # label: an open band just proud of the body
    z0, z1 = body * rng.uniform(0.2, 0.4), body * rng.uniform(0.7, 0.92)
    m.add("secondary", P.loft([np.c_[R * 1.01 * section, np.full(SEG, zz)] for zz in (z0, z1)], False, False))
    # cap, or foil over a cork
    ch = (top - body) * rng.uniform(0.15, 0.35)
    if kind == "wine" and rng.random() < 0.5:
        m.add("accent", P.lathe([rn * 1.15, rn * 1.15, rn * 1.12, 0.0], [top - ch * 2.5, top, top + 0.002, top + 0.002],
                                SEG))
    else:
        cr = rn * (1.25 if kind in ("soda", "stubby") else 1.15)
        z0, z1 = top - ch * 0.5, top + ch * 0.5
        m.add("accent", P.lathe([cr, cr, cr * 0.95, 0.0], [z0, z1, z1 + ch * 0.1, z1 + ch * 0.1], SEG))
