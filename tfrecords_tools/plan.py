"""Work units: which (model, view, lighting) goes into which shard, and every seed.

Everything here is a pure function of the config and the mesh listing, so any
number of workers, on one machine or on Beam, renders byte-identical shards.
"""
from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from tfrecords_tools import cameras
from tfrecords_tools.meshes import ModelRef
from tfrecords_tools.render_config import RenderConfig

SPLITS = ("train", "val")


def derive_seed(*parts) -> int:
    """A stable 63-bit seed from any printable parts (independent of PYTHONHASHSEED)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


@dataclasses.dataclass(frozen=True)
class Unit:
    ref: ModelRef
    slot: int    # which of the model's views_per_model poses
    light: int   # which lighting condition of that pose


@dataclasses.dataclass(frozen=True)
class ShardTask:
    split: str
    index: int
    count: int
    units: tuple[Unit, ...]

    @property
    def name(self) -> str:
        return f"{self.split}-{self.index:05d}-of-{self.count:05d}.tfrecord"


# A category with fewer models than this cannot hold one out: its val split is by view.
MIN_MODELS_FOR_MODEL_SPLIT = 2
# Views this close to the held-out band's edges are rendered for neither split, so no
# training view is a near-duplicate of a val view.
VIEW_SPLIT_GUARD_DEGREES = 15.0


def split_models(models: list[ModelRef], val_fraction: float, seed: int) -> dict[str, list[ModelRef]]:
    """Split by model, per category: no model has views in both train and val.

    Val gets round(val_fraction * n) models, at least one when val_fraction > 0. A category
    with fewer than MIN_MODELS_FOR_MODEL_SPLIT models is split by view instead
    (`view_split_categories`, `view_slots`): its models are in both lists.
    """
    out = {s: [] for s in SPLITS}
    for cat in sorted({m.category for m in models}):
        refs = sorted(m for m in models if m.category == cat)
        if val_fraction > 0 and len(refs) < MIN_MODELS_FOR_MODEL_SPLIT:
            out["train"] += refs
            out["val"] += refs
            continue
        order = np.random.default_rng(derive_seed(seed, "split", cat)).permutation(len(refs))
        refs = [refs[i] for i in order]
        n_val = 0
        if val_fraction > 0 and len(refs) >= 2:
            n_val = min(len(refs) - 1, max(1, round(val_fraction * len(refs))))
        out["val"] += refs[:n_val]
        out["train"] += refs[n_val:]
    return out


def view_split_categories(models: list[ModelRef], val_fraction: float) -> list[str]:
    """The categories whose val split is a band of azimuths of their own models."""
    counts: dict[str, int] = {}
    for m in models:
        counts[m.category] = counts.get(m.category, 0) + 1
    return sorted(c for c, n in counts.items() if val_fraction > 0 and n < MIN_MODELS_FOR_MODEL_SPLIT)


def view_direction(cfg: RenderConfig, ref: ModelRef, slot: int) -> tuple[int, np.ndarray]:
    """(vertex index, unit direction) of a model's view `slot`: a seeded permutation of the
    cut icosphere's vertices, so every model gets its own spread of poses."""
    c = cfg.camera
    z = c.z_range_per_category.get(ref.category, c.z_range)
    dirs = cameras.viewpoints(c.subdivisions, float(z[0]), float(z[1]))
    perm = np.random.default_rng(derive_seed(cfg.seed, "views", ref.category, ref.model_id)
                                 ).permutation(len(dirs))
    vi = int(perm[slot % len(dirs)])
    return vi, dirs[vi]


def val_band(cfg: RenderConfig, category: str) -> tuple[float, float]:
    """The held-out azimuth band [start, start + 360 * val_fraction) of a view-split category."""
    start = float(np.random.default_rng(derive_seed(cfg.seed, "val band", category)).uniform(0, 360))
    return start, 360.0 * cfg.val_fraction


def view_slots(cfg: RenderConfig, ref: ModelRef, split: str) -> list[int]:
    """The view slots of a view-split model in `split`: val inside the band, train outside it
    and its guard zones."""
    start, width = val_band(cfg, ref.category)
    out = []
    for slot in range(cfg.views_per_model):
        _, d = view_direction(cfg, ref, slot)
        offset = (np.degrees(np.arctan2(d[1], d[0])) - start) % 360.0
        in_val = offset < width
        in_train = width + VIEW_SPLIT_GUARD_DEGREES <= offset <= 360.0 - VIEW_SPLIT_GUARD_DEGREES
        if (split == "val" and in_val) or (split == "train" and in_train):
            out.append(slot)
    return out


def make_shards(models: list[ModelRef], cfg: RenderConfig) -> list[ShardTask]:
    """Units grouped by model (meshes load once per worker), models in a seeded order."""
    tasks = []
    by_view = set(view_split_categories(models, cfg.val_fraction))
    for split, refs in split_models(models, cfg.val_fraction, cfg.seed).items():
        order = np.random.default_rng(derive_seed(cfg.seed, "order", split)).permutation(len(refs))
        units = [Unit(refs[i], slot, k) for i in order
                 for slot in (view_slots(cfg, refs[i], split) if refs[i].category in by_view
                              else range(cfg.views_per_model))
                 for k in range(cfg.lights_per_view)]
        if not units:
            continue
        n = -(-len(units) // cfg.views_per_shard)
        size = -(-len(units) // n)  # balanced shards
        tasks += [ShardTask(split, i, n, tuple(units[i * size:(i + 1) * size])) for i in range(n)]
    return tasks
