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
from .classes import ClassList, key, pascal3d, preset_name, resolve
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
        self.ignored_folders = []     # category folders with no mesh file (listed, skipped)
        self.unselected: list[str] = []  # category folders render.categories leaves out
        self.classes: ClassList | None = None
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
    """`<root>/<category>/**/*.{obj,glb,gltf,ply,off,stl}`: every sub-folder is a category."""

    def __init__(self, root: str, **kw):
        super().__init__(**kw)
        self.root = _check_root(root, "mesh library")
        self.spec = root
        self._files: dict[str, list[str]] = {}       # folder name as written -> mesh files
        self._dirs: dict[str, str] = {}
        folders = _subdirs(self.root)
        for entry in folders:
            name, files = printable(entry.name), _mesh_files(entry.path)
            if files:
                self._files[name], self._dirs[name] = files, entry.path
            else:
                self.ignored_folders.append(name)
        if not self._files:
            raise SourceError(self._why_empty(folders))
        if all(_SYNSET.match(n) for n in self._files) and any(
                n in categories.SHAPENET_SYNSETS for n in self._files):
            raise SourceError(f"{_show(self.root)} looks like ShapeNetCore: use 'shapenet:{_show(self.root)}'")

    def found(self) -> list[str]:
        return list(self._files)

    def bind(self, classes: ClassList) -> None:
        by_cls: dict[str, list[str]] = defaultdict(list)
        cat_dir: dict[str, str] = {}
        for name, files in self._files.items():
            cls = classes.match(name)
            if cls is None:
                self.unselected.append(name)
                continue
            by_cls[cls] += files
            cat_dir.update({f: self._dirs[name] for f in files})
        refs = []
        for cls, files in by_cls.items():
            ids = _unique_ids(files, cat_dir, self.root)
            refs += [ModelRef(cls, ids[f], f) for f in files]
        self._refs = sorted(refs)

    def _why_empty(self, folders: list[os.DirEntry]) -> str:
        where = _show(self.root)
        if not folders:
            return f"mesh library {where} has no category folders (expected e.g. {where}/mug/*.glb)"
        return (f"no mesh files ({', '.join(MESH_EXTENSIONS)}) in the category folders of {where} "
                f"({', '.join(self.ignored_folders[:5])}{'...' if len(self.ignored_folders) > 5 else ''})")


_SYNSET = re.compile(r"^\d{8}$")


def read_taxonomy(root: str) -> dict[str, list[str]]:
    """synset id -> its names, from the `taxonomy.json` ShapeNetCore ships ({} without one)."""
    import json
    try:
        entries = json.loads(open(os.path.join(root, "taxonomy.json"), encoding="utf-8").read())
    except (OSError, ValueError):
        return {}
    out = {}
    for e in entries if isinstance(entries, list) else []:
        if isinstance(e, dict) and isinstance(e.get("synsetId"), str):
            out[e["synsetId"]] = [n.strip() for n in str(e.get("name", "")).split(",") if n.strip()]
    return out


class ShapeNetSource(MeshSource):
    """ShapeNetCore v1 (`<synset>/<id>/model.obj`) or v2 (`<synset>/<id>/models/model_normalized.obj`),
    detected per model. Without `render.categories`: the synsets of the 12 PASCAL3D+ categories;
    with it, any synset, by id or by a name of its `taxonomy.json` entry."""

    LAYOUTS = (os.path.join("models", "model_normalized.obj"), "model.obj")   # v2, v1

    def __init__(self, root: str, **kw):
        super().__init__(**kw)
        self.root = _check_root(root, "ShapeNet directory")
        self.spec = f"shapenet:{root}"
        self.taxonomy = read_taxonomy(self.root)
        self._synsets = {e.name: e.path for e in _subdirs(self.root) if _SYNSET.match(e.name)}
        if not self._synsets:
            raise SourceError(f"no ShapeNet synset folders (8-digit ids) under {_show(self.root)}")

    def name_of(self, synset: str) -> str:
        """A synset's class name: the PASCAL3D+ one for the 12, else its first taxonomy name."""
        if synset in categories.SHAPENET_SYNSETS:
            return categories.SHAPENET_SYNSETS[synset]
        return (self.taxonomy.get(synset) or [synset])[0]

    def found(self, selection: list[str] | None = None) -> list[str]:
        if selection is None:
            return [self.name_of(s) for s in self._synsets if s in categories.SHAPENET_SYNSETS]
        return [self.name_of(s) for s in self._synsets]

    def token(self, token: str) -> str:
        """A render.categories entry as this source's class name (an id or any taxonomy name)."""
        k = key(token)
        for s in self._synsets:
            if k == s or any(key(n) == k for n in self.taxonomy.get(s, [])):
                return self.name_of(s)
        return token

    def bind(self, classes: ClassList) -> None:
        refs = []
        for s, path in self._synsets.items():
            cls = classes.match(self.name_of(s))
            if cls is None:
                self.ignored_folders.append(s)
                continue
            for m in _subdirs(path, strict=False):
                for layout in self.LAYOUTS:
                    if os.path.isfile(os.path.join(m.path, layout)):
                        refs.append(ModelRef(cls, printable(m.name), os.path.join(m.path, layout)))
                        break
        if not refs:
            raise SourceError(f"no models of the chosen categories under {_show(self.root)} (expected "
                              f"<synset>/<id>/model.obj or <synset>/<id>/models/model_normalized.obj)")
        self._refs = sorted(refs)


class ProceduralSource(MeshSource):
    """Models from the embedded generator, `per_category` for each PASCAL3D+ category of the
    class list it is bound to (alone: all 12)."""

    def __init__(self, per_category: int = 8, seed: int = 0, *, max_triangles: int | None = None):
        super().__init__(up_axis="z", max_triangles=max_triangles)   # the generator builds Z-up
        if per_category < 1:
            raise SourceError(f"procedural: per_category must be at least 1, not {per_category}")
        self.spec = "procedural"
        self.per_category = per_category
        self.seed = seed
        self.cannot_make: list[str] = []

    def found(self) -> list[str]:
        return list(categories.CATEGORIES)

    def bind(self, classes: ClassList) -> None:
        refs = []
        for cls in classes.names:
            p = preset_name(cls)
            if p is None:
                self.cannot_make.append(cls)
                continue
            refs += [ModelRef(cls, f"proc_{p}_{i:04d}", f"procedural:{p}:{i}") for i in range(self.per_category)]
        self._refs = sorted(refs)

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
        self.sources = sources
        self._owner: dict[ModelRef, MeshSource] = {}

    def bind(self, classes: ClassList) -> None:
        seen: set[tuple[str, str]] = set()
        for src in self.sources:
            src.bind(classes)
            for ref in src.models():
                if (ref.category, ref.model_id) in seen:
                    raise SourceError(f"model id {ref.category}/{ref.model_id} appears in two of "
                                      f"the sources {_show(self.spec)}")
                seen.add((ref.category, ref.model_id))
                self._owner[ref] = src
            self.ignored_folders += src.ignored_folders
            self.unselected += src.unselected
        self.cannot_make = [c for s in self.sources for c in getattr(s, "cannot_make", [])]
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
                procedural_per_category: int = 8, seed: int = 0,
                categories: list[str] | None = None) -> MeshSource:
    """A MeshSource for "procedural", "shapenet:DIR", a folder library DIR, or several of
    these joined by "+" (e.g. "meshes/+procedural"; a folder whose own name holds a "+" is
    taken whole), bound to its class list (`source.classes`): the library's categories, or
    those of `categories` in that order (render.categories).

    `up_axis` (x, y, z, -x, -y, -z) is the axis of the files that points up; the
    default is "y" (glTF and ShapeNet). It does not apply to procedural models.
    """
    parts = _open_parts(spec, up_axis=up_axis, max_triangles=max_triangles,
                        procedural_per_category=procedural_per_category, seed=seed)
    libraries = [p for p in parts if not isinstance(p, ProceduralSource)]
    where = _show(spec)
    if not libraries:      # the generator alone: the preset, or a selection of its 12
        classes = resolve(list(pascal3d().names), categories, where) if categories else pascal3d()
    else:
        found: list[str] = []
        for p in libraries:
            found += [n for n in (p.found(categories) if isinstance(p, ShapeNetSource) else p.found())
                      if n not in found]
        tokens = categories
        for p in libraries:
            if tokens and isinstance(p, ShapeNetSource):
                tokens = [p.token(t) for t in tokens]
        classes = resolve(found, tokens, where)
    source = parts[0] if len(parts) == 1 else UnionSource(parts)
    source.bind(classes)
    source.classes = classes
    return source


def _open_parts(spec: str, **kw) -> list[MeshSource]:
    up_axis, max_triangles = kw["up_axis"], kw["max_triangles"]
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
        return [s for p in parts for s in _open_parts(p, **kw)]
    if spec == "procedural":
        return [ProceduralSource(kw["procedural_per_category"], kw["seed"], max_triangles=max_triangles)]
    if spec.startswith("shapenet:"):
        return [ShapeNetSource(spec[len("shapenet:"):], up_axis=up_axis or "y", max_triangles=max_triangles)]
    return [FolderSource(spec, up_axis=up_axis or "y", max_triangles=max_triangles)]
