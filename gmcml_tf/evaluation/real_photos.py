"""Real photo sets for evaluation (docs/method.md §7): image folders and PASCAL3D+ release 1.1.

- Folder: `<root>/<category>/**/*.{jpg,jpeg,png,...}`; folder names go through the
  category aliases (airplanes -> aeroplane, ...), extendable with `aliases`. Folders
  that map to none of the 12 categories are listed, never silently dropped.
- `pascal3d:<root>`: `Images/<cat>_{imagenet,pascal}/` with `Annotations/<same>/*.mat`;
  every annotated object of the 12 categories becomes one crop of its box widened by
  `margin` (a fraction of the box side), with its truncated / occluded / difficult flags.

Photos are decoded by the same TensorFlow function the exported SavedModel uses
(gmcml_tf.preprocess), so evaluation and serving see identical pixels.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from tfrecords_tools.categories import CATEGORIES, canonical, label_of
from tfrecords_tools.errors import UserError

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
PASCAL_FLAGS = ("truncated", "occluded", "difficult")


class PhotoError(UserError):
    """The photo source is unusable; the message names it."""


@dataclasses.dataclass(frozen=True)
class Photo:
    path: str
    label: int
    box: tuple[float, float, float, float] | None = None   # x1, y1, x2, y2 in pixels (0-based)
    flags: tuple[str, ...] = ()

    @property
    def category(self) -> str:
        return CATEGORIES[self.label]


@dataclasses.dataclass
class PhotoSet:
    source: str
    photos: list[Photo]
    unmapped: list[str] = dataclasses.field(default_factory=list)   # folders / classes ignored
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)  # path -> reason

    def counts(self) -> dict[str, int]:
        out = {c: 0 for c in CATEGORIES}
        for p in self.photos:
            out[p.category] += 1
        return {c: n for c, n in out.items() if n}


def parse_aliases(items: list[str] | None) -> dict[str, str]:
    """`name=category` strings (the --alias flag) -> a map, checked against the 12 categories."""
    out = {}
    for item in items or []:
        name, sep, cat = item.partition("=")
        if not sep or canonical(cat) is None:
            raise PhotoError(f"--alias {item!r}: expected NAME=CATEGORY with CATEGORY one of the 12")
        out[name.strip().lower()] = canonical(cat)
    return out


def open_photos(spec: str, aliases: dict[str, str] | None = None, subsets=("imagenet",),
                margin: float = 0.1, exclude_flags=("difficult",)) -> PhotoSet:
    if spec.startswith("pascal3d:"):
        return _pascal3d(Path(spec[len("pascal3d:"):]), subsets, margin, set(exclude_flags))
    return _folder(Path(spec), aliases)


def _folder(root: Path, aliases) -> PhotoSet:
    if not root.is_dir():
        raise PhotoError(f"photo folder {root} " + ("is a file, not a folder of DIR/<category>/*.jpg"
                                                     if root.exists() else "does not exist"))
    photos, unmapped = [], []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        cat = canonical(sub.name, aliases)
        if cat is None:
            unmapped.append(sub.name)
            continue
        photos += [Photo(str(f), label_of(cat)) for f in sorted(sub.rglob("*"))
                   if f.suffix.lower() in PHOTO_SUFFIXES and f.is_file()]
    if not photos:
        raise PhotoError(f"photo folder {root} has no images in category folders "
                         f"(expected {root}/<category>/*.jpg; unmapped folders: {unmapped or 'none'})")
    return PhotoSet(str(root), photos, unmapped)


def _pascal3d(root: Path, subsets, margin: float, exclude: set[str]) -> PhotoSet:
    from scipy.io import loadmat
    if not (root / "Annotations").is_dir() or not (root / "Images").is_dir():
        raise PhotoError(f"{root}: not a PASCAL3D+ release (expected Images/ and Annotations/)")
    photos, skipped = [], {}
    for cat in CATEGORIES:
        for subset in subsets:
            ann_dir = root / "Annotations" / f"{cat}_{subset}"
            for mat in sorted(ann_dir.glob("*.mat")) if ann_dir.is_dir() else []:
                try:
                    record = loadmat(mat, squeeze_me=True, struct_as_record=False)["record"]
                except Exception as e:  # a corrupt annotation: skip it, say so
                    skipped[str(mat)] = f"unreadable annotation ({e.__class__.__name__})"
                    continue
                image = _find_image(root / "Images" / f"{cat}_{subset}", Path(record.filename).stem)
                if image is None:
                    skipped[str(mat)] = "image file missing"
                    continue
                objects = record.objects if hasattr(record.objects, "__len__") else [record.objects]
                for obj in objects:
                    name = canonical(str(obj.__dict__.get("class", "")))
                    if name is None:
                        continue
                    flags = tuple(f for f in PASCAL_FLAGS if int(getattr(obj, f, 0) or 0))
                    if exclude & set(flags):
                        continue
                    photos.append(Photo(str(image), label_of(name), _widen(obj.bbox, margin), flags))
    if not photos:
        raise PhotoError(f"{root}: no annotated objects of the 12 categories in subsets {list(subsets)}")
    return PhotoSet(f"pascal3d:{root}", photos, skipped=skipped)


def _find_image(folder: Path, stem: str) -> Path | None:
    for suffix in (".JPEG", ".jpg", ".jpeg", ".png", ".JPG"):
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    return None


def _widen(bbox, margin: float) -> tuple[float, float, float, float]:
    """PASCAL boxes are 1-based inclusive [x1 y1 x2 y2]; widen by `margin` of each side."""
    x1, y1, x2, y2 = (float(v) for v in bbox)
    x1, y1 = x1 - 1, y1 - 1
    dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
    return (x1 - dx, y1 - dy, x2 + dx, y2 + dy)
