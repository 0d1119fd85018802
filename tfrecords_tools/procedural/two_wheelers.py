"""Bicycles and motorbikes in the XZ side plane. Front wheel +X, ground z=0, metres."""
from __future__ import annotations

import math

import numpy as np

from . import parts as P


def _spoked_wheel(m, hub, R, tr, n_spokes, rng):
    """Thin tyre, rim, laced spokes and hub, axle along Y."""
    hub = np.asarray(hub, float)
    turn = P.rot_x(math.pi / 2)
    m.add("rubber", P.torus(R - tr, tr, 36, 6).moved(hub, turn))
    rim_r = R - 2 * tr
    m.add("metal", P.torus(rim_r, 0.008, 36, 4).moved(hub, turn @ P.scale(1, 1, 1.8)))
    m.add("metal", P.cylinder(0.02, 0.1, hub, (0, 1, 0), 8))
    a = rng.uniform(0, P.TAU) + np.arange(n_spokes) * P.TAU / n_spokes
    side = np.where(np.arange(n_spokes) % 2, 0.03, -0.03)
    starts = hub + np.stack([np.zeros(n_spokes), side, np.zeros(n_spokes)], 1)
    ends = hub + rim_r * np.stack([np.cos(a), np.zeros(n_spokes), np.sin(a)], 1)
    m.add("metal", P.rods(starts, ends, 0.0018, 3))


def _handlebar(kind, stem, width):
    """Polylines (in bike coordinates) for flat, drop or swept-back bars."""
    x, _, z = stem
    if kind == "drop":
        half = [(0.0, 0), (0.0, 0.19), (0.06, 0.21), (0.1, 0.21), (0.11, 0.21), (0.08, 0.21), (0.0, 0.21), (-0.05, 0.21)]
        zs = [0, 0, 0, -0.02, -0.08, -0.13, -0.15, -0.14]
        return [np.array([[x + dx, s * y, z + dz] for (dx, y), dz in zip(half, zs)]) for s in (-1, 1)]
    if kind == "swept":
        return [np.array([[x, 0, z], [x + 0.05, s * 0.12, z + 0.04], [x - 0.05, s * width * 0.8, z + 0.05],
                          [x - 0.15, s * width, z + 0.04]]) for s in (-1, 1)]
    return [np.array([[x, -width, z], [x, 0, z + 0.01], [x, width, z]])]


def bicycle(rng, m):
    u = rng.uniform
    kind = ("road", "mtb", "city")[rng.integers(3)]
    R = u(0.31, 0.35)
    tr = {"road": u(0.011, 0.015), "mtb": u(0.022, 0.03), "city": u(0.016, 0.02)}[kind]
    wb = u(0.97, 1.1)
    rear, front = np.array([-wb / 2, 0, R]), np.array([wb / 2, 0, R])
    bb = rear + (u(0.4, 0.45), 0, -u(0.05, 0.08))
    sa, ha = math.radians(u(71, 75)), math.radians(u(69, 73))
    st_dir, ht_dir = np.array([-math.cos(sa), 0, math.sin(sa)]), np.array([-math.cos(ha), 0, math.sin(ha)])
    st_top = bb + u(0.45, 0.56) * st_dir
    ht_bot = front + u(0.37, 0.42) * ht_dir - (0.04, 0, 0)
    ht_top = ht_bot + u(0.11, 0.18) * ht_dir
    fr, tw = u(0.012, 0.02), (u(0.0, 0.02) if kind == "mtb" else 0.0)
    frame = m.parts.setdefault("primary", [])
    frame.append(P.tube(ht_bot, ht_top + 0.02 * ht_dir, fr * 1.3, seg=10))
    frame.append(P.tube(bb, ht_bot, fr + tw, seg=10))
    frame.append(P.tube(bb, st_top, fr, seg=10))
    if kind == "city" and rng.random() < 0.6:    # step-through
        frame.append(P.sweep(np.array([ht_bot + 0.3 * (ht_top - ht_bot), ht_bot * 0.4 + bb * 0.6 + (0, 0, 0.05),
                                       bb + 0.25 * (st_top - bb)]), fr + 0.003, 10))
    else:
        frame.append(P.tube(st_top - 0.03 * st_dir, ht_top, fr * 0.9, seg=10))
    for sy in (-1, 1):
        hub = rear + (0, sy * 0.06, 0)
        frame.append(P.tube(bb + (0, sy * 0.03, 0), hub, fr * 0.6, seg=8))
        frame.append(P.tube(st_top - 0.03 * st_dir + (0, sy * 0.02, 0), hub, fr * 0.5, seg=8))
        frame.append(P.tube(ht_bot + (0, sy * 0.04, 0), front + (0, sy * 0.05, 0), fr * (1.2 if kind == "mtb" else 0.8), seg=8))
    frame.append(P.box((0.04, 0.12, 0.03), ht_bot - 0.01 * ht_dir, P.z_to(ht_dir)))
    for hub in (rear, front):
        _spoked_wheel(m, hub, R, tr, int(rng.choice([16, 24, 28, 32])), rng)
    # seat post and saddle
    post_top = st_top + u(0.08, 0.2) * st_dir
    m.add("metal", P.tube(st_top, post_top, fr * 0.75, seg=8))
    sd = (u(0.12, 0.14), u(0.06, 0.09), 0.025) if kind != "city" else (0.13, 0.11, 0.04)
    m.add("accent", P.superquadric(sd, 0.5, 0.6, 16, 6, post_top + (0.02, 0, sd[2]), P.rot_y(-0.05)))
    # stem and bars
    stem_base = ht_top + 0.03 * ht_dir
    stem_end = stem_base + (u(0.06, 0.12), 0, u(0.0, 0.1) if kind != "road" else 0.01)
    m.add("metal", P.tube(ht_top, stem_base, fr, seg=8), P.tube(stem_base, stem_end, fr * 0.8, seg=8))
    bars = {"road": "drop", "mtb": "flat", "city": "swept"}[kind]
    for line in _handlebar(bars, stem_end, u(0.28, 0.36)):
        m.add("metal", P.sweep(line, 0.011, 8))
    for s in ((-1, 1) if bars != "drop" else ()):   # grips
        end = _handlebar(bars, stem_end, u(0.28, 0.36))[0 if bars == "flat" else (s + 1) // 2]
        tip = end[-1] if (bars != "flat" or s > 0) else end[0]
        m.add("rubber", P.tube(tip - (0, np.sign(tip[1]) * 0.1, 0) if bars == "flat" else tip + (0.1, 0, 0), tip, 0.015, seg=8))
    # drivetrain: chainring, cranks, pedals, chain
    ring_r = u(0.08, 0.11)
    m.add("metal", P.cylinder(ring_r, 0.006, bb + (0, 0.06, 0), (0, 1, 0), 24))
    a = rng.uniform(0, P.TAU)
    for sy, da in ((1, 0.0), (-1, math.pi)):
        d = np.array([math.cos(a + da), 0, math.sin(a + da)])
        pedal = bb + 0.17 * d + (0, sy * 0.08, 0)
        m.add("metal", P.bar(bb + (0, sy * 0.075, 0), pedal, 0.025, 0.012))
        m.add("rubber", P.box((0.1, 0.09, 0.02), pedal + (0, sy * 0.055, 0)))
    for dz in (ring_r, -ring_r):
        m.add("rubber", P.tube(bb + (0, 0.06, dz), rear + (0, 0.06, dz * 0.35), 0.004, seg=4))
    if kind == "city":   # fenders
        for hub in (rear, front):
            a0, a1 = (0.1 * math.pi, 0.95 * math.pi) if hub is rear else (0.05 * math.pi, 0.85 * math.pi)
            path = P.arc(hub, R + 0.015, a0, a1, 14)
            m.add("primary", P.sweep(path, 0.022, 8).moved(m=P.scale(1, 1.6, 1)))


def motorbike(rng, m):
    u = rng.uniform
    kind = ("sport", "cruiser", "naked", "dirt", "scooter")[rng.integers(5)]
    R = u(0.2, 0.26) if kind == "scooter" else (u(0.33, 0.38) if kind == "dirt" else u(0.29, 0.33))
    tw = R * (u(0.35, 0.45) if kind in ("cruiser", "scooter") else u(0.25, 0.4))
    wb = u(1.25, 1.35) if kind == "scooter" else (u(1.55, 1.7) if kind == "cruiser" else u(1.35, 1.5))
    rear, front = np.array([-wb / 2, 0, R]), np.array([wb / 2, 0, R])
    for hub in (rear, front):
        tyre, rim = P.wheel(R, tw, u(0.2, 0.3), 28, 0.6)
        m.add("rubber", tyre.moved(hub))
        m.add("metal", rim.moved(hub))
    m.add("metal", P.cylinder(R * 0.55, 0.01, front + (0, tw * 0.35, 0), (0, 1, 0), 24))
    rake = math.radians(u(24, 30) if kind != "cruiser" else u(30, 36))
    ax = np.array([-math.sin(rake), 0, math.cos(rake)])
    head_h = u(0.85, 1.05) if kind != "dirt" else u(1.05, 1.2)
    crown = front + (head_h - R) / ax[2] * ax
    for sy in (-1, 1):
        m.add("metal", P.tube(front + (0, sy * tw * 0.45, 0), crown + (0, sy * 0.09, 0), 0.022, seg=10))
    m.add("secondary", P.box((0.08, 0.26, 0.05), crown))
    bar_w = u(0.3, 0.4)
    back = {"cruiser": 0.2, "sport": 0.02}.get(kind, 0.08)
    bar_z = crown[2] + ({"cruiser": 0.2, "sport": -0.02}.get(kind, 0.08))
    bar = np.array([[crown[0], -bar_w, bar_z], [crown[0] + 0.02, -0.1, bar_z - 0.02], [crown[0] + 0.02, 0.1, bar_z - 0.02], [crown[0], bar_w, bar_z]])
    bar[[0, 3], 0] -= back
    m.add("metal", P.sweep(bar, 0.012, 8))
    for end in (bar[0], bar[3]):
        inward = np.array([0.0, -np.sign(end[1]), 0.0])
        m.add("rubber", P.tube(end + 0.12 * inward, end, 0.018, seg=8))
        m.add("metal", P.tube(end + 0.14 * inward, end + 0.1 * inward + (0, 0, 0.2), 0.005, seg=4))
        m.add("glass", P.box((0.02, 0.08, 0.05), end + 0.1 * inward + (0, 0, 0.22)))
    light_c = crown + (0.1, 0, -0.05)
    m.add("secondary", P.lathe([0.0, 0.08, 0.09, 0.09], [0, 0.0, 0.05, 0.1], 16).moved(light_c - (0.05, 0, 0), P.rot_y(math.pi / 2)))
    m.add("light", P.cylinder(0.085, 0.01, light_c + (0.055, 0, 0), (1, 0, 0), 16))

    if kind == "scooter":   # floorboard, leg shield, enclosed rear body
        m.add("primary", P.box((0.5, 0.3, 0.06), (0.0, 0, R * 0.8)))
        m.add("primary", P.superquadric((0.06, 0.22, (crown[2] - 0.25) / 2), 0.3, 0.5, 20, 8, (front[0] - 0.28, 0, 0.25 + (crown[2] - 0.25) / 2), P.rot_y(-rake)))
        m.add("primary", P.superquadric((0.38, 0.19, 0.2), 0.45, 0.5, 24, 10, (rear[0] + 0.18, 0, R + 0.28)))
        m.add("accent", P.superquadric((0.3, 0.14, 0.05), 0.3, 0.4, 20, 8, (rear[0] + 0.2, 0, R + 0.5)))
        m.add("primary", P.sweep(P.arc(front, R + 0.04, 0.1 * math.pi, 0.7 * math.pi, 10), 0.05, 8))
        return
    # engine, tank, seat, tail
    e0, e1 = rear[0] + wb * 0.38, front[0] - wb * 0.3
    ez0, ez1 = u(0.22, 0.3), u(0.55, 0.65)
    m.add("metal", P.box((e1 - e0, 0.32, ez1 - ez0), ((e0 + e1) / 2, 0, (ez0 + ez1) / 2)))
    if kind == "cruiser":   # V-twin cylinders
        for d, s in ((-0.5, -1), (0.5, 1)):
            base = np.array([(e0 + e1) / 2, 0, ez1])
            m.add("metal", P.tube(base, base + (s * 0.18, 0, 0.25), 0.07, 0.06, 12))
    else:
        m.add("metal", P.box((0.22, 0.3, 0.14), ((e0 + e1) / 2 + 0.05, 0, ez1 + 0.07)))
    tank_c = np.array([crown[0] - 0.35, 0, crown[2] - 0.05])
    m.add("primary", P.superquadric((u(0.22, 0.3), u(0.14, 0.18), u(0.1, 0.14)), 0.6, 0.7, 24, 10, tank_c))
    seat_z = {"cruiser": u(0.65, 0.72), "dirt": u(0.9, 0.95)}.get(kind, u(0.78, 0.86))
    seat_x0, seat_x1 = rear[0] + 0.1, tank_c[0] - 0.2
    m.add("accent", P.superquadric(((seat_x1 - seat_x0) / 2, 0.15, 0.05), 0.3, 0.4, 20, 8, ((seat_x0 + seat_x1) / 2, 0, seat_z)))
    tz = seat_z - 0.05
    tail = np.array([[seat_x1, -0.13, tz - 0.18], [rear[0] - 0.05, -0.06, tz - 0.05], [rear[0] - 0.05, 0.06, tz - 0.05], [seat_x1, 0.13, tz - 0.18],
                     [seat_x1, -0.13, tz], [rear[0] - 0.15 - (0.15 if kind == "sport" else 0), -0.05, tz + (0.12 if kind == "sport" else 0.02)],
                     [rear[0] - 0.15 - (0.15 if kind == "sport" else 0), 0.05, tz + (0.12 if kind == "sport" else 0.02)], [seat_x1, 0.13, tz]])
    m.add("primary", P.hexa(tail))
    m.add("signal", P.box((0.02, 0.12, 0.04), (tail[5, 0] - 0.005, 0, tail[5, 2] - 0.04)))
    m.add("secondary", P.bar((e1 - 0.05, 0, ez1), crown - (0.02, 0, 0.05), 0.06), P.bar((e0, 0, ez1), (seat_x0, 0, tz - 0.1), 0.05))
    for sy in (-1, 1):   # swing arm and shocks
        pivot = np.array([e0, sy * 0.12, ez0 + 0.1])
        m.add("secondary", P.bar(pivot, rear + (0, sy * (tw * 0.5 + 0.03), 0), 0.05, 0.04))
        m.add("metal", P.tube(rear + (0.12, sy * 0.14, 0.05), (seat_x0 + 0.1, sy * 0.12, tz - 0.08), 0.025, seg=8))
    ex = {"sport": 1.0, "dirt": 1.0}.get(kind, -1.0)
    path = np.array([[e1, 0.12, ez0 + 0.1], [e1 - 0.1, 0.18, 0.2], [e0, 0.2, 0.22], [rear[0] + 0.15, 0.2, 0.3 if ex < 0 else tz - 0.15]])
    m.add("metal", P.sweep(path, 0.03, 8))
    m.add("metal", P.tube(path[-1], path[-1] + (-0.38, 0, 0.06 if ex > 0 else 0.0), 0.05, 0.04, 12))
    fr_r, a0, a1 = (R + 0.12, 0.3 * math.pi, 0.85 * math.pi) if kind == "dirt" else (R + 0.03, 0.15 * math.pi, 0.75 * math.pi)
    m.add("primary", P.sweep(P.arc(front, fr_r, a0, a1, 10), tw * 0.45, 8))
    if kind in ("cruiser", "naked"):
        m.add("primary", P.sweep(P.arc(rear, R + 0.03, 0.3 * math.pi, 0.95 * math.pi, 10), tw * 0.5, 8))
    if kind == "sport":   # fairing and screen
        fc = crown + (0.05, 0, -0.15)
        m.add("primary", P.superquadric((0.3, 0.24, 0.22), 0.6, 0.6, 24, 10, fc, P.rot_y(-0.35)))
        m.add("glass", P.superquadric((0.12, 0.17, 0.02), 0.6, 0.6, 16, 6, fc + (-0.12, 0, 0.24), P.rot_y(math.radians(55))))
        m.add("primary", P.superquadric((0.35, 0.17, 0.16), 0.5, 0.6, 20, 8, ((e0 + e1) / 2, 0, (ez0 + ez1) / 2 + 0.1)))
