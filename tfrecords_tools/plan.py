"""Work units: which (model, view, lighting) goes into which shard, and every seed.

Everything here is a pure function of the config and the mesh listing, so any
number of workers, on one machine or on Beam, renders byte-identical shards.
"""
from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

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


def split_models(models: list[ModelRef], val_fraction: float, seed: int) -> dict[str, list[ModelRef]]:
    """Split by model, per category: no model has views in both train and val.

    A category with one model keeps it in train; otherwise val gets
    round(val_fraction * n) models, at least one when val_fraction > 0.
    """
    out = {s: [] for s in SPLITS}
    for cat in sorted({m.category for m in models}):
        refs = sorted(m for m in models if m.category == cat)
        order = np.random.default_rng(derive_seed(seed, "split", cat)).permutation(len(refs))
        refs = [refs[i] for i in order]
        n_val = 0
        if val_fraction > 0 and len(refs) >= 2:
            n_val = min(len(refs) - 1, max(1, round(val_fraction * len(refs))))
        out["val"] += refs[:n_val]
        out["train"] += refs[n_val:]
    return out


def make_shards(models: list[ModelRef], cfg: RenderConfig) -> list[ShardTask]:
    """Units grouped by model (meshes load once per worker), models in a seeded order."""
    tasks = []
    for split, refs in split_models(models, cfg.val_fraction, cfg.seed).items():
        order = np.random.default_rng(derive_seed(cfg.seed, "order", split)).permutation(len(refs))
        units = [Unit(refs[i], slot, k) for i in order
                 for slot in range(cfg.views_per_model) for k in range(cfg.lights_per_view)]
        if not units:
            continue
        n = -(-len(units) // cfg.views_per_shard)
        size = -(-len(units) // n)  # balanced shards
        tasks += [ShardTask(split, i, n, tuple(units[i * size:(i + 1) * size])) for i in range(n)]
    return tasks
