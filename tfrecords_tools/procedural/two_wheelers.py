"""Bicycles and motorbikes, laid out in the XZ side plane. Front wheel +X, ground z=0, metres."""
from __future__ import annotations

import math

import numpy as np

from . import parts as P

Y = np.array([0.0, 1.0, 0.0])


def _spoked_wheel(m, hub, R, tr, n_spokes, rng):
    """Thin tyre, rim, laced spokes and hub, axle along Y."""
    hub = np.asarray(hub, float)
    turn = P.rot_x(math.pi / 2)
    m.add("rubber", P.torus(R - tr, tr, 36, 6).moved(hub, turn))
    rim_r = R - 2 * tr
    m.add("metal", P.torus(rim_r, 0.008, 36, 4).moved(hub, turn @ P.scale(1, 1, 1.8)))
    m.add("metal", P.cylinder(0.02, 0.1, hub, Y, 8))
    a = rng.uniform(0, P.TAU) + np.arange(n_spokes) * P.TAU / n_spokes
    side = np.where(np.arange(n_spokes) % 2, 0.03, -0.03)     # laced to alternate hub flanges
    starts = hub + np.outer(side, Y)
    ends = hub + rim_r * np.stack([np.cos(a), np.zeros(n_spokes), np.sin(a)], 1)
    m.add("metal", P.rods(starts, ends, 0.0018, 3))


def _handlebar(kind, stem, width):
    """(bar polylines, grip segments) for drop, swept-back or flat bars clamped at `stem`."""
    x, _, z = stem
    if kind == "drop":
        dx = [0.0, 0.0, 0.06, 0.1, 0.11, 0.08, 0.0, -0.05]
        dy = [0.0, 0.19] + [0.21] * 6
        dz = [0, 0, 0, -0.02, -0.08, -0.13, -0.15, -0.14]
        return [np.stack([x + np.array(dx), s * np.array(dy), z + np.array(dz)], 1) for s in (-1, 1)], []
    if kind == "swept":
        lines = [np.array([[x, 0, z], [x + 0.05, s * 0.12, z + 0.04], [x - 0.05, s * width * 0.8, z + 0.05],
                           [x - 0.15, s * width, z + 0.04]]) for s in (-1, 1)]
        return lines, [(line[-1] + (0.1, 0, 0), line[-1]) for line in lines]
    ends = [np.array([x, s * width, z]) for s in (-1, 1)]
    return [np.array([ends[0], [x, 0, z + 0.01], ends[1]])], [(e - np.sign(e[1]) * 0.1 * Y, e) for e in ends]


def bicycle(rng, m):
    u = rng.uniform
    kind = ("road", "mtb", "city")[rng.integers(3)]
    R = u(0.31, 0.35)
    tr = {"road": u(0.011, 0.015), "mtb": u(0.022, 0.03), "city": u(0.016, 0.02)}[kind]
    wb = u(0.97, 1.1)
    rear, front = np.array([-wb / 2, 0, R]), np.array([wb / 2, 0, R])
    # diamond frame from bottom bracket, seat-tube and head-tube angles
    bb = rear + (u(0.4, 0.45), 0, -u(0.05, 0.08))
    sa, ha = math.radians(u(71, 75)), math.radians(u(69, 73))
    st_dir, ht_dir = np.array([-math.cos(sa), 0, math.sin(sa)]), np.array([-math.cos(ha), 0, math.sin(ha)])
    st_top = bb + u(0.45, 0.56) * st_dir
    ht_bot = front + u(0.37, 0.42) * ht_dir - (0.04, 0, 0)
    ht_top = ht_bot + u(0.11, 0.18) * ht_dir
    fr = u(0.012, 0.02)
    seat_lug = st_top - 0.03 * st_dir
    frame = [P.tube(ht_bot, ht_top + 0.02 * ht_dir, fr * 1.3, seg=10),
             P.tube(bb, ht_bot, fr + (u(0.0, 0.02) if kind == "mtb" else 0.0), seg=10),
             P.tube(bb, st_top, fr, seg=10),
             P.box((0.04, 0.12, 0.03), ht_bot - 0.01 * ht_dir, P.z_to(ht_dir))]
    if kind == "city" and rng.random() < 0.6:    # step-through
        low = np.array([ht_bot + 0.3 * (ht_top - ht_bot), ht_bot * 0.4 + bb * 0.6 + (0, 0, 0.05),
                        bb + 0.25 * (st_top - bb)])
        frame.append(P.sweep(low, fr + 0.003, 10))
    else:
        frame.append(P.tube(seat_lug, ht_top, fr * 0.9, seg=10))
    fork_r = fr * (1.2 if kind == "mtb" else 0.8)
    for sy in (-1, 1):   # chain stays, seat stays, fork blades
        hub = rear + 0.06 * sy * Y
        frame += [P.tube(bb + 0.03 * sy * Y, hub, fr * 0.6, seg=8),
                  P.tube(seat_lug + 0.02 * sy * Y, hub, fr * 0.5, seg=8),
                  P.tube(ht_bot + 0.04 * sy * Y, front + 0.05 * sy * Y, fork_r, seg=8)]
    m.add("primary", *frame)
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
    lines, grips = _handlebar({"road": "drop", "mtb": "flat", "city": "swept"}[kind], stem_end, u(0.28, 0.36))
    m.add("metal", *(P.sweep(line, 0.011, 8) for line in lines))
    m.add("rubber", *(P.tube(a, b, 0.015, seg=8) for a, b in grips))
    # drivetrain: chainring, cranks, pedals, chain
    ring_r = u(0.08, 0.11)
    m.add("metal", P.cylinder(ring_r, 0.006, bb + 0.06 * Y, Y, 24))
    a = rng.uniform(0, P.TAU)
    for sy, da in ((1, 0.0), (-1, math.pi)):
        pedal = bb + 0.17 * np.array([math.cos(a + da), 0, math.sin(a + da)]) + 0.08 * sy * Y
        m.add("metal", P.bar(bb + 0.075 * sy * Y, pedal, 0.025, 0.012))
        m.add("rubber", P.box((0.1, 0.09, 0.02), pedal + 0.055 * sy * Y))
    for dz in (ring_r, -ring_r):
        m.add("rubber", P.tube(bb + (0, 0.06, dz), rear + (0, 0.06, dz * 0.35), 0.004, seg=4))
    if kind == "city":   # mudguards
        for hub, (a0, a1) in ((rear, (0.1, 0.95)), (front, (0.05, 0.85))):
            arc = P.arc(hub, R + 0.015, a0 * math.pi, a1 * math.pi, 14)
            m.add("primary", P.sweep(arc, 0.022, 8).moved(m=P.scale(1, 1.6, 1)))


def _scooter_body(m, R, rear, front, crown, rake):
    """Floorboard, leg shield, enclosed rear body, seat and front mudguard."""
    m.add("primary", P.box((0.5, 0.3, 0.06), (0.0, 0, R * 0.8)))
    half_h = (crown[2] - 0.25) / 2
    m.add("primary", P.superquadric((0.06, 0.22, half_h), 0.3, 0.5, 20, 8, (front[0] - 0.28, 0, 0.25 + half_h),
                                    P.rot_y(-rake)))
    m.add("primary", P.superquadric((0.38, 0.19, 0.2), 0.45, 0.5, 24, 10, (rear[0] + 0.18, 0, R + 0.28)))
    m.add("accent", P.superquadric((0.3, 0.14, 0.05), 0.3, 0.4, 20, 8, (rear[0] + 0.2, 0, R + 0.5)))
    m.add("primary", P.sweep(P.arc(front, R + 0.04, 0.1 * math.pi, 0.7 * math.pi, 10), 0.05, 8))


def _front_end(m, rng, kind, front, crown, tw):
    """Fork legs, yoke, handlebar with grips and mirrors, headlamp."""
    for sy in (-1, 1):
        m.add("metal", P.tube(front + tw * 0.45 * sy * Y, crown + 0.09 * sy * Y, 0.022, seg=10))
    m.add("secondary", P.box((0.08, 0.26, 0.05), crown))
    bar_w = rng.uniform(0.3, 0.4)
    back, rise = {"cruiser": (0.2, 0.2), "sport": (0.02, -0.02)}.get(kind, (0.08, 0.08))
    x, z = crown[0], crown[2] + rise
    bar = np.array([[x - back, -bar_w, z], [x + 0.02, -0.1, z - 0.02], [x + 0.02, 0.1, z - 0.02], [x - back, bar_w, z]])
    m.add("metal", P.sweep(bar, 0.012, 8))
    for end in (bar[0], bar[3]):
        inward = -np.sign(end[1]) * Y
        m.add("rubber", P.tube(end + 0.12 * inward, end, 0.018, seg=8))
        m.add("metal", P.tube(end + 0.14 * inward, end + 0.1 * inward + (0, 0, 0.2), 0.005, seg=4))
        m.add("glass", P.box((0.02, 0.08, 0.05), end + 0.1 * inward + (0, 0, 0.22)))
    lamp = crown + (0.1, 0, -0.05)
    shell = P.lathe([0.0, 0.08, 0.09, 0.09], [0, 0.0, 0.05, 0.1], 16)
    m.add("secondary", shell.moved(lamp - (0.05, 0, 0), P.rot_y(math.pi / 2)))
    m.add("light", P.cylinder(0.085, 0.01, lamp + (0.055, 0, 0), (1, 0, 0), 16))


def motorbike(rng, m):
    u = rng.uniform
    kind = ("sport", "cruiser", "naked", "dirt", "scooter")[rng.integers(5)]
    R = {"scooter": u(0.2, 0.26), "dirt": u(0.33, 0.38)}.get(kind, u(0.29, 0.33))
    tw = R * (u(0.35, 0.45) if kind in ("cruiser", "scooter") else u(0.25, 0.4))
    wb = {"scooter": u(1.25, 1.35), "cruiser": u(1.55, 1.7)}.get(kind, u(1.35, 1.5))
    rear, front = np.array([-wb / 2, 0, R]), np.array([wb / 2, 0, R])
    for hub in (rear, front):
        tyre, rim = P.wheel(R, tw, u(0.2, 0.3), 28, 0.6)
        m.add("rubber", tyre.moved(hub))
        m.add("metal", rim.moved(hub))
    m.add("metal", P.cylinder(R * 0.55, 0.01, front + tw * 0.35 * Y, Y, 24))    # brake disc
    rake = math.radians(u(30, 36) if kind == "cruiser" else u(24, 30))
    axis = np.array([-math.sin(rake), 0, math.cos(rake)])
    head_h = u(1.05, 1.2) if kind == "dirt" else u(0.85, 1.05)
    crown = front + (head_h - R) / axis[2] * axis
    _front_end(m, rng, kind, front, crown, tw)
    if kind == "scooter":
        _scooter_body(m, R, rear, front, crown, rake)
        return
    # engine between the wheels, tank above it, seat and tail behind
    e0, e1 = rear[0] + wb * 0.38, front[0] - wb * 0.3
    ez0, ez1 = u(0.22, 0.3), u(0.55, 0.65)
    ec = np.array([(e0 + e1) / 2, 0, ez1])
    m.add("metal", P.box((e1 - e0, 0.32, ez1 - ez0), ((e0 + e1) / 2, 0, (ez0 + ez1) / 2)))
    if kind == "cruiser":   # V-twin cylinders
        for s in (-1, 1):
            m.add("metal", P.tube(ec, ec + (s * 0.18, 0, 0.25), 0.07, 0.06, 12))
    else:
        m.add("metal", P.box((0.22, 0.3, 0.14), ec + (0.05, 0, 0.07)))
    tank_c = np.array([crown[0] - 0.35, 0, crown[2] - 0.05])
    m.add("primary", P.superquadric((u(0.22, 0.3), u(0.14, 0.18), u(0.1, 0.14)), 0.6, 0.7, 24, 10, tank_c))
    seat_z = {"cruiser": u(0.65, 0.72), "dirt": u(0.9, 0.95)}.get(kind, u(0.78, 0.86))
    sx0, sx1 = rear[0] + 0.1, tank_c[0] - 0.2
    m.add("accent", P.superquadric(((sx1 - sx0) / 2, 0.15, 0.05), 0.3, 0.4, 20, 8, ((sx0 + sx1) / 2, 0, seat_z)))
    tz = seat_z - 0.05
    tail_x, tail_z = rear[0] - (0.3 if kind == "sport" else 0.15), tz + (0.12 if kind == "sport" else 0.02)
    tail = np.array([[sx1, -0.13, tz - 0.18], [rear[0] - 0.05, -0.06, tz - 0.05], [rear[0] - 0.05, 0.06, tz - 0.05],
                     [sx1, 0.13, tz - 0.18], [sx1, -0.13, tz], [tail_x, -0.05, tail_z], [tail_x, 0.05, tail_z],
                     [sx1, 0.13, tz]])
    m.add("primary", P.hexa(tail))
    m.add("signal", P.box((0.02, 0.12, 0.04), (tail_x - 0.005, 0, tail_z - 0.04)))
    m.add("secondary", P.bar((e1 - 0.05, 0, ez1), crown - (0.02, 0, 0.05), 0.06),
          P.bar((e0, 0, ez1), (sx0, 0, tz - 0.1), 0.05))
    for sy in (-1, 1):   # swing arm and shocks
        m.add("secondary", P.bar((e0, sy * 0.12, ez0 + 0.1), rear + sy * (tw * 0.5 + 0.03) * Y, 0.05, 0.04))
        m.add("metal", P.tube(rear + (0.12, sy * 0.14, 0.05), (sx0 + 0.1, sy * 0.12, tz - 0.08), 0.025, seg=8))
    high_pipe = kind in ("sport", "dirt")
    end = (rear[0] + 0.15, 0.2, tz - 0.15 if high_pipe else 0.3)
    path = np.array([[e1, 0.12, ez0 + 0.1], [e1 - 0.1, 0.18, 0.2], [e0, 0.2, 0.22], end])
    muffler = np.add(end, (-0.38, 0, 0.06 if high_pipe else 0.0))
    m.add("metal", P.sweep(path, 0.03, 8), P.tube(end, muffler, 0.05, 0.04, 12))
    if kind == "dirt":   # high front mudguard
        arc = P.arc(front, R + 0.12, 0.3 * math.pi, 0.85 * math.pi, 10)
    else:
        arc = P.arc(front, R + 0.03, 0.15 * math.pi, 0.75 * math.pi, 10)
    m.add("primary", P.sweep(arc, tw * 0.45, 8))
    if kind in ("cruiser", "naked"):
        m.add("primary", P.sweep(P.arc(rear, R + 0.03, 0.3 * math.pi, 0.95 * math.pi, 10), tw * 0.5, 8))
    if kind == "sport":   # fairing, screen, belly pan
        fc = crown + (0.05, 0, -0.15)
        m.add("primary", P.superquadric((0.3, 0.24, 0.22), 0.6, 0.6, 24, 10, fc, P.rot_y(-0.35)))
        screen = P.superquadric((0.12, 0.17, 0.02), 0.6, 0.6, 16, 6)
        m.add("glass", screen.moved(fc + (-0.12, 0, 0.24), P.rot_y(math.radians(55))))
        m.add("primary", P.superquadric((0.35, 0.17, 0.16), 0.5, 0.6, 20, 8, ((e0 + e1) / 2, 0, (ez0 + ez1) / 2 + 0.1)))
