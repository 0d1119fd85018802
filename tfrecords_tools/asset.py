"""The in-memory mesh every source produces and the renderer consumes.

A `MeshAsset` is a list of `Primitive`s (one per material, one draw call each),
Z-up, centred on its bounding-box centre and scaled to a unit bounding sphere
(`normalized()`), so cameras can be placed in units of object radii.
"""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class Primitive:
    positions: np.ndarray            # (V, 3) float32
    faces: np.ndarray                # (F, 3) uint32 indices into positions
    normals: np.ndarray | None = None  # (V, 3) float32; computed if None
    uv: np.ndarray | None = None       # (V, 2) float32, OpenGL convention (v up)
    texture: np.ndarray | None = None  # (H, W, 3 or 4) uint8, first row = top of image
    color: tuple[float, float, float, float] = (0.8, 0.8, 0.8, 1.0)  # multiplies texture

    @property
    def triangles(self) -> int:
        return int(len(self.faces))


@dataclasses.dataclass
class MeshAsset:
    model_id: str
    category: str
    source: str                       # file path, or "procedural:<seed>"
    primitives: list[Primitive]
    missing_textures: int = 0         # textures referenced but unreadable/absent
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def triangles(self) -> int:
        return sum(p.triangles for p in self.primitives)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        pts = np.concatenate([p.positions for p in self.primitives])
        return pts.min(0), pts.max(0)

    def normalized(self) -> "MeshAsset":
        """Centre on the bounding-box centre, scale to a unit bounding sphere."""
        lo, hi = self.bounds()
        centre = (lo + hi) / 2.0
        radius = max(float(np.linalg.norm(p.positions - centre, axis=1).max())
                     for p in self.primitives)
        if not np.isfinite(radius) or radius <= 0:
            raise ValueError("degenerate mesh: zero extent")
        prims = [dataclasses.replace(p, positions=((p.positions - centre) / radius).astype(np.float32))
                 for p in self.primitives]
        return dataclasses.replace(self, primitives=prims)


def validate(asset: MeshAsset) -> None:
    """Raise ValueError naming what is wrong with a mesh the renderer cannot use."""
    if not asset.primitives:
        raise ValueError("no geometry")
    for p in asset.primitives:
        if p.positions.ndim != 2 or p.positions.shape[1] != 3:
            raise ValueError("vertex array is not (V, 3)")
        if not np.isfinite(p.positions).all():
            raise ValueError("non-finite vertex coordinates")
        if len(p.faces) and int(p.faces.max()) >= len(p.positions):
            raise ValueError("face index out of range")
    if asset.triangles == 0:
        raise ValueError("no triangles")
