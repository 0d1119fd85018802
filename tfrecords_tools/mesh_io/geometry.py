"""Geometry clean-up: the up axis, normals, dropping what cannot be drawn (non-finite
vertices, degenerate and out-of-range faces, unused vertices), merging by material."""
from __future__ import annotations

import dataclasses

import numpy as np

from ..asset import Primitive
from .common import MeshError, UP_AXES


# --------------------------------------------------------------------- up axis
def up_rotation(axis: str) -> np.ndarray:
    """Proper rotation (det +1, so nothing is mirrored) taking `axis` to +Z."""
    rows = {
        "z": [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
        "y": [[1, 0, 0], [0, 0, -1], [0, 1, 0]],     # +90 deg about X
        "-y": [[1, 0, 0], [0, 0, 1], [0, -1, 0]],
        "x": [[0, 0, -1], [0, 1, 0], [1, 0, 0]],     # -90 deg about Y
        "-x": [[0, 0, 1], [0, 1, 0], [-1, 0, 0]],
        "-z": [[1, 0, 0], [0, -1, 0], [0, 0, -1]],   # 180 deg about X
    }
    if axis not in rows:
        raise ValueError(f"up axis must be one of {', '.join(UP_AXES)}, not {axis!r}")
    return np.array(rows[axis], dtype=np.float64)


def rotated(p: Primitive, rot: np.ndarray) -> Primitive:
    normals = None if p.normals is None else (p.normals @ rot.T).astype(np.float32)
    return dataclasses.replace(p, positions=(p.positions @ rot.T).astype(np.float32), normals=normals)


# ------------------------------------------------------------------- geometry
def face_normals(positions: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unnormalised face normals; their length is twice the triangle area."""
    tri = positions[faces]
    return np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])


def vertex_normals(positions: np.ndarray, faces: np.ndarray, fn: np.ndarray | None = None) -> np.ndarray:
    """Area-weighted vertex normals (bincount: much faster than np.add.at)."""
    if fn is None:
        fn = face_normals(positions, faces)
    idx = faces.ravel()
    n = np.stack([np.bincount(idx, np.repeat(fn[:, k], 3), minlength=len(positions))
                  for k in range(3)], axis=1)
    return _unit(n)


def _unit(n: np.ndarray) -> np.ndarray:
    length = np.linalg.norm(n, axis=1, keepdims=True)
    out = np.divide(n, length, out=np.zeros_like(n, dtype=np.float64), where=length > 0)
    out[length[:, 0] == 0] = (0.0, 0.0, 1.0)
    return out.astype(np.float32)


@dataclasses.dataclass
class _Counts:
    nonfinite_faces: int = 0
    zero_area_faces: int = 0
    faces_in: int = 0


def _clean(p: Primitive, scale: float, counts: _Counts) -> Primitive | None:
    """Drop faces touching non-finite vertices and zero-area faces, then unused vertices."""
    pos, faces = p.positions, p.faces
    counts.faces_in += len(faces)
    if len(faces) and (int(faces.max()) >= len(pos) or int(faces.min()) < 0):
        raise MeshError("face index out of range")
    finite = np.isfinite(pos).all(1)
    keep = finite[faces].all(1)
    counts.nonfinite_faces += int((~keep).sum())
    faces = faces[keep]
    fn = face_normals(pos, faces)
    ok = np.einsum("ij,ij->i", fn, fn) > (1e-12 * scale * scale) ** 2
    counts.zero_area_faces += int((~ok).sum())
    if not ok.all():
        faces, fn = faces[ok], fn[ok]
    if not len(faces):
        return None
    used = np.zeros(len(pos), dtype=bool)
    used[faces] = True
    normals, uv = p.normals, p.uv
    if not used.all():
        remap = np.cumsum(used) - 1
        faces = remap[faces]
        pos = pos[used]
        normals = None if normals is None else normals[used]
        uv = None if uv is None else uv[used]
    faces = faces.astype(np.uint32)
    if normals is None or normals.shape != pos.shape:
        normals = vertex_normals(pos, faces, fn)
    else:
        normals = normals.astype(np.float32)
        length = np.linalg.norm(normals, axis=1)
        bad = ~np.isfinite(length) | (length < 1e-8)
        if bad.any():
            normals = normals.copy()
            normals[bad] = vertex_normals(pos, faces, fn)[bad]
            length[bad] = 1.0
        normals = (normals / length[:, None]).astype(np.float32)
    if uv is not None:
        uv = np.nan_to_num(uv.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    return dataclasses.replace(p, positions=pos.astype(np.float32), faces=faces, normals=normals, uv=uv)


def clean_primitives(prims: list[Primitive], notes: list[str]) -> list[Primitive]:
    """Clean every primitive; raise MeshError if nothing drawable is left."""
    finite = [p.positions[np.isfinite(p.positions).all(1)] for p in prims]
    finite = [f for f in finite if len(f)]
    if not finite:
        raise MeshError("non-finite vertex coordinates (NaN/inf) everywhere" if any(
            len(p.positions) for p in prims) else "no triangles")
    pts = np.concatenate(finite)
    scale = float(np.linalg.norm(pts.max(0) - pts.min(0)))
    if scale == 0.0:
        raise MeshError("zero extent (all vertices coincide)")
    counts = _Counts()
    out = [c for c in (_clean(p, scale, counts) for p in prims) if c is not None]
    if not out:
        if counts.nonfinite_faces == counts.faces_in:
            raise MeshError("non-finite vertex coordinates (NaN/inf) in every face")
        raise MeshError(f"all {counts.faces_in} faces have zero area")
    if counts.nonfinite_faces:
        notes.append(f"dropped {counts.nonfinite_faces} faces with non-finite vertices")
    if counts.zero_area_faces:
        notes.append(f"dropped {counts.zero_area_faces} zero-area faces")
    return out


def merge_by_material(prims: list[Primitive]) -> list[Primitive]:
    """One primitive per (texture, colour): fewer draw calls, same image."""
    groups: dict[tuple, list[Primitive]] = {}
    for p in prims:
        key = (None if p.texture is None else id(p.texture), tuple(round(c, 6) for c in p.color))
        groups.setdefault(key, []).append(p)
    out = []
    for group in groups.values():
        if len(group) == 1:
            out.append(group[0])
            continue
        offsets = np.cumsum([0] + [len(p.positions) for p in group[:-1]])
        out.append(Primitive(
            positions=np.concatenate([p.positions for p in group]),
            faces=np.concatenate([p.faces + np.uint32(o) for p, o in zip(group, offsets)]),
            normals=np.concatenate([p.normals for p in group]),
            uv=None if group[0].uv is None else np.concatenate([p.uv for p in group]),
            texture=group[0].texture, color=group[0].color))
    return out
