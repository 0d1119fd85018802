"""Mesh-building helpers for the procedural generator.

Every builder returns a `Mesh` (see mesh.py) in metres whose solids are closed and
wound counter-clockwise seen from outside, with per-vertex normals and UVs in [0, 1].
Orientation is checked at build time rather than trusted to each caller's
parametrisation, because a single inward part renders as a hole under back-face culling.
"""
from __future__ import annotations

import math

import numpy as np

from .mesh import (MIRROR_Y, TAU, Mesh, Model, face_normals, finish_mesh, merge, planar_uv,  # noqa: F401
                   rot, rot_x, rot_y, rot_z, scale, signed_volume, to_primitive, unit, z_to, cross3)


# ---------------------------------------------------------------- flat pieces

def quad(q, outward, size=None) -> Mesh:
    """A flat four-cornered facet (corners in ring order) facing `outward`."""
    q = np.asarray(q, float)
    nrm = 0.5 * cross3(q[2] - q[0], q[3] - q[1])
    if np.dot(nrm, outward) < 0:
        q, nrm = q[::-1], -nrm
    return Mesh(q, np.array([[0, 1, 2], [0, 2, 3]]), np.tile(unit(nrm), (4, 1)), planar_uv(q, nrm, size))


def fan_cap(ring, outward) -> Mesh:
    """A flat polygon (closing a loft, or a wheel-arch panel) fanned from its centroid."""
    ring = np.asarray(ring, float)
    nrm = 0.5 * np.cross(ring, np.roll(ring, -1, 0)).sum(0)  # Newell vector area
    if np.dot(nrm, outward) < 0:
        ring, nrm = ring[::-1], -nrm
    k = np.arange(len(ring))
    v = np.vstack([ring.mean(0), ring])
    f = np.stack([np.zeros_like(k), k + 1, (k + 1) % len(ring) + 1], 1)
    return Mesh(v, f, np.tile(unit(nrm), (len(v), 1)), planar_uv(v, nrm))


_HEX = ((0, 3, 2, 1), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7))


def hexa(c) -> Mesh:
    """Flat-shaded convex hexahedron: corners 0-3 the bottom ring, 4-7 the top ring above them."""
    c = np.asarray(c, float)
    size = float((c.max(0) - c.min(0)).max())
    return merge([quad(c[list(q)], c[list(q)].mean(0) - c.mean(0), size) for q in _HEX])


def _box_template():
    c = hexa(np.array([[-1, -1, -1], [1, -1, -1], [1, 1, -1], [-1, 1, -1],
                       [-1, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1]], float) / 2)
    # per vertex: which two axes its face's UV follows
    ax = np.array([[i for i in range(3) if abs(n[i]) < 0.5] for n in c.n])
    return c, ax


_BOX, _BOX_AX = _box_template()


def box(size, center=(0.0, 0.0, 0.0), m=None) -> Mesh:
    """Axis-aligned box (then optionally transformed by m); boxes are so common they
    are scaled from a template instead of built facet by facet."""
    size = np.asarray(size, float)
    v = _BOX.v * size
    rel = (v + size / 2) / size.max()
    uv = np.take_along_axis(rel, _BOX_AX, 1)
    if m is None:
        return Mesh(v + np.asarray(center, float), _BOX.f, _BOX.n, uv)
    return Mesh(v, _BOX.f, _BOX.n, uv).moved(center, m)


def bar(p0, p1, w, d=None) -> Mesh:
    """Beam from p0 to p1 with a w by d (default square) cross-section; w stays along world Y
    when the beam lies in the XZ plane (legs, posts, frame members of side-view layouts)."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    a = p1 - p0
    length = float(np.linalg.norm(a))
    return box((d or w, w, length), (p0 + p1) / 2, z_to(a))


def sub_quad(q, s0, s1, t0, t1):
    """Corners of the bilinear sub-rectangle [s0,s1]x[t0,t1] of quad q (a window in a face)."""
    q = np.asarray(q, float)
    def at(s, t):
        return (1 - s) * (1 - t) * q[0] + s * (1 - t) * q[1] + s * t * q[2] + (1 - s) * t * q[3]
    return np.array([at(s0, t0), at(s1, t0), at(s1, t1), at(s0, t1)])


def decal(q, outward, lift=0.004) -> Mesh:
    """A thin flat panel (window, screen, light) just above a surface, facing `outward`."""
    return quad(np.asarray(q, float) + lift * unit(np.asarray(outward, float)), outward)


def _triangulate(p):
    """Ear clipping of a simple CCW polygon (K, 2) -> triangle index triples."""
    idx, tris = list(range(len(p))), []
    def cross(a, b, c):
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    while len(idx) > 3:
        for k in range(len(idx)):
            a, b, c = idx[k - 1], idx[k], idx[(k + 1) % len(idx)]
            if cross(p[a], p[b], p[c]) <= 1e-12:
                continue
            if any(cross(p[a], p[b], p[j]) > 0 and cross(p[b], p[c], p[j]) > 0 and cross(p[c], p[a], p[j]) > 0
                   for j in idx if j not in (a, b, c)):
                continue
            tris.append((a, b, c))
            idx.pop(k)
            break
        else:  # numerically stuck: clip anyway rather than loop forever
            tris.append((idx[-1], idx[0], idx[1]))
            idx.pop(0)
    tris.append(tuple(idx))
    return np.array(tris)


def extrude(poly, depth) -> Mesh:
    """Prism of a simple 2D polygon in the XY plane, from z=-depth/2 to +depth/2."""
    p = np.asarray(poly, float)
    if np.sum(p[:, 0] * np.roll(p[:, 1], -1) - np.roll(p[:, 0], -1) * p[:, 1]) < 0:
        p = p[::-1]
    t = _triangulate(p)
    k, h = len(p), depth / 2
    bot, top = np.c_[p, np.full(k, -h)], np.c_[p, np.full(k, h)]
    size = float(max(np.ptp(p, 0).max(), depth))
    caps = [Mesh(top, t, np.tile((0.0, 0.0, 1.0), (k, 1)), planar_uv(top, (0, 0, 1), size)),
            Mesh(bot, t[:, ::-1], np.tile((0.0, 0.0, -1.0), (k, 1)), planar_uv(bot, (0, 0, -1), size))]
    sides = []
    for i in range(k):
        j = (i + 1) % k
        e = p[j] - p[i]
        sides.append(quad([bot[i], bot[j], top[j], top[i]], (e[1], -e[0], 0.0), size))
    return merge(caps + sides)


# ---------------------------------------------------------------- swept surfaces

def _grid_faces(rows, cols):
    i, j = np.meshgrid(np.arange(rows - 1), np.arange(cols - 1), indexing="ij")
    a = (i * cols + j).ravel()
    return np.concatenate([np.stack([a, a + 1, a + cols + 1], 1), np.stack([a, a + cols + 1, a + cols], 1)])


def _grid_uv(P):
    du = np.linalg.norm(np.diff(P, axis=1), axis=2).mean(0)
    dv = np.linalg.norm(np.diff(P, axis=0), axis=2).mean(1)
    u, w = np.concatenate([[0.0], np.cumsum(du)]), np.concatenate([[0.0], np.cumsum(dv)])
    s = max(u[-1], w[-1], 1e-9)   # one scale for both so the texture keeps its aspect
    W, U = np.meshgrid(w / s, u / s, indexing="ij")
    return np.stack([U, W], -1).reshape(-1, 2)


def loft(rings, cap0=True, cap1=True, closed=False, flat=False) -> Mesh:
    """Skin a sequence of closed rings (S, K, 3); optional flat caps at both ends."""
    rings = np.asarray(rings, float)
    cen = rings.mean(1)
    P = np.concatenate([rings, rings[:, :1]], 1)       # repeat first column: UV seam
    if closed:
        P, cen = np.concatenate([P, P[:1]]), np.concatenate([cen, cen[:1]])
    rows, cols = P.shape[:2]
    v, f = P.reshape(-1, 3), _grid_faces(rows, cols)
    r = f[:, 0] // cols
    axis_pt = (cen[r] + cen[np.minimum(r + 1, rows - 1)]) / 2
    if np.sum(face_normals(v, f) * (v[f].mean(1) - axis_pt)) < 0:
        f = f[:, ::-1]
    parts = [finish_mesh(v, f, _grid_uv(P), flat)]
    mid = cen.mean(0)
    for ring, c, on in ((rings[0], cen[0], cap0), (rings[-1], cen[-1], cap1)):
        if on and not closed and np.linalg.norm(ring - c, axis=1).max() > 1e-9:
            parts.append(fan_cap(ring, c - mid if np.linalg.norm(c - mid) > 1e-12 else c - cen[1]))
    return merge(parts)


def patch(P, lift, inside) -> Mesh:
    """Open surface over grid points P (R, C, 3) lifted along its normals away from `inside`:
    windows and screens that must follow a curved body."""
    P = np.asarray(P, float)
    v, f = P.reshape(-1, 3), _grid_faces(*P.shape[:2])
    if np.sum(face_normals(v, f) * (v[f].mean(1) - np.asarray(inside, float))) < 0:
        f = f[:, ::-1]
    m = finish_mesh(v, f, _grid_uv(P))
    return Mesh(m.v + lift * m.n, m.f, m.n, m.uv)


def circle(r, seg, start=0.0):
    t = start + np.linspace(0.0, TAU, seg, endpoint=False)
    return np.stack([r * np.cos(t), r * np.sin(t)], 1)


def lathe(r, z, seg=24, start=0.0, cap0=True, cap1=True, flat=False) -> Mesh:
    """Surface of revolution about +Z of the profile (r[i], z[i]), bottom to top."""
    c = circle(1.0, seg, start)
    rings = [np.c_[ri * c, np.full(seg, zi)] for ri, zi in zip(r, z)]
    return loft(rings, cap0, cap1, flat=flat)


def tube(p0, p1, r0, r1=None, seg=12, caps=True) -> Mesh:
    """Capped cylinder or frustum (radius r0 at p0, r1 at p1) between two points."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = p1 - p0
    r1 = r0 if r1 is None else r1
    return lathe([r0, r1], [0.0, float(np.linalg.norm(d))], seg, 0.0, caps, caps).moved(p0, z_to(d))


def rods(p0, p1, r, seg=4) -> Mesh:
    """Many thin open-ended cylinders (spokes, wires) built in one batch: p0, p1 are (N, 3)."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = unit(p1 - p0)
    ref = np.where(np.abs(d[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    n = unit(np.cross(d, ref))
    b = np.cross(d, n)
    c = circle(1.0, seg)
    c = np.vstack([c, c[:1]])
    radial = c[None, :, 0, None] * n[:, None] + c[None, :, 1, None] * b[:, None]    # (N, seg+1, 3)
    v = np.concatenate([p0[:, None] + r * radial, p1[:, None] + r * radial], 1)     # (N, 2(seg+1), 3)
    k = seg + 1
    j = np.arange(seg)
    f1 = np.stack([j, j + 1, j + k + 1], 1)
    f2 = np.stack([j, j + k + 1, j + k], 1)
    f = np.concatenate([f1, f2])
    if np.sum(face_normals(v[0], f) * radial[0, f[:, 0] % k]) < 0:
        f = f[:, ::-1]
    N = len(p0)
    faces = (f[None] + (np.arange(N) * 2 * k)[:, None, None]).reshape(-1, 3)
    uv = np.stack(np.meshgrid(np.arange(k) / seg, [0.0, 1.0]), -1).reshape(-1, 2)
    return Mesh(v.reshape(-1, 3), faces, np.concatenate([radial, radial], 1).reshape(-1, 3), np.tile(uv, (N, 1)))


def cylinder(r, h, center=(0.0, 0.0, 0.0), axis=(0.0, 0.0, 1.0), seg=16) -> Mesh:
    a = unit(np.asarray(axis, float)) * h / 2
    c = np.asarray(center, float)
    return tube(c - a, c + a, r, r, seg)


def sphere(r, center=(0.0, 0.0, 0.0), seg=16, stacks=8, radii=None) -> Mesh:
    """Sphere of radius r, or an ellipsoid with semi-axes `radii`."""
    t = np.linspace(0.0, math.pi, stacks + 1)
    m = np.diag(radii) / r if radii is not None else None
    return lathe(r * np.sin(t), -r * np.cos(t), seg).moved(center, m)


def superquadric(half, e_v=0.3, e_h=0.3, seg=20, stacks=10, center=(0.0, 0.0, 0.0), m=None) -> Mesh:
    """Rounded box / ellipsoid with half-extents `half`; exponents near 0 are boxy, 1 is an ellipsoid."""
    def sp(x, e):
        return np.sign(x) * np.abs(x) ** e
    eta = np.linspace(-math.pi / 2, math.pi / 2, stacks + 1)
    om = np.linspace(-math.pi, math.pi, seg, endpoint=False)
    a, b, c = half
    rings = [np.stack([a * sp(math.cos(e), e_v) * sp(np.cos(om), e_h),
                       b * sp(math.cos(e), e_v) * sp(np.sin(om), e_h),
                       np.full(seg, c * sp(math.sin(e), e_v))], 1) for e in eta]
    return loft(rings).moved(center, m)


def torus(R, r, seg=24, seg_minor=8) -> Mesh:
    """Ring about the Z axis (tyres, rims): major radius R, tube radius r."""
    out = []
    for p in np.linspace(0.0, TAU, seg, endpoint=False):
        radial = np.array([math.cos(p), math.sin(p), 0.0])
        c = circle(r, seg_minor)
        out.append(R * radial + np.outer(c[:, 0], radial) + np.outer(c[:, 1], (0.0, 0.0, 1.0)))
    return loft(out, closed=True)


def sweep(path, r, seg=8, caps=True) -> Mesh:
    """Round tube along a polyline (N, 3) with radius r (scalar or per point)."""
    p = np.asarray(path, float)
    rad = np.broadcast_to(np.asarray(r, float), (len(p),))
    t = unit(np.gradient(p, axis=0))
    ref = np.array((0.0, 0.0, 1.0)) if abs(t[0, 2]) < 0.9 else np.array((1.0, 0.0, 0.0))
    n = unit(np.cross(t[0], ref))
    c = circle(1.0, seg)
    rings = []
    for i in range(len(p)):   # parallel transport keeps the rings from twisting
        n = unit(n - np.dot(n, t[i]) * t[i])
        b = np.cross(t[i], n)
        rings.append(p[i] + rad[i] * (np.outer(c[:, 0], n) + np.outer(c[:, 1], b)))
    return loft(rings, caps, caps)


def arc(center, radius, a0, a1, n=12):
    """Points on a circular arc in the XZ (side-view) plane, angles from +X towards +Z."""
    t = np.linspace(a0, a1, n)
    return np.asarray(center, float) + np.stack([radius * np.cos(t), np.zeros(n), radius * np.sin(t)], 1)


def rrect(hw, z0, z1, r_bot, r_top, k=4):
    """Closed ring (in the YZ plane, x=0) of a rectangle with rounded corners, CCW about +X."""
    r_bot = min(r_bot, hw, (z1 - z0) / 2)
    r_top = min(r_top, hw, (z1 - z0) / 2)
    pts = []
    for (cy, cz, r, a0) in ((hw - r_bot, z0 + r_bot, r_bot, -math.pi / 2), (hw - r_top, z1 - r_top, r_top, 0.0),
                            (-hw + r_top, z1 - r_top, r_top, math.pi / 2),
                            (-hw + r_bot, z0 + r_bot, r_bot, math.pi)):
        a = np.linspace(a0, a0 + math.pi / 2, k)
        pts.append(np.stack([np.zeros(k), cy + r * np.cos(a), cz + r * np.sin(a)], 1))
    return np.concatenate(pts)


def wheel(radius, width, tyre=0.25, seg=24, hub_frac=0.75):
    """(tyre, hub) meshes of a wheel centred at the origin with its axle along Y."""
    tr = tyre * radius
    t = torus(radius - tr, tr, seg, 8).moved(m=rot_x(math.pi / 2) @ scale(1, 1, (width / 2) / tr))
    hub = cylinder(radius - 1.6 * tr, width * hub_frac, axis=(0, 1, 0), seg=seg)
    return t, hub
