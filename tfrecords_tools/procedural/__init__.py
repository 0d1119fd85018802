"""Embedded procedural 3D models for the 12 PASCAL3D+ categories (the default dataset).

`generate(category, index, seed)` builds one textured model, deterministically from its
arguments: shape parameters (proportions, part counts, styles) vary per instance so a
category is a distribution, and materials come from one category-independent palette
so the category shows only in the shape. Z is up, the front faces +X, the model rests
on its lowest point, and it is returned normalised (bbox centre at 0, unit sphere).
"""
from __future__ import annotations

import numpy as np

from ..asset import MeshAsset
from ..categories import CATEGORIES, suggest
from . import aircraft, boats, bottle, furniture, trains, tvmonitor, two_wheelers, vehicles
from .mesh import Model
from .textures import palette

_BUILDERS = {
    "aeroplane": aircraft.aeroplane, "bicycle": two_wheelers.bicycle, "boat": boats.boat,
    "bottle": bottle.bottle, "bus": vehicles.bus, "car": vehicles.car,
    "chair": furniture.chair, "diningtable": furniture.diningtable,
    "motorbike": two_wheelers.motorbike, "sofa": furniture.sofa, "train": trains.train,
    "tvmonitor": tvmonitor.tvmonitor,
}


def generate(category: str, index: int, seed: int) -> MeshAsset:
    """Model number `index` of `category` in the procedural set `seed` (both >= 0)."""
    if category not in _BUILDERS:
        raise ValueError(f"unknown category {category!r}{suggest(str(category))}; "
                         f"expected one of {', '.join(CATEGORIES)}")
    if int(index) < 0 or int(seed) < 0:
        raise ValueError(f"procedural index and seed must be >= 0, not {index} and {seed}")
    rng = np.random.default_rng([int(seed), CATEGORIES.index(category), int(index)])
    pal = palette(rng)   # drawn first and identically for all categories
    model = Model()
    _BUILDERS[category](rng, model)
    asset = MeshAsset(model_id=f"proc_{category}_{index:04d}", category=category,
                      source=f"procedural:{seed}", primitives=model.primitives(pal))
    return asset.normalized()
