"""A render worker: one GL context, one background pool, a small mesh cache; renders shards.

Kubric-style: the worker renders one unit of work (a shard) from its seeds and
writes it, with a metadata sidecar, atomically (see writer.py).
"""
from __future__ import annotations

import collections
import time
from pathlib import Path

import numpy as np

from tfrecords_tools import cameras, randomize, schema
from tfrecords_tools.asset import MeshAsset
from tfrecords_tools.compose import BackgroundPool, composite
from tfrecords_tools.meshes import MeshError, ModelRef, open_source
from tfrecords_tools.png import encode_png
from tfrecords_tools.plan import ShardTask, Unit, derive_seed, view_direction
from tfrecords_tools.render_config import RenderConfig
from tfrecords_tools.renderer import Light, Renderer, Targets
from tfrecords_tools.writer import write_shard


def light_from(rng: np.random.Generator, camera_azimuth: float, cfg) -> tuple[Light, float, float]:
    az = camera_azimuth + rng.uniform(-cfg.azimuth_offset, cfg.azimuth_offset)
    el = rng.uniform(*cfg.elevation)
    a, e = np.radians(az), np.radians(el)
    direction = np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])
    light = Light(direction, float(rng.uniform(*cfg.intensity)), float(rng.uniform(*cfg.ambient)))
    return light, float((az + 180) % 360 - 180), float(el)


class ViewRenderer:
    """Turns work units into serialised tf.train.Examples."""

    def __init__(self, cfg: RenderConfig, cache_size: int = 4):
        self.cfg = cfg
        self.renderer = Renderer(cfg.size, device_index=cfg.device_index)
        self.backgrounds = BackgroundPool(cfg.backgrounds, scale=cfg.background_scale,
                                          flip=cfg.background_flip)
        self.source = open_source(cfg.meshes, up_axis=cfg.up_axis, max_triangles=cfg.max_triangles,
                                  procedural_per_category=cfg.procedural_per_category, seed=cfg.seed,
                                  categories=cfg.categories)
        self.classes = self.source.classes
        self.labels = {name: i for i, name in enumerate(self.classes.names)}
        self._meshes: collections.OrderedDict[ModelRef, MeshAsset] = collections.OrderedDict()
        self._cache_size = cache_size
        self.failed: dict[ModelRef, str] = {}
        self.randomized: collections.Counter = collections.Counter()  # per shard, for its metadata
        if cfg.randomize.enabled:
            pool_rng = np.random.default_rng(derive_seed(cfg.seed, "texture pool"))
            self.renderer.set_texture_pool(randomize.texture_pool(pool_rng, cfg.randomize, self.backgrounds))

    def mesh(self, ref: ModelRef) -> MeshAsset:
        if ref in self._meshes:
            self._meshes.move_to_end(ref)
            return self._meshes[ref]
        asset = self.source.load(ref)  # raises MeshError
        self._meshes[ref] = asset
        if len(self._meshes) > self._cache_size:
            self._meshes.popitem(last=False)
        return asset

    def camera(self, unit: Unit) -> cameras.Camera:
        c, ref = self.cfg.camera, unit.ref
        vi, direction = view_direction(self.cfg, ref, unit.slot)
        rng = np.random.default_rng(derive_seed(self.cfg.seed, "pose", ref.category, ref.model_id, unit.slot))
        close = bool(rng.random() < c.close_fraction)
        return cameras.make_camera(direction, vi, rng, distance=c.distance, focal_jitter=c.focal_jitter,
                                   fov_deg=c.fov_deg, close=close, close_distance=c.close_distance,
                                   close_offset=c.close_offset)

    def render_unit(self, unit: Unit, split: str, bare: bool = False) -> bytes | Targets:
        """One view as a serialised Example (or, with `bare`, just the read-back targets)."""
        ref = unit.ref
        asset = self.mesh(ref)
        cam = self.camera(unit)
        view_seed = derive_seed(self.cfg.seed, "view", ref.category, ref.model_id, unit.slot, unit.light)
        rng = np.random.default_rng(view_seed)
        light, light_az, light_el = light_from(rng, cam.azimuth, self.cfg.light)
        label = self.labels[ref.category]
        dressing, extra = None, {}
        if self.cfg.randomize.enabled:
            key = (ref.category, ref.model_id, unit.slot)
            d = randomize.draw(np.random.default_rng(derive_seed(self.cfg.seed, "randomize", *key)),
                               np.random.default_rng(derive_seed(self.cfg.seed, "relight", *key, unit.light)),
                               self.cfg.randomize, cam, light, len(asset.primitives),
                               self.renderer.pool_size)
            cam, dressing, extra = d.camera, d.dressing, d.record
            self.randomized.update({"views": 1, **d.kinds})
        t = self.renderer.render(asset, cam, light, self.classes.colors[label], dressing)
        if bare:
            return t
        bg_id, bg = self.backgrounds.sample(rng, self.cfg.size)
        image = composite(t.rgb, t.alpha, bg, t.cover)
        depth16 = np.where(np.isfinite(t.depth),
                           np.clip(np.round(t.depth * schema.DEPTH_SCALE), 1, 65535), 0).astype(np.uint16)
        return schema.encode_example({
            "image/encoded": self._png(image), "mask/encoded": self._png(t.mask),
            "depth/encoded": self._png(depth16), "alpha/encoded": self._png(t.alpha),
            "label": label, "category": ref.category, "model_id": ref.model_id, "split": split,
            "pose/view_index": cam.view_index, "pose/azimuth": cam.azimuth,
            "pose/elevation": cam.elevation, "pose/distance": cam.distance,
            "pose/focal_offset": [float(x) for x in cam.focal],
            "camera/mode": cam.mode, "camera/fov": cam.fov_deg, "light/index": unit.light,
            "light/azimuth": light_az, "light/elevation": light_el,
            "light/intensity": light.intensity, "light/ambient": light.ambient,
            "background/id": bg_id, "seed": view_seed, **extra,
        })

    def _png(self, arr: np.ndarray) -> bytes:
        return encode_png(arr, self.cfg.png_compress_level)

    def render_shard(self, task: ShardTask, out_dir: Path, progress=None) -> dict:
        """Render and atomically write one shard; returns its metadata (also written beside it)."""
        t0 = time.perf_counter()
        records, per_category, skipped, missing, triangles = [], collections.Counter(), {}, {}, {}
        self.randomized = collections.Counter()
        for i, unit in enumerate(task.units):
            ref = unit.ref
            if ref in self.failed:
                continue
            try:
                records.append(self.render_unit(unit, task.split))
            except MeshError as e:
                self.failed[ref] = str(e)
                skipped[ref.model_id] = {"category": ref.category, "path": ref.path, "reason": str(e)}
                continue
            per_category[ref.category] += 1
            asset = self._meshes[ref]
            triangles[f"{ref.category}/{ref.model_id}"] = asset.triangles
            if asset.missing_textures:
                missing[f"{ref.category}/{ref.model_id}"] = asset.missing_textures
            if progress and (i + 1) % 16 == 0:
                progress(16)
        if progress:
            progress(len(task.units) % 16)
        meta = {"shard": task.name, "split": task.split, "records": len(records),
                "per_category": dict(sorted(per_category.items())), "skipped_meshes": skipped,
                "missing_textures": missing, "triangles": triangles,
                **({"randomized": dict(sorted(self.randomized.items()))} if self.cfg.randomize.enabled else {}),
                "seconds": round(time.perf_counter() - t0, 3)}
        write_shard(out_dir, task.name, records, meta)
        return meta

