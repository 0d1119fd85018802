"""Cameras on a cut icosphere, with focal and distance jitter and close shots (docs/method.md §1).

Units are object radii: every mesh is normalised to a unit bounding sphere centred
at the origin, Z up, so a camera at distance 2.5 sits 2.5 radii from the centre.
"""
from __future__ import annotations

import dataclasses
import functools

import numpy as np
import trimesh

FRONT = np.array([1.0, 0.0, 0.0])  # the front-view axis (meshes face +X, see procedural/)


@dataclasses.dataclass(frozen=True)
class Camera:
    position: np.ndarray      # (3,) world position
    target: np.ndarray        # (3,) where the camera looks: F, or F' for close shots
    focal: np.ndarray         # (3,) the jittered focal point F (offset from the object centre)
    fov_deg: float
    view_index: int           # vertex index in the cut icosphere
    azimuth: float            # degrees, of the viewing direction from the object centre
    elevation: float          # degrees
    distance: float           # radius of the camera sphere around the focal point, object radii
    mode: str                 # "center" or "close"

    def view_matrix(self) -> np.ndarray:
        """World -> camera (OpenGL convention: camera looks down -Z)."""
        forward = self.target - self.position
        forward = forward / np.linalg.norm(forward)
        up = np.array([0.0, 0.0, 1.0])
        if abs(forward @ up) > 0.999:  # looking straight down/up: any other up will do
            up = np.array([0.0, 1.0, 0.0])
        right = np.cross(forward, up)
        right /= np.linalg.norm(right)
        true_up = np.cross(right, forward)
        m = np.eye(4)
        m[0, :3], m[1, :3], m[2, :3] = right, true_up, -forward
        m[:3, 3] = -m[:3, :3] @ self.position
        return m

    def projection_matrix(self, near: float = 0.05, far: float = 20.0) -> np.ndarray:
        f = 1.0 / np.tan(np.radians(self.fov_deg) / 2.0)
        m = np.zeros((4, 4))
        m[0, 0] = m[1, 1] = f
        m[2, 2] = (far + near) / (near - far)
        m[2, 3] = 2.0 * far * near / (near - far)
        m[3, 2] = -1.0
        return m


@functools.lru_cache(maxsize=16)
def viewpoints(subdivisions: int, z_min: float, z_max: float) -> np.ndarray:
    """Unit directions of the icosphere vertices with z in [z_min, z_max) (docs/method.md §1).

    Subdivision 1 has 42 vertices, 2 has 162 (before the cut). Order is fixed
    (sorted by elevation, then azimuth) so a view index means the same pose everywhere.
    """
    v = trimesh.creation.icosphere(subdivisions=subdivisions, radius=1.0).vertices
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    keep = (v[:, 2] >= z_min) & (v[:, 2] < z_max)
    v = v[keep]
    if len(v) == 0:
        raise ValueError(f"z range [{z_min}, {z_max}) leaves no icosphere vertex")
    az = np.round(np.degrees(np.arctan2(v[:, 1], v[:, 0])), 6)
    order = np.lexsort((az, np.round(v[:, 2], 6)))
    out = v[order].astype(np.float64)
    out.setflags(write=False)
    return out


def make_camera(direction: np.ndarray, view_index: int, rng: np.random.Generator, *,
                distance: tuple[float, float], focal_jitter: float, fov_deg: float,
                close: bool = False, close_distance: tuple[float, float] = (1.6, 2.2),
                close_offset: float = 0.2) -> Camera:
    """A camera looking from `direction` at a jittered focal point.

    Distance is drawn continuously (the authors meant 2.2-3.0 but their integer
    division gave only 2 or 3). Close shots move the focal point by
    F' = F + close_offset * (C - P_axis), C the camera position and P_axis the point
    where the front-view axis meets the camera sphere, and use `close_distance`
    (the paper gives no distance for close shots; a closer camera is what makes
    them close shots).
    """
    focal = rng.uniform(-focal_jitter, focal_jitter, size=3)
    d = float(rng.uniform(*(close_distance if close else distance)))
    position = focal + d * direction
    target = focal
    if close:
        p_axis = focal + d * FRONT
        target = focal + close_offset * (position - p_axis)
    az = float(np.degrees(np.arctan2(direction[1], direction[0])))
    el = float(np.degrees(np.arcsin(np.clip(direction[2], -1.0, 1.0))))
    return Camera(position=position, target=target, focal=focal, fov_deg=fov_deg, view_index=int(view_index),
                  azimuth=az, elevation=el, distance=d,
                  mode="close" if close else "center")


def aimed_off(camera: Camera, shift: float, angle: float) -> Camera:
    """The same camera aimed `shift` object radii beside its target, across the view axis,
    in the image direction `angle` (radians): the object moves towards a border and, for
    shifts near the half-width of the view, runs off it (a truncated framing)."""
    m = camera.view_matrix()
    right, up = m[0, :3], m[1, :3]
    offset = shift * (np.cos(angle) * right + np.sin(angle) * up)
    return dataclasses.replace(camera, target=camera.target + offset, mode="truncated")
