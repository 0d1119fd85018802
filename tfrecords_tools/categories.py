"""The PASCAL3D+ preset: the 12 categories' names, label order, palette, ShapeNet synsets, aliases.

The one place these facts live. A render uses them when its library's category folders carry
these names or aliases (tfrecords_tools/classes.py); any other library brings its own classes.
"""
from __future__ import annotations

import difflib

# Label = index into this alphabetical list (docs/method.md §1).
CATEGORIES: tuple[str, ...] = (
    "aeroplane", "bicycle", "boat", "bottle", "bus", "car",
    "chair", "diningtable", "motorbike", "sofa", "train", "tvmonitor",
)
NUM_CLASSES = len(CATEGORIES)

# The authors' flat colours of the semantic mask M, by category index (docs/method.md §1).
PALETTE: tuple[tuple[float, float, float], ...] = (
    (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (0.75, 0.75, 0.75),
    (1.0, 0.0, 1.0), (0.52, 0.149, 0.34), (1.0, 0.6, 0.1), (1.0, 1.0, 0.0),
    (0.19, 0.5, 0.08), (0.73, 0.56, 0.56), (0.5, 0.0, 1.0), (0.0, 1.0, 1.0),
)

# ShapeNetCore synset ids (v1 and v2 share them) for the 12 categories.
SHAPENET_SYNSETS: dict[str, str] = {
    "02691156": "aeroplane",
    "02834778": "bicycle",
    "04530566": "boat",       # vessel, watercraft
    "02876657": "bottle",
    "02924116": "bus",
    "02958343": "car",
    "03001627": "chair",
    "04379243": "diningtable",  # table
    "03790512": "motorbike",
    "04256520": "sofa",
    "04468005": "train",
    "03211117": "tvmonitor",  # display, video display
}

# Other names users' folders and photo sets use for the same categories.
ALIASES: dict[str, str] = {
    "airplane": "aeroplane", "airplanes": "aeroplane", "plane": "aeroplane",
    "aircraft": "aeroplane", "bike": "bicycle", "ship": "boat", "vessel": "boat",
    "watercraft": "boat", "automobile": "car", "cars": "car",
    "dining_table": "diningtable", "table": "diningtable",
    "motorcycle": "motorbike", "motorbikes": "motorbike", "couch": "sofa",
    "tv": "tvmonitor", "monitor": "tvmonitor", "display": "tvmonitor",
    "tv_monitor": "tvmonitor",
}


def suggest(name: str) -> str:
    """' (did you mean X?)' for a near miss, else ''."""
    close = difflib.get_close_matches(name.lower(), list(CATEGORIES) + list(ALIASES), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
