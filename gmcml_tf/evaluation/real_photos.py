"""Real photo sets for evaluation (docs/method.md §7): image folders and PASCAL3D+ release 1.1.

- Folder: `<root>/<category>/**/*.{jpg,jpeg,png,...}`; folder names are matched to the
  run's classes case- and separator-insensitively (and through the PASCAL3D+ aliases,
  airplanes -> aeroplane, for preset classes), extendable with `aliases` (the run's
  eval.aliases and --alias). Folders that match no class are listed, never silently
  dropped, and so are classes with no photos.
- `pascal3d:<root>`: `Images/<cat>_{imagenet,pascal}/` with `Annotations/<same>/*.mat`;
  every annotated object of the 12 categories becomes one crop of its box widened by
  `margin` (a fraction of the box side), with its truncated / occluded / difficult flags.

Photos are decoded by the same TensorFlow function the exported SavedModel uses
(gmcml_tf.preprocess), so evaluation and serving see identical pixels.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from tfrecords_tools.categories import CATEGORIES
from tfrecords_tools.classes import ClassList, pascal3d
from tfrecords_tools.errors import UserError

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
PASCAL_FLAGS = ("truncated", "occluded", "difficult")


class PhotoError(UserError):
    """The photo source is unusable; the message names it."""


@dataclasses.dataclass(frozen=True)
class Photo:
    path: str
    label: int
    category: str
    box: tuple[float, float, float, float] | None = None   # x1, y1, x2, y2 in pixels (0-based)
    flags: tuple[str, ...] = ()


@dataclasses.dataclass
class PhotoSet:
    source: str
    photos: list[Photo]
    unmapped: list[str] = dataclasses.field(default_factory=list)   # folders / classes ignored
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)  # path -> reason
    classes_without_photos: list[str] = dataclasses.field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.photos:
            out[p.category] = out.get(p.category, 0) + 1
        return out


def parse_aliases(items: list[str] | dict | None, classes: ClassList | None = None) -> dict[str, str]:
    """`FOLDER=CLASS` strings (the --alias flag) or a mapping (eval.aliases) -> {folder: class},
    each CLASS checked against the run's classes (default: the PASCAL3D+ preset)."""
    classes = classes or pascal3d()
    pairs = list(items.items()) if isinstance(items, dict) else [
        (i.partition("=")[0], i.partition("=")[2] if "=" in i else None) for i in items or []]
    out = {}
    for name, cls in pairs:
        target = classes.match(cls) if cls else None
        if not name.strip() or target is None:
            shown = f"{name}={cls}" if cls is not None else name
            raise PhotoError(f"--alias {shown!r}: expected FOLDER=CLASS with CLASS one of the run's "
                             f"classes ({', '.join(classes.names[:8])}{'...' if len(classes) > 8 else ''})"
                             f"{classes.suggest(cls) if cls else ''}")
        out[name.strip()] = target
    return out


def open_photos(spec: str, aliases: dict[str, str] | None = None, subsets=("imagenet",),
                margin: float = 0.1, exclude_flags=("difficult",), classes: ClassList | None = None) -> PhotoSet:
    """The photos of `spec` labelled by `classes` (default: the PASCAL3D+ preset)."""
    classes = classes or pascal3d()
    if spec.startswith("pascal3d:"):
        return _pascal3d(Path(spec[len("pascal3d:"):]), subsets, margin, set(exclude_flags), classes)
    return _folder(Path(spec), aliases, classes)


def photos_for(spec: str, classes: ClassList, aliases: dict | None = None, extra: list[str] | None = None,
               **kw) -> PhotoSet:
    """`open_photos` for a run or a render: its classes, its eval.aliases and --alias entries."""
    merged = {**parse_aliases(aliases or {}, classes), **parse_aliases(extra, classes)}
    return open_photos(spec, aliases=merged, classes=classes, **kw)


def _folder(root: Path, aliases, classes: ClassList) -> PhotoSet:
    if not root.is_dir():
        raise PhotoError(f"photo folder {root} " + ("is a file, not a folder of DIR/<category>/*.jpg"
                                                     if root.exists() else "does not exist"))
    photos, unmapped, folders = [], [], sorted(p for p in root.iterdir() if p.is_dir())
    for sub in folders:
        cat = classes.match(sub.name, aliases)
        if cat is None:
            unmapped.append(sub.name)
            continue
        photos += [Photo(str(f), classes.label_of(cat), cat) for f in sorted(sub.rglob("*"))
                   if f.suffix.lower() in PHOTO_SUFFIXES and f.is_file()]
    if not photos:
        if unmapped:
            raise PhotoError(f"the photo folders of {root} ({_some(unmapped)}) share no name with the "
                             f"run's classes ({_some(list(classes.names))}); map one with --alias FOLDER=CLASS")
        raise PhotoError(f"photo folder {root} has no images in category folders "
                         f"(expected {root}/<category>/*.jpg)")
    have = {p.category for p in photos}
    return PhotoSet(str(root), photos, unmapped,
                    classes_without_photos=[c for c in classes.names if c not in have])


def _some(names: list[str], n: int = 8) -> str:
    return ", ".join(names[:n]) + (f", ... ({len(names)} in all)" if len(names) > n else "")


def _pascal3d(root: Path, subsets, margin: float, exclude: set[str], classes: ClassList) -> PhotoSet:
    from scipy.io import loadmat
    if not (root / "Annotations").is_dir() or not (root / "Images").is_dir():
        raise PhotoError(f"{root}: not a PASCAL3D+ release (expected Images/ and Annotations/)")
    photos, skipped = [], {}
    for cat in CATEGORIES:   # PASCAL3D+'s own 12 folders; each object is matched to the run's classes below
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
                    name = classes.match(str(obj.__dict__.get("class", "")))
                    if name is None:
                        continue
                    flags = tuple(f for f in PASCAL_FLAGS if int(getattr(obj, f, 0) or 0))
                    if exclude & set(flags):
                        continue
                    photos.append(Photo(str(image), classes.label_of(name), name, _widen(obj.bbox, margin), flags))
    if not photos:
        raise PhotoError(f"{root}: no annotated objects of the run's classes in subsets {list(subsets)}")
    have = {p.category for p in photos}
    return PhotoSet(f"pascal3d:{root}", photos, skipped=skipped,
                    classes_without_photos=[c for c in classes.names if c not in have])


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
