"""Decimation of meshes above `max_triangles` (fast-simplification), each large primitive
by the same ratio, UVs and textures kept."""
from __future__ import annotations

import dataclasses

import numpy as np

from ..asset import Primitive


_KEEP_SMALL = 64               # primitives this small are not decimated (a decal would vanish)


# ------------------------------------------------------------------ decimation
def decimate(prims: list[Primitive], max_triangles: int) -> list[Primitive]:
    """Reduce to about `max_triangles`, each large primitive by the same ratio."""
    total = sum(p.triangles for p in prims)
    if total <= max_triangles:
        return prims
    fixed = sum(p.triangles for p in prims if p.triangles <= _KEEP_SMALL)
    if max_triangles - fixed > 0 and total > fixed:
        ratio, floor = (max_triangles - fixed) / (total - fixed), _KEEP_SMALL
    else:  # many tiny parts: everything has to shrink
        ratio, floor = max_triangles / total, 4
    out = []
    for p in prims:
        target = max(4, int(p.triangles * ratio))
        if p.triangles > floor and target < p.triangles:
            try:
                p = _simplify(p, target)
            except MemoryError:
                raise
            except Exception:   # an odd part stays as it is; the note shows the total
                pass
        if p.triangles:
            out.append(p)
    return out


def _simplify(p: Primitive, target: int) -> Primitive:
    import fast_simplification as fs

    faces = p.faces.astype(np.int32)
    _, _, collapses = fs.simplify(p.positions, faces, target_count=target, return_collapses=True)
    # The replay gives the old->new vertex map that `simplify` alone does not, so
    # per-vertex attributes (UV, normal) can follow the collapses.
    points, new_faces, mapping = fs.replay_simplification(p.positions, faces, collapses)
    points = np.asarray(points, dtype=np.float32)
    # Each new vertex takes the attributes of the nearest original vertex that was
    # collapsed into it: same side of any UV seam, close in position.
    src = np.flatnonzero(mapping >= 0)
    dst = mapping[src]
    dist = ((p.positions[src] - points[dst]) ** 2).sum(1)
    order = np.lexsort((dist, dst))
    dst_sorted, src_sorted = dst[order], src[order]
    first = np.r_[True, dst_sorted[1:] != dst_sorted[:-1]]
    rep = np.full(len(points), -1, dtype=np.int64)
    rep[dst_sorted[first]] = src_sorted[first]
    if (rep < 0).any():
        from scipy.spatial import cKDTree
        missing = np.flatnonzero(rep < 0)
        rep[missing] = cKDTree(p.positions).query(points[missing])[1]
    new_faces = np.asarray(new_faces, dtype=np.uint32).reshape(-1, 3)
    normals = None if p.normals is None else p.normals[rep]
    uv = None if p.uv is None else p.uv[rep]
    return dataclasses.replace(p, positions=points, faces=new_faces, normals=normals, uv=uv)
