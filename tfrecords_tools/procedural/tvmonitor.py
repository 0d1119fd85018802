"""TVs and monitors: flat panel (TV or desktop monitor) or CRT, dark screen facing +X,
on a stand, feet or a swivel base. Metres, resting on z=0."""
from __future__ import annotations

import math

import numpy as np

from . import parts as P


def _screen_patch(x, hw, z0, z1, bulge, n=6):
    ys, zs = np.linspace(-hw, hw, n), np.linspace(z0, z1, n)
    Y, Z = np.meshgrid(ys, zs, indexing="ij")
    zc, hh = (z0 + z1) / 2, (z1 - z0) / 2
    X = x + bulge * (1 - 0.5 * (Y / hw) ** 2 - 0.5 * ((Z - zc) / hh) ** 2)
    return np.stack([X, Y, Z], -1)


def tvmonitor(rng, m):
    kind = ("tv", "monitor", "crt")[rng.integers(3)]
    u = rng.uniform
    if kind == "crt":
        W, aspect = u(0.35, 0.6), u(1.25, 1.4)
    elif kind == "tv":
        W, aspect = u(0.8, 1.5), (16 / 9 if rng.random() < 0.8 else u(1.4, 2.0))
    else:
        W, aspect = u(0.45, 0.75), (16 / 9, 16 / 10, 21 / 9, 4 / 3)[rng.integers(4)]
    hw, H = W / 2, W / aspect
    bez = W * (u(0.06, 0.12) if kind == "crt" else u(0.008, 0.04))
    bez_b = bez * (u(1.0, 3.0) if kind != "crt" else u(1.0, 1.6))   # chin below the screen
    tilt = math.radians(u(0, 10) if kind == "monitor" else u(0, 3))
    stand = kind != "crt"
    zp = (u(0.05, 0.14) if kind == "tv" else u(0.08, 0.2)) if stand else (u(0.0, 0.03) if kind == "crt" else 0.0)
    z0, z1 = zp, zp + H + bez + bez_b
    R = P.rot_y(-tilt)   # leans back about the panel's bottom edge
    pivot = np.array([0.0, 0.0, z0])
    place = lambda mesh: mesh.moved(pivot - R @ pivot, R)

    if kind == "crt":
        d = W * u(0.08, 0.14)
        ring = P.rrect(hw + bez, z0, z1, bez * 0.5, bez * 0.5, 6)
        m.add("primary", place(P.loft([ring - (d, 0, 0), ring])))
        depth = W * u(0.7, 1.0)
        k = u(0.45, 0.65)
        zc = (z0 + z1) / 2
        shell = P.rrect(hw * 0.98, z0 + bez * 0.2, z1 - bez * 0.2, bez, bez, 5)
        mid = (shell - (0, 0, zc)) * (1, 0.9, 0.9) + (0, 0, zc)
        end = (shell - (0, 0, zc)) * (1, k, k) + (0, 0, zc)
        m.add("primary", place(P.loft([end - (depth, 0, 0), mid - (depth * 0.35, 0, 0), shell - (d * 0.9, 0, 0)])))
        m.add("primary", place(P.superquadric((depth * 0.15, hw * k * 0.8, H / 2 * k * 0.8), 0.5, 0.4, 24, 10,
                                              (-depth, 0, zc))))
        g = _screen_patch(0.0, hw, z0 + bez_b, z1 - bez, W * 0.03, 10)
        m.add("glass", place(P.patch(g, 0.002, (-0.2, 0, (z0 + z1) / 2))))
        # plinth under the tube so the set stands level, not tipped onto its bezel
        ztop = zc - (zc - z0) * 0.85
        m.add("primary", P.box((depth * 0.6, W * u(0.4, 0.7), ztop), (-depth * 0.4, 0, ztop / 2)))
    else:
        t = W * u(0.02, 0.05) if kind == "tv" else u(0.015, 0.03)
        ring = P.rrect(hw, z0, z1, bez * 0.3, bez * 0.3, 6)
        m.add("primary", place(P.loft([ring - (t, 0, 0), ring])))
        bw, bh = hw * u(0.5, 0.85), H * u(0.4, 0.8)
        zc = z0 + (z1 - z0) * 0.45
        tb = t * u(0.8, 2.5)   # rounded back housing
        m.add("primary", place(P.superquadric((tb, bw, bh / 2), 0.3, 0.3, 24, 10, (-tb - 0.2 * t, 0, zc))))
        g = _screen_patch(0.0, hw - bez, z0 + bez_b, z1 - bez, 0.0, 9)
        m.add("glass", place(P.patch(g, 0.002, (-t, 0, zc))))
        m.add("light", place(P.box((0.004, 0.008, 0.004), (0.001, hw * u(-0.8, 0.8), z0 + bez_b * 0.5))))
    if not stand:
        return
    if kind == "tv" and rng.random() < 0.5:    # two splayed feet near the ends
        for sy in (-1, 1):
            y = sy * hw * u(0.6, 0.85)
            top = [[-0.02, y - 0.015, z0 + 0.03], [0.0, y - 0.015, z0 + 0.03], [0.0, y + 0.015, z0 + 0.03],
                   [-0.02, y + 0.015, z0 + 0.03]]
            foot = np.array([[-0.12, y - 0.02, 0], [0.1, y - 0.02, 0], [0.1, y + 0.02, 0], [-0.12, y + 0.02, 0]] + top)
            m.add("secondary", P.hexa(foot))
        return
    bx = -W * u(0.1, 0.2) if kind == "tv" else -u(0.08, 0.14)
    bw = W * u(0.25, 0.5)
    shape = rng.integers(3)
    if shape == 0:
        m.add("secondary", P.cylinder(bw * 0.5, 0.015, (bx * 0.6, 0, 0.0075), seg=32))
    elif shape == 1:
        m.add("secondary", P.superquadric((abs(bx) * 1.2, bw * 0.5, 0.01), 0.3, 0.3, 20, 6, (bx * 0.6, 0, 0.01)))
    else:
        for sy in (-1, 1):
            m.add("secondary", P.tube((bx * 0.5, 0, 0.01), (bx * 0.2 + 0.15, sy * bw * 0.5, 0.01), 0.012, seg=6))
    neck_top = np.array([-0.02 - (0.03 if kind == "tv" else 0.01), 0, z0 + H * 0.4])
    top = R @ (neck_top - pivot) + pivot
    m.add("secondary", P.tube((bx * 0.6, 0, 0.01), top, W * 0.025, W * 0.02, 10))
