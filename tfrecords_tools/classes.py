"""The class list of a render: names, labels, palette colours — the library's, or the preset.

    classes = resolve(["Dirt Bike", "mug", "car"])          # a user's library: 3 classes
    classes = resolve(["car", "chair"])                      # PASCAL3D+ names only: the preset
    classes = resolve(folders, selection=["mug", "car"])     # render.categories: select, order
    classes.label_of("mug"), classes.colors[i], classes.to_manifest()

A library whose category folders all carry PASCAL3D+ names or aliases gets the 12-class
preset (tfrecords_tools/categories.py) as before: same labels, the authors' palette, so its
shards are the bytes they always were. Any other library's classes are its folder names,
matched case-, width- and separator-insensitively (`key`), shown as written, labelled in
sorted order, or in the order of `render.categories`. Colours: preset names keep the
authors'; the others are drawn far apart in CIELAB (`palette`, docs/method.md §1).
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import re
import unicodedata

import numpy as np

from tfrecords_tools import categories as preset
from tfrecords_tools.errors import UserError

MAX_CLASSES = 1000
# M = class colour x a shading s in [MASK_SHADING_FLOOR, 1] (the renderer's mask shader)
MASK_SHADING_FLOOR = 0.25
PASCAL3D = "pascal3d"


class ClassError(UserError):
    """The library's categories cannot make a class list; the message is one line."""


_SEPARATORS = re.compile(r"[\s_\-.]+")


def key(name: str) -> str:
    """The matching key of a category name: Unicode NFKC, case-folded, without spaces,
    underscores, hyphens or dots ("Dirt Bike" = "dirt_bike" = "DIRT-BIKE")."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", name).casefold())


_PRESET_KEYS = {key(c): c for c in preset.CATEGORIES} | {key(a): c for a, c in preset.ALIASES.items()}


def preset_name(name: str) -> str | None:
    """The PASCAL3D+ category a name or alias stands for, else None."""
    return _PRESET_KEYS.get(key(name))


_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                     *(f"lpt{i}" for i in range(1, 10))}
_BAD_CHARS = set('<>:"/\\|?*')


def portable_problem(name: str) -> str | None:
    """Why `name` cannot be a folder on Windows, macOS or Linux, or None."""
    if not name.strip():
        return "is empty"
    if any(c in _BAD_CHARS or ord(c) < 32 for c in name):
        return 'holds a character Windows forbids in folder names (<>:"/\\|?* or a control character)'
    if name[-1] in " .":
        return "ends with a space or a dot (Windows drops them)"
    if name.split(".")[0].strip().lower() in _WINDOWS_RESERVED:
        return "is a name Windows reserves for a device"
    if len(name.encode("utf-8")) > 255:
        return "is longer than 255 bytes"
    return None


@dataclasses.dataclass(frozen=True)
class ClassList:
    names: tuple[str, ...]
    colors: tuple[tuple[float, float, float], ...]
    preset: str | None = None                 # "pascal3d" for the 12-class preset

    def __len__(self) -> int:
        return len(self.names)

    def label_of(self, name: str) -> int:
        return self.names.index(name)

    def match(self, name: str, aliases: dict[str, str] | None = None) -> str | None:
        """The class a folder or photo-set name stands for: its own name (key-insensitive),
        a PASCAL3D+ alias of a preset class, or an entry of `aliases` (name -> class)."""
        k = key(name)
        for a, target in (aliases or {}).items():
            if key(a) == k:
                return self.match(target)
        by_key = {key(n): n for n in self.names}
        if k in by_key:
            return by_key[k]
        p = preset_name(name)
        return p if p in self.names else None

    def suggest(self, name: str) -> str:
        """' (did you mean X?)' for a near miss among the class names, else ''."""
        close = difflib.get_close_matches(key(name), [key(n) for n in self.names], n=1)
        if not close:
            return ""
        return f" (did you mean {next(n for n in self.names if key(n) == close[0])!r}?)"

    def to_manifest(self, counts: dict | None = None) -> list[dict]:
        """[{name, label, color, ...counts[name]}] for manifest.json, run folders, SavedModels."""
        return [{"name": n, "label": i, "color": [round(float(c), 6) for c in self.colors[i]],
                 **((counts or {}).get(n, {}))} for i, n in enumerate(self.names)]

    @classmethod
    def from_manifest(cls, entries: list[dict] | None, preset_name_: str | None = None) -> "ClassList":
        """The class list a manifest or run folder records; the preset when it records none
        (everything written before class lists travelled with the data)."""
        if not entries:
            return pascal3d()
        entries = sorted(entries, key=lambda e: e["label"])
        return cls(tuple(e["name"] for e in entries), tuple(tuple(e["color"]) for e in entries),
                   preset_name_)


def pascal3d() -> ClassList:
    """The 12 PASCAL3D+ categories, alphabetical, in the authors' colours."""
    return ClassList(preset.CATEGORIES, preset.PALETTE, PASCAL3D)


def resolve(found: list[str], selection: list[str] | None = None, where: str = "the mesh library",
            *, force_custom: bool = False) -> ClassList:
    """The class list of a library whose category folders are `found` (names as written,
    each with at least one mesh); `selection` (render.categories) picks and orders them.

    ClassError for: two folders with one key, a selection naming no folder (or one twice),
    a name no other OS can hold as a folder, fewer than 2 or more than MAX_CLASSES classes.
    """
    seen: dict[str, str] = {}
    for name in found:
        k = key(name)
        if k in seen:
            raise ClassError(f"{where}: the category folders {seen[k]!r} and {name!r} have the "
                             "same name up to case and separators; rename or merge one")
        seen[k] = name
    if selection is None and found and not force_custom and all(preset_name(n) for n in found):
        return pascal3d()
    names = list(found) if selection is None else _select(found, selection, where)
    names = [preset_name(n) or n for n in names]
    dup = [n for n in names if names.count(n) > 1]
    if dup:
        raise ClassError(f"{where}: two category folders stand for {dup[0]!r} (aliases of one "
                         "PASCAL3D+ category); keep one")
    for n in names:
        why = portable_problem(n)
        if why:
            raise ClassError(f"{where}: category name {n!r} {why}; rename the folder")
    if selection is None:
        names.sort(key=lambda n: (key(n), n))
    if len(names) < 2:
        raise ClassError(f"{where}: {len(names)} category with meshes ({', '.join(names) or 'none'}); "
                         "a classifier needs at least 2")
    if len(names) > MAX_CLASSES:
        raise ClassError(f"{where}: {len(names)} categories; at most {MAX_CLASSES} are supported")
    return ClassList(tuple(names), palette(names))


def _select(found: list[str], selection: list[str], where: str) -> list[str]:
    by_key = {key(n): n for n in found}
    by_preset = {preset_name(n): n for n in found if preset_name(n)}
    out = []
    for token in selection:
        name = by_key.get(key(token)) or by_preset.get(preset_name(token) or "\0")
        if name is None:
            close = difflib.get_close_matches(key(token), list(by_key), n=1)
            hint = f" (did you mean {by_key[close[0]]!r}?)" if close else ""
            raise ClassError(f"render.categories: {token!r} is not a category folder of {where}{hint}; "
                             f"found: {', '.join(found[:8])}{'...' if len(found) > 8 else ''}")
        if name in out:
            raise ClassError(f"render.categories: {token!r} selects {name!r} a second time")
        out.append(name)
    return out


# --- palette -----------------------------------------------------------------------------

def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] (..., 3) -> CIELAB (D65)."""
    c = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = c @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def _candidates(levels: int = 17) -> np.ndarray:
    """Colours whose brightest channel is 1: one per shading ray. M is the colour times a
    shading factor in [0.25, 1], so two classes must differ in direction, not in brightness."""
    g = np.linspace(0.0, 1.0, levels)
    a, b = np.meshgrid(g, g, indexing="ij")
    a, b, one = a.ravel(), b.ravel(), np.ones(levels * levels)
    cands = np.concatenate([np.stack(p, 1) for p in ((one, a, b), (a, one, b), (a, b, one))])
    return np.unique(np.round(cands, 6), axis=0)


def palette(names: list[str]) -> tuple[tuple[float, float, float], ...]:
    """A colour per class, deterministic from the ordered names: PASCAL3D+ names keep the
    authors' colour; the rest are picked by farthest-point sampling in CIELAB over the
    colours whose brightest channel is 1, each as far as possible from every colour already
    taken (the authors' included, each scaled to its own brightest channel)."""
    colors: list[tuple[float, float, float] | None] = []
    for n in names:
        p = preset.CATEGORIES.index(n) if n in preset.CATEGORIES else None
        colors.append(preset.PALETTE[p] if p is not None else None)
    todo = [i for i, c in enumerate(colors) if c is None]
    if not todo:
        return tuple(colors)
    # 17 levels a channel give ~800 rays; larger lists need a finer grid to stay distinct
    cands = _candidates(17 if len(todo) <= 200 else 2 * int(np.ceil(np.sqrt(len(todo)))) + 1)
    lab = _srgb_to_lab(cands)
    taken = [np.asarray(c) / max(c) for c in colors if c is not None]
    if taken:
        nearest = np.min([np.linalg.norm(lab - _srgb_to_lab(t), axis=1) for t in taken], axis=0)
    else:  # the first colour follows the names, so two libraries need not look alike
        digest = hashlib.blake2b("\n".join(names).encode(), digest_size=8).digest()
        first = int.from_bytes(digest, "little") % len(cands)
        nearest = np.full(len(cands), np.inf)
        nearest[first] = 1e9
    for i in todo:
        pick = int(np.argmax(nearest))          # ties: the lowest index, deterministic
        colors[i] = tuple(float(x) for x in cands[pick])
        nearest = np.minimum(nearest, np.linalg.norm(lab - lab[pick], axis=1))
    return tuple(colors)


def separation(colors) -> dict:
    """How far apart a palette's classes stay under M's shading: the smallest CIELAB distance
    between two classes' colours at full brightness, and the smallest squared RGB distance
    (what eq. 11's L_gen charges a pixel painted in the nearest wrong class's colour)."""
    c = np.asarray(colors, np.float64)
    lab = _srgb_to_lab(c / c.max(1, keepdims=True))
    d_lab = np.linalg.norm(lab[:, None] - lab[None], axis=-1)
    d_rgb = ((c[:, None] - c[None]) ** 2).sum(-1)
    off = ~np.eye(len(c), dtype=bool)
    return {"classes": len(c), "min_delta_e": round(float(d_lab[off].min()), 1),
            "median_nearest_delta_e": round(float(np.median(np.where(off, d_lab, np.inf).min(1))), 1),
            "min_rgb_sq": round(float(d_rgb[off].min()), 4)}
