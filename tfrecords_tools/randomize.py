"""Domain randomisation at render time: random textures, lights, occluders and framing.

The renders are otherwise too clean to pass for photos: every model keeps its own
textures, one white light, nothing in front of it, the object whole in the frame.
On a configurable share of views (`render.randomize`, see render_config.py) this module
draws a `Dressing` for the renderer and a truncated framing for the camera:

- textures: each material, with some chance, gets a random procedural texture or a crop
  of a background photo, projected along its dominant normal axis (meshes need no UVs);
- lights: 1-3 lights, each tinted, with Blinn-Phong highlights of random strength;
- occluders: 1-N boxes, bars, spheres and cylinders between the camera and the object
  (they hide part of it: M, alpha and depth lose exactly those pixels) or beside it
  (in O only), textured like the materials;
- truncation: the camera aims beside the object so that it runs off a border.

Draws come from seeds derived from the view's own (plan.derive_seed), so a render is
reproducible and every record says what was done to it (`Draw.record`).
Framing, textures and occluders follow the pose (slot), lights the lighting condition,
so the positives of the multi-triplet sets (same pose, other light) keep their geometry.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import trimesh

from tfrecords_tools.cameras import Camera, aimed_off
from tfrecords_tools.procedural.textures import hsv, random_color, random_texture
from tfrecords_tools.render_config import RandomizeConfig
from tfrecords_tools.renderer import SHAPES, Dressing, Light, Occluder

POOL_SIZE = 48         # textures per worker: half procedural, half photo crops by default
_TEXTURE_SIDE = 128


def texture_pool(rng: np.random.Generator, cfg: RandomizeConfig, backgrounds) -> list[np.ndarray]:
    """Procedural textures and crops of the background photos (class-agnostic, like the
    backgrounds themselves), the same for every worker of a render."""
    photos = round(POOL_SIZE * cfg.photo_textures) if len(backgrounds) else 0
    pool = [random_texture(rng) for _ in range(POOL_SIZE - photos)]
    for _ in range(photos):
        _, crop = backgrounds.sample(rng, _TEXTURE_SIDE)
        pool.append(np.ascontiguousarray(crop))
    return pool


@dataclasses.dataclass(frozen=True)
class Draw:
    camera: Camera
    dressing: Dressing | None
    record: dict          # features for the view's record (schema.OPTIONAL's keys)
    kinds: dict           # which kinds were applied: textured, occluded, truncated, relit (0/1)


def draw(pose_rng: np.random.Generator, light_rng: np.random.Generator, cfg: RandomizeConfig,
         camera: Camera, light: Light, parts: int, pool_size: int) -> Draw:
    """The randomisation of one view. The coins deciding which kinds apply are tossed first,
    so whether one kind applies never depends on another."""
    coins = pose_rng.random(3)
    shift, angle = pose_rng.uniform(*cfg.truncate_shift), pose_rng.uniform(0, 2 * np.pi)
    truncated = coins[0] < cfg.truncate_fraction and camera.mode == "center"
    if truncated:
        camera = aimed_off(camera, shift, angle)
    materials = _materials(pose_rng, cfg, parts, pool_size) if coins[1] < cfg.texture_fraction else {}
    occluders = _occluders(pose_rng, cfg, camera, pool_size) if coins[2] < cfg.occluder_fraction else ()
    lights, specular, shininess = (light,), 0.0, 16.0
    relit = light_rng.random() < cfg.light_fraction
    if relit:
        lights, specular, shininess = _lights(light_rng, cfg, light)
    record = {"randomize/textured_materials": len(materials), "randomize/occluders": len(occluders),
              "randomize/truncated": int(truncated), "light/count": len(lights),
              "light/specular": specular,
              "light/color": [c for li in lights for c in li.color] + [0.0] * 3 * (3 - len(lights))}
    dressed = bool(materials or occluders or relit)
    kinds = {"textured": int(bool(materials)), "occluded": int(bool(occluders)),
             "truncated": int(truncated), "relit": int(relit)}
    return Draw(camera, Dressing(lights, specular, shininess, materials, occluders) if dressed else None,
                record, kinds)


def _surface(rng, pool_size: int) -> tuple[int | None, tuple[float, float, float, float], float]:
    """A pool texture (tinted a little) most of the time, else a plain random colour."""
    if pool_size and rng.random() < 0.8:
        tint = 0.75 + 0.25 * rng.random(3)
        return int(rng.integers(pool_size)), (*map(float, tint), 1.0), float(rng.uniform(0.7, 3.0))
    return None, (*map(float, random_color(rng)), 1.0), 1.0


def _materials(rng, cfg: RandomizeConfig, parts: int, pool_size: int) -> dict:
    chosen = rng.random(parts) < cfg.texture_per_material
    if not chosen.any():
        chosen[rng.integers(parts)] = True  # a textured view changes at least one material
    return {i: _surface(rng, pool_size) for i in np.flatnonzero(chosen).tolist()}


def _lights(rng, cfg: RandomizeConfig, key: Light) -> tuple[tuple[Light, ...], float, float]:
    """The key light keeps its direction and intensity, tinted; up to two fill lights join it."""
    def tint():
        return tuple(float(c) for c in hsv(rng.random(), rng.uniform(0, cfg.light_saturation), 1.0))
    n = int(rng.integers(1, cfg.max_lights + 1))
    lights = [dataclasses.replace(key, color=tint())]
    for _ in range(n - 1):
        az, el = rng.uniform(0, 2 * np.pi), np.radians(rng.uniform(-10, 80))
        d = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
        lights.append(Light(d, float(rng.uniform(0.15, 0.5)), key.ambient, tint()))
    return tuple(lights), float(rng.uniform(*cfg.specular)), float(rng.uniform(8.0, 64.0))


def _occluders(rng, cfg: RandomizeConfig, camera: Camera, pool_size: int) -> tuple[Occluder, ...]:
    """Primitives placed along rays from the camera: in front of the object (t < 1 of the
    way to a point near its centre) to hide part of it, or beside it as clutter."""
    m = camera.view_matrix()
    right, up = m[0, :3], m[1, :3]
    out = []
    for _ in range(int(rng.integers(1, cfg.max_occluders + 1))):
        in_front = rng.random() < 0.7
        reach = rng.uniform(0.0, 0.9) if in_front else rng.uniform(1.1, 1.8)
        phi = rng.uniform(0, 2 * np.pi)
        aim = reach * (np.cos(phi) * right + np.sin(phi) * up)
        t = rng.uniform(0.45, 0.75) if in_front else rng.uniform(0.8, 1.2)
        centre = camera.position + t * (aim - camera.position)
        # The apparent size relative to the object's is `size / t`: 0.15-0.5 of it.
        size = t * rng.uniform(0.15, 0.5) * 2.0
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        extents = np.full(3, size)
        if shape != "sphere" and rng.random() < 0.5:   # a bar: pole, branch, railing
            extents = np.array([size * 0.25, size * 0.25, size * rng.uniform(2.0, 4.0)])
        rotation = trimesh.transformations.random_rotation_matrix(rng.random(3))
        model = trimesh.transformations.translation_matrix(centre) @ rotation @ np.diag([*extents, 1.0])
        texture, color, scale = _surface(rng, pool_size)
        out.append(Occluder(shape, model, texture, color, scale / max(size, 1e-3)))
    return tuple(out)
