"""Where models come from: a folder library, ShapeNetCore (v1/v2), or the procedural generator.

    src = open_source("/data/meshes")            # <root>/<category>/**/*.{obj,glb,...}
    src = open_source("shapenet:/data/ShapeNetCore.v2")
    src = open_source("procedural", procedural_per_category=8, seed=0)
    for ref in src.models():                     # cheap listing, sorted, deterministic
        try:
            asset = src.load(ref)                # Z-up, normalised, validated MeshAsset
        except MeshError as e:                   # this model only; str(e) is one line
            print(ref.model_id, e)

A `SourceError` means the source as a whole is unusable and is raised by
`open_source` itself, so a bad path fails before any rendering starts.

Loaded meshes are rotated so the source's up axis becomes +Z; the heading (which
way the front points) is not normalised, since glTF, ShapeNet and exporters
disagree about it and the camera samples all azimuths anyway.
"""
from __future__ import annotations

import dataclasses
import os
import re
from collections import defaultdict

from . import categories
from .asset import MeshAsset
from .errors import UserError
from .mesh_io import MESH_EXTENSIONS, UP_AXES, MeshError, finish, load_file, printable

__all__ = ["MeshError", "SourceError", "ModelRef", "MeshSource", "FolderSource",
           "ShapeNetSource", "ProceduralSource", "UnionSource", "open_source", "nothing_loaded", "MESH_EXTENSIONS"]


class SourceError(UserError):
    """The source as a whole is unusable; the message is one line naming the path."""


@dataclasses.dataclass(frozen=True, order=True)
class ModelRef:
    category: str
    model_id: str
    path: str        # file path, or "procedural:<category>:<index>"


class MeshSource:
    spec: str = ""
    ignored_folders: list[str]

    def __init__(self, *, up_axis: str = "y", max_triangles: int | None = None):
        self.up_axis = up_axis
        self.max_triangles = max_triangles
        self.ignored_folders = []
        self._refs: list[ModelRef] = []

    def models(self) -> list[ModelRef]:
        return list(self._refs)

    def load(self, ref: ModelRef) -> MeshAsset:
        """Z-up, normalised, validated asset; MeshError (with .path) if this model is unusable."""
        root = getattr(self, "root", None)
        return load_file(ref.path, model_id=ref.model_id, category=ref.category, root=root,
                         up_axis=self.up_axis, max_triangles=self.max_triangles)

    def __len__(self) -> int:
        return len(self._refs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r}, {len(self._refs)} models)"

    def counts(self) -> dict[str, int]:
        """Models per category (categories with none are absent)."""
        out: dict[str, int] = defaultdict(int)
        for r in self._refs:
            out[r.category] += 1
        return dict(out)


def _show(path: str) -> str:
    return printable(path)


def _is_dir(path: str) -> bool:
    try:
        return os.path.isdir(path)
    except (OSError, ValueError):
        return False


def _check_root(root: str, what: str) -> str:
    if not root:
        raise SourceError(f"{what}: no directory given")
    root = os.path.abspath(os.path.expanduser(root))
    if not os.path.exists(root):
        raise SourceError(f"{what} {_show(root)} does not exist")
    if not _is_dir(root):
        raise SourceError(f"{what} {_show(root)} is not a directory")
    return root


def _subdirs(path: str, *, strict: bool = True) -> list[os.DirEntry]:
    """Sub-folders (a symlinked folder counts), hidden ones skipped, sorted by name."""
    try:
        with os.scandir(path) as it:
            entries = [e for e in it if not e.name.startswith(".")]
    except OSError as e:
        if not strict:
            return []
        raise SourceError(f"cannot list {_show(path)}: {e.strerror or e}") from None
    out = []
    for e in entries:
        try:
            if e.is_dir():
                out.append(e)
        except OSError:
            pass
    return sorted(out, key=lambda e: e.name)


def _mesh_files(top: str) -> list[str]:
    """Mesh files anywhere under `top`, without following symlinked folders (no loops)."""
    found, stack = [], [top]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError:
            continue            # unreadable folder: skip it rather than fail the library
        for e in entries:
            if e.name.startswith("."):     # .git, macOS "._x.obj" resource forks
                continue
            try:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                elif os.path.splitext(e.name)[1].lower() in MESH_EXTENSIONS and e.is_file():
                    found.append(e.path)
            except OSError:
                continue
    return sorted(found)


def _unique_ids(files: list[str], cat_dirs: dict[str, str], root: str) -> dict[str, str]:
    """file -> model_id: the stem, or longer names only where stems collide."""
    def name(path: str, level: int) -> str:
        rel_cat = os.path.relpath(path, cat_dirs[path])
        rel_root = os.path.relpath(path, root)
        choices = (os.path.splitext(os.path.basename(path))[0],
                   os.path.splitext(rel_cat)[0], os.path.splitext(rel_root)[0], rel_root)
        return printable(choices[min(level, 3)].replace(os.sep, "_").replace("/", "_"))

    level = {f: 0 for f in files}
    for _ in range(4):
        ids = {f: name(f, level[f]) for f in files}
        by_id = defaultdict(list)
        for f, i in ids.items():
            by_id[i].append(f)
        clashes = [fs for fs in by_id.values() if len(fs) > 1]
        if not clashes:
            return ids
        for fs in clashes:
            for f in fs:
                level[f] += 1
    ids = {f: name(f, 3) for f in files}
    seen: dict[str, int] = defaultdict(int)
    for f in sorted(files):          # last resort, deterministic: a numeric suffix
        seen[ids[f]] += 1
        if seen[ids[f]] > 1:
            ids[f] = f"{ids[f]}~{seen[ids[f]]}"
    return ids


class FolderSource(MeshSource):
    """`<root>/<category>/**/*.{obj,glb,gltf,ply,off,stl}`; category folder names may be aliases."""

    def __init__(self, root: str, **kw):
        super().__init__(**kw)
        self.root = _check_root(root, "mesh library")
        self.spec = root
        by_cat: dict[str, list[str]] = defaultdict(list)
        cat_dir: dict[str, str] = {}
        folders = _subdirs(self.root)
        for entry in folders:
            cat = categories.canonical(printable(entry.name))
            if cat is None:
                self.ignored_folders.append(printable(entry.name))
                continue
            for f in _mesh_files(entry.path):
                by_cat[cat].append(f)
                cat_dir[f] = entry.path
        if not by_cat:
            raise SourceError(self._why_empty(folders))
        refs = []
        for cat, files in by_cat.items():
            ids = _unique_ids(files, cat_dir, self.root)
            refs += [ModelRef(cat, ids[f], f) for f in files]
        self._refs = sorted(refs)

    def _why_empty(self, folders: list[os.DirEntry]) -> str:
        where = _show(self.root)
        exts = ", ".join(MESH_EXTENSIONS)
        if any(categories.canonical(printable(e.name)) for e in folders):
            return f"no mesh files ({exts}) in the category folders of {where}"
        if any(e.name in categories.SHAPENET_SYNSETS for e in folders):
            return f"{where} looks like ShapeNetCore: use 'shapenet:{where}'"
        if not folders:
            return f"mesh library {where} has no category folders (expected e.g. {where}/car/*.glb)"
        first = printable(folders[0].name)
        return (f"no category folders in {where}: found {', '.join(self.ignored_folders[:5])}"
                f"{'...' if len(self.ignored_folders) > 5 else ''}; expected names like "
                f"{', '.join(categories.CATEGORIES[:3])}{categories.suggest(first)}")


_SYNSET = re.compile(r"^\d{8}$")


class ShapeNetSource(MeshSource):
    """ShapeNetCore v1 (`<synset>/<id>/model.obj`) or v2 (`<synset>/<id>/models/model_normalized.obj`),
    detected per model; synsets outside the 12 categories are ignored."""

    LAYOUTS = (os.path.join("models", "model_normalized.obj"), "model.obj")   # v2, v1

    def __init__(self, root: str, **kw):
        super().__init__(**kw)
        self.root = _check_root(root, "ShapeNet directory")
        self.spec = f"shapenet:{root}"
        refs = []
        synsets = [e for e in _subdirs(self.root) if _SYNSET.match(e.name)]
        for s in synsets:
            cat = categories.SHAPENET_SYNSETS.get(s.name)
            if cat is None:
                self.ignored_folders.append(s.name)
                continue
            for m in _subdirs(s.path, strict=False):
                for layout in self.LAYOUTS:
                    path = os.path.join(m.path, layout)
                    if os.path.isfile(path):
                        refs.append(ModelRef(cat, printable(m.name), path))
                        break
        if not refs:
            where = _show(self.root)
            if not synsets:
                raise SourceError(f"no ShapeNet synset folders (8-digit ids) under {where}")
            raise SourceError(f"no models of the 12 categories under {where} (expected "
                              f"<synset>/<id>/model.obj or <synset>/<id>/models/model_normalized.obj)")
        self._refs = sorted(refs)


class ProceduralSource(MeshSource):
    """Models from the embedded generator, `per_category` for each of the 12 categories."""

    def __init__(self, per_category: int = 8, seed: int = 0, *, max_triangles: int | None = None):
        super().__init__(up_axis="z", max_triangles=max_triangles)   # the generator builds Z-up
        if per_category < 1:
            raise SourceError(f"procedural: per_category must be at least 1, not {per_category}")
        self.spec = "procedural"
        self.per_category = per_category
        self.seed = seed
        self._refs = sorted(ModelRef(c, f"proc_{c}_{i:04d}", f"procedural:{c}:{i}")
                            for c in categories.CATEGORIES for i in range(per_category))

    def load(self, ref: ModelRef) -> MeshAsset:
        try:    # imported here: the generator is optional for file-based sources
            from .procedural import generate
        except ImportError as e:
            raise SourceError(f"procedural generator unavailable ({e})") from None
        try:
            _, category, index = ref.path.rsplit(":", 2)
            asset = generate(category, int(index), self.seed)
        except MeshError:
            raise
        except Exception as e:
            raise MeshError(f"procedural generator failed ({type(e).__name__}: {e})", ref.path) from None
        asset = dataclasses.replace(asset, model_id=ref.model_id, category=ref.category)
        try:
            return finish(asset, up_axis="z", max_triangles=self.max_triangles)
        except MeshError as e:
            e.path = ref.path
            raise


class UnionSource(MeshSource):
    """Several sources as one library (`A+B`): e.g. a thin mesh folder topped up with the
    procedural generator's models. Each model loads through its own source (own up axis)."""

    def __init__(self, sources: list[MeshSource]):
        super().__init__(max_triangles=sources[0].max_triangles)
        self.spec = "+".join(s.spec for s in sources)
        self._owner: dict[ModelRef, MeshSource] = {}
        seen: set[tuple[str, str]] = set()
        for src in sources:
            for ref in src.models():
                if (ref.category, ref.model_id) in seen:
                    raise SourceError(f"model id {ref.category}/{ref.model_id} appears in two of "
                                      f"the sources {_show(self.spec)}")
                seen.add((ref.category, ref.model_id))
                self._owner[ref] = src
            self.ignored_folders += src.ignored_folders
        self._refs = sorted(self._owner)

    def load(self, ref: ModelRef) -> MeshAsset:
        return self._owner[ref].load(ref)


def nothing_loaded(spec: str, skipped: dict[str, dict]) -> SourceError:
    """The error for a render in which no model could be loaded (`skipped`: the
    manifest's "category/model_id" -> {"reason": ...}): one line, the first reasons."""
    first = "; ".join(f"{k}: {v['reason']}" for k, v in list(skipped.items())[:3])
    more = f"; {len(skipped) - 3} more" if len(skipped) > 3 else ""
    return SourceError(f"none of the {len(skipped)} models in {_show(spec)} could be loaded "
                       f"({first}{more})")


def open_source(spec: str, *, up_axis: str | None = None, max_triangles: int | None = None,
                procedural_per_category: int = 8, seed: int = 0) -> MeshSource:
    """A MeshSource for "procedural", "shapenet:DIR", a folder library DIR, or several of
    these joined by "+" (e.g. "meshes/+procedural"; a folder whose own name holds a "+" is
    taken whole).

    `up_axis` (x, y, z, -x, -y, -z) is the axis of the files that points up; the
    default is "y" (glTF and ShapeNet). It does not apply to procedural models.
    """
    if up_axis is not None and up_axis not in UP_AXES:
        raise SourceError(f"up_axis must be one of {', '.join(UP_AXES)}, not {up_axis!r}")
    if max_triangles is not None and int(max_triangles) < 1:
        raise SourceError(f"max_triangles must be positive, not {max_triangles}")
    spec = (spec or "").strip()
    if not spec:
        raise SourceError("no mesh source given (a folder, 'shapenet:DIR' or 'procedural')")
    if "+" in spec and not os.path.isdir(spec):
        parts = [p.strip() for p in spec.split("+")]
        if not all(parts):
            raise SourceError(f"mesh source {_show(spec)}: an empty part around '+'")
        return UnionSource([open_source(p, up_axis=up_axis, max_triangles=max_triangles,
                                        procedural_per_category=procedural_per_category, seed=seed)
                            for p in parts])
    if spec == "procedural":
        return ProceduralSource(procedural_per_category, seed, max_triangles=max_triangles)
    if spec.startswith("shapenet:"):
        return ShapeNetSource(spec[len("shapenet:"):], up_axis=up_axis or "y", max_triangles=max_triangles)
    return FolderSource(spec, up_axis=up_axis or "y", max_triangles=max_triangles)
