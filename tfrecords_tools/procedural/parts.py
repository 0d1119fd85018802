"""Mesh-building helpers for the procedural generator.

Every builder returns a `Mesh` in metres whose solids are closed and wound
counter-clockwise seen from outside, with per-vertex normals and UVs in [0, 1].
Parts are placed with `Mesh.moved` and merged into one `Primitive` per material.
Orientation is checked at build time (not trusted to each caller's parametrisation),
because a single inward part renders as a hole under back-face culling.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..asset import Primitive

TAU = 2.0 * math.pi
MIRROR_Y = np.diag([1.0, -1.0, 1.0])


@dataclasses.dataclass
class Mesh:
    v: np.ndarray   # (V, 3) float64
    f: np.ndarray   # (F, 3) int64
    n: np.ndarray   # (V, 3) unit normals
    uv: np.ndarray  # (V, 2) in [0, 1]

    def moved(self, t=(0.0, 0.0, 0.0), m=None) -> "Mesh":
        """x -> m @ x + t. A mirroring m flips the winding so faces stay outward."""
        m = np.eye(3) if m is None else np.asarray(m, float)
        f = self.f if np.linalg.det(m) > 0 else self.f[:, ::-1]
        return Mesh(self.v @ m.T + np.asarray(t, float), f, unit(self.n @ np.linalg.inv(m)), self.uv)


def unit(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, float)
    n = np.linalg.norm(a, axis=-1, keepdims=True)
    out = a / np.where(n > 1e-12, n, 1.0)
    bad = n[..., 0] <= 1e-12
    if np.any(bad):  # zero-area spots (poles) still need a valid unit normal
        out[bad] = (0.0, 0.0, 1.0)
    return out


def rot(axis, angle: float) -> np.ndarray:
    x, y, z = unit(np.asarray(axis, float))
    c, s = math.cos(angle), math.sin(angle)
    C = 1.0 - c
    return np.array([[c + x * x * C, x * y * C - z * s, x * z * C + y * s],
                     [y * x * C + z * s, c + y * y * C, y * z * C - x * s],
                     [z * x * C - y * s, z * y * C + x * s, c + z * z * C]])


def rot_x(a): return rot((1, 0, 0), a)
def rot_y(a): return rot((0, 1, 0), a)
def rot_z(a): return rot((0, 0, 1), a)
def scale(x, y, z): return np.diag([float(x), float(y), float(z)])


def z_to(d) -> np.ndarray:
    """Rotation taking +Z onto direction d."""
    d = unit(np.asarray(d, float))
    c = float(d[2])
    if c > 1 - 1e-12:
        return np.eye(3)
    if c < -1 + 1e-12:
        return rot_x(math.pi)
    return rot(np.cross((0.0, 0.0, 1.0), d), math.acos(c))


# ---------------------------------------------------------------- core assembly

def _face_normals(v, f):
    return np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])


def _smooth_normals(v, f):
    # Weld by exact position so UV seams and poles do not show as shading creases.
    key = np.round(v * 1e6).astype(np.int64)
    _, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.ravel()
    fn = _face_normals(v, f)
    idx = inv[f].ravel()
    acc = np.stack([np.bincount(idx, np.repeat(fn[:, k], 3), inv.max() + 1) for k in range(3)], 1)
    return unit(acc[inv])


def _finish(v, f, uv, flat=False) -> Mesh:
    if flat:
        fn = unit(_face_normals(v, f))
        return Mesh(v[f].reshape(-1, 3), np.arange(3 * len(f)).reshape(-1, 3),
                    np.repeat(fn, 3, axis=0), uv[f].reshape(-1, 2))
    return Mesh(v, f, _smooth_normals(v, f), uv)


def merge(meshes) -> Mesh:
    meshes = [m for m in meshes if m is not None and len(m.f)]
    offs = np.cumsum([0] + [len(m.v) for m in meshes[:-1]])
    return Mesh(np.concatenate([m.v for m in meshes]),
                np.concatenate([m.f + o for m, o in zip(meshes, offs)]),
                np.concatenate([m.n for m in meshes]),
                np.concatenate([m.uv for m in meshes]))


def to_primitive(meshes, material) -> Primitive:
    m = merge(meshes)
    return Primitive(positions=m.v.astype(np.float32), faces=m.f.astype(np.uint32),
                     normals=unit(m.n).astype(np.float32),
                     uv=np.clip(m.uv, 0.0, 1.0).astype(np.float32),
                     texture=material.texture, color=material.color)


def signed_volume(m: Mesh) -> float:
    a, b, c = (m.v[m.f[:, k]] - m.v.mean(0) for k in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


def planar_uv(v, normal, size=None):
    n = unit(np.asarray(normal, float))
    e1 = np.cross((0.0, 0.0, 1.0), n) if abs(n[2]) < 0.9 else np.cross(n, (1.0, 0.0, 0.0))
    e1 = unit(e1)
    e2 = np.cross(n, e1)
    uv = np.stack([v @ e1, v @ e2], 1)
    uv -= uv.min(0)
    return uv / max(size or float(uv.max()), 1e-9)


# ---------------------------------------------------------------- flat pieces

def quad(q, outward, size=None) -> Mesh:
    """A flat four-cornered facet (corners in ring order) facing `outward`."""
    q = np.asarray(q, float)
    nrm = 0.5 * np.cross(q[2] - q[0], q[3] - q[1])
    if np.dot(nrm, outward) < 0:
        q, nrm = q[::-1], -nrm
    return Mesh(q, np.array([[0, 1, 2], [0, 2, 3]]), np.tile(unit(nrm), (4, 1)), planar_uv(q, nrm, size))


def fan_cap(ring, outward) -> Mesh:
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


def box(size, center=(0.0, 0.0, 0.0), m=None) -> Mesh:
    hx, hy, hz = np.asarray(size, float) / 2
    c = np.array([[-hx, -hy, -hz], [hx, -hy, -hz], [hx, hy, -hz], [-hx, hy, -hz],
                  [-hx, -hy, hz], [hx, -hy, hz], [hx, hy, hz], [-hx, hy, hz]])
    return hexa(c).moved(center, m)


def sub_quad(q, s0, s1, t0, t1, lift=0.0, outward=None):
    """Corners of the bilinear sub-rectangle [s0,s1]x[t0,t1] of quad q, lifted along `outward`."""
    q = np.asarray(q, float)
    def at(s, t):
        return (1 - s) * (1 - t) * q[0] + s * (1 - t) * q[1] + s * t * q[2] + (1 - s) * t * q[3]
    r = np.array([at(s0, t0), at(s1, t0), at(s1, t1), at(s0, t1)])
    if outward is not None:
        r = r + lift * unit(np.asarray(outward, float))
    return r


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
    if np.sum(_face_normals(v, f) * (v[f].mean(1) - axis_pt)) < 0:
        f = f[:, ::-1]
    parts = [_finish(v, f, _grid_uv(P), flat)]
    mid = cen.mean(0)
    for ring, c, on in ((rings[0], cen[0], cap0), (rings[-1], cen[-1], cap1)):
        if on and not closed and np.linalg.norm(ring - c, axis=1).max() > 1e-9:
            parts.append(fan_cap(ring, c - mid if np.linalg.norm(c - mid) > 1e-12 else c - cen[1]))
    return merge(parts)


def circle(r, seg, start=0.0):
    t = start + np.linspace(0.0, TAU, seg, endpoint=False)
    return np.stack([r * np.cos(t), r * np.sin(t)], 1)


def lathe(r, z, seg=24, start=0.0, cap0=True, cap1=True, flat=False) -> Mesh:
    """Surface of revolution about +Z of the profile (r[i], z[i]), bottom to top."""
    c = circle(1.0, seg, start)
    rings = [np.c_[ri * c, np.full(seg, zi)] for ri, zi in zip(r, z)]
    return loft(rings, cap0, cap1, flat=flat)


def tube(p0, p1, r0, r1=None, seg=12, caps=True) -> Mesh:
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = p1 - p0
    r1 = r0 if r1 is None else r1
    return lathe([r0, r1], [0.0, float(np.linalg.norm(d))], seg, 0.0, caps, caps).moved(p0, z_to(d))


def cylinder(r, h, center=(0.0, 0.0, 0.0), axis=(0.0, 0.0, 1.0), seg=16) -> Mesh:
    a = unit(np.asarray(axis, float)) * h / 2
    c = np.asarray(center, float)
    return tube(c - a, c + a, r, r, seg)


def sphere(r, center=(0.0, 0.0, 0.0), seg=16, stacks=8, radii=None) -> Mesh:
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
    """Ring about the Z axis."""
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


def arc(center, radius, a0, a1, n=12, plane="xz"):
    """Points on a circular arc in the XZ (side view) or XY plane."""
    t = np.linspace(a0, a1, n)
    c = np.asarray(center, float)
    if plane == "xz":
        return c + np.stack([radius * np.cos(t), np.zeros(n), radius * np.sin(t)], 1)
    return c + np.stack([radius * np.cos(t), radius * np.sin(t), np.zeros(n)], 1)


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


class Model:
    """Meshes collected per palette slot; one `Primitive` per slot that got any."""

    def __init__(self):
        self.parts: dict[str, list[Mesh]] = {}

    def add(self, slot: str, *meshes: Mesh) -> None:
        self.parts.setdefault(slot, []).extend(meshes)

    def primitives(self, palette) -> list[Primitive]:
        return [to_primitive(ms, getattr(palette, slot)) for slot, ms in self.parts.items() if ms]
