"""The procedural generator's working mesh type, transforms and assembly into Primitives.

A `Mesh` is one part in metres (float64 while building); parts are placed with
`Mesh.moved`, collected per palette slot in a `Model`, and merged into one
`Primitive` per slot (one material, one draw call).
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

def face_normals(v, f):
    return np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])


def _smooth_normals(v, f):
    # Weld by exact position so UV seams and poles do not show as shading creases.
    key = np.round(v * 1e6).astype(np.int64)
    _, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.ravel()
    fn = face_normals(v, f)
    idx = inv[f].ravel()
    acc = np.stack([np.bincount(idx, np.repeat(fn[:, k], 3), inv.max() + 1) for k in range(3)], 1)
    return unit(acc[inv])


def finish_mesh(v, f, uv, flat=False) -> Mesh:
    if flat:
        fn = unit(face_normals(v, f))
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


def cross3(a, b):
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def planar_uv(v, normal, size=None):
    n = unit(np.asarray(normal, float))
    e1 = cross3((0.0, 0.0, 1.0), n) if abs(n[2]) < 0.9 else cross3(n, (1.0, 0.0, 0.0))
    e1 = e1 / np.sqrt(e1 @ e1)
    e2 = cross3(n, e1)
    uv = np.stack([v @ e1, v @ e2], 1)
    uv -= uv.min(0)
    return uv / max(size or float(uv.max()), 1e-9)


class Model:
    """Meshes collected per palette slot; one `Primitive` per slot that got any."""

    def __init__(self):
        self.parts: dict[str, list[Mesh]] = {}

    def add(self, slot: str, *meshes: Mesh) -> None:
        self.parts.setdefault(slot, []).extend(meshes)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        v = np.concatenate([x.v for ms in self.parts.values() for x in ms])
        return v.min(0), v.max(0)

    def primitives(self, palette) -> list[Primitive]:
        return [to_primitive(ms, getattr(palette, slot)) for slot, ms in self.parts.items() if ms]
