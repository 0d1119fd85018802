"""One mesh file -> `MeshAsset`: trimesh conversion, clean-up, up axis, decimation.

`meshes.py` decides *which* files are models; this module turns one of them into
something the renderer can draw, or says in one line why it cannot (`MeshError`).

trimesh is used with `process=False` (no vertex merging: it costs time and we
would undo it anyway, as texture seams need split vertices), so the clean-up it
would do (non-finite vertices, degenerate faces, unused vertices) is done here.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import urllib.parse
import warnings

import numpy as np

from . import mesh_scan
from .asset import MeshAsset, Primitive, validate
from .errors import UserError

MESH_EXTENSIONS = (".obj", ".glb", ".gltf", ".ply", ".off", ".stl")
UP_AXES = ("x", "y", "z", "-x", "-y", "-z")
MAX_TEXTURE_SIZE = 1024        # px; larger textures cost upload time, not accuracy at our view sizes
DEFAULT_COLOR = Primitive.__dataclass_fields__["color"].default
_KEEP_SMALL = 64               # primitives this small are not decimated (a decal would vanish)
# Loading and decimating costs ~3 s and ~0.7 GB per million triangles in each worker
# (10M: 30 s and 5 GB), so larger files are refused from their header or a streaming
# count, before any array is built. Real models (ShapeNet, Sketchfab) are far below.
MAX_LOAD_TRIANGLES = 2_000_000
MAX_FILE_BYTES = 1 << 30


class MeshError(UserError):
    """One mesh cannot be used. `str(e)` is a one-line reason; `e.path` names the file."""

    def __init__(self, reason: str, path: str = ""):
        super().__init__(reason, path)
        self.reason = " ".join(str(reason).split())
        self.path = path

    def __str__(self) -> str:
        return self.reason

    def __reduce__(self):   # render workers are processes: keep the path when pickled
        return type(self), (self.reason, self.path)


def printable(s: str) -> str:
    """A file name that can be printed and UTF-8 encoded (undecodable bytes as \\xNN)."""
    return s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


# --------------------------------------------------------------------- up axis
def up_rotation(axis: str) -> np.ndarray:
    """Proper rotation (det +1, so nothing is mirrored) taking `axis` to +Z."""
    rows = {
        "z": [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
        "y": [[1, 0, 0], [0, 0, -1], [0, 1, 0]],     # +90 deg about X
        "-y": [[1, 0, 0], [0, 0, 1], [0, -1, 0]],
        "x": [[0, 0, -1], [0, 1, 0], [1, 0, 0]],     # -90 deg about Y
        "-x": [[0, 0, 1], [0, 1, 0], [-1, 0, 0]],
        "-z": [[1, 0, 0], [0, -1, 0], [0, 0, -1]],   # 180 deg about X
    }
    if axis not in rows:
        raise ValueError(f"up axis must be one of {', '.join(UP_AXES)}, not {axis!r}")
    return np.array(rows[axis], dtype=np.float64)


def _rotated(p: Primitive, rot: np.ndarray) -> Primitive:
    normals = None if p.normals is None else (p.normals @ rot.T).astype(np.float32)
    return dataclasses.replace(p, positions=(p.positions @ rot.T).astype(np.float32), normals=normals)


# -------------------------------------------------------------- finishing steps
def finish(asset: MeshAsset, *, up_axis: str = "z", max_triangles: int | None = None) -> MeshAsset:
    """Rotate to Z-up, decimate, normalise and validate; raise MeshError on failure.

    The heading (which way the front points) is not normalised: glTF, ShapeNet and
    exporters disagree about it, and the renderer samples all azimuths anyway.
    """
    prims = asset.primitives
    notes = list(asset.notes)
    if up_axis != "z":
        rot = up_rotation(up_axis)
        prims = [_rotated(p, rot) for p in prims]
    if max_triangles is not None and sum(p.triangles for p in prims) > max_triangles:
        before = sum(p.triangles for p in prims)
        prims = decimate(prims, max_triangles)
        notes.append(f"decimated {before} -> {sum(p.triangles for p in prims)} triangles")
    asset = dataclasses.replace(asset, primitives=prims, notes=notes)
    try:
        validate(asset)
        asset = asset.normalized()
        validate(asset)
    except ValueError as e:
        raise MeshError(str(e), asset.source) from None
    return asset


# ------------------------------------------------------------------ decimation
def decimate(prims: list[Primitive], max_triangles: int) -> list[Primitive]:
    """Reduce to about `max_triangles`, each large primitive by the same ratio."""
    total = sum(p.triangles for p in prims)
    if total <= max_triangles:
        return prims
    fixed = sum(p.triangles for p in prims if p.triangles <= _KEEP_SMALL)
    if max_triangles - fixed > 0 and total > fixed:
        ratio, floor = (max_triangles - fixed) / (total - fixed), _KEEP_SMALL
    else:  # many tiny parts: everything has to shrink
        ratio, floor = max_triangles / total, 4
    out = []
    for p in prims:
        target = max(4, int(p.triangles * ratio))
        if p.triangles > floor and target < p.triangles:
            try:
                p = _simplify(p, target)
            except MemoryError:
                raise
            except Exception:   # an odd part stays as it is; the note shows the total
                pass
        if p.triangles:
            out.append(p)
    return out


def _simplify(p: Primitive, target: int) -> Primitive:
    import fast_simplification as fs

    faces = p.faces.astype(np.int32)
    _, _, collapses = fs.simplify(p.positions, faces, target_count=target, return_collapses=True)
    # The replay gives the old->new vertex map that `simplify` alone does not, so
    # per-vertex attributes (UV, normal) can follow the collapses.
    points, new_faces, mapping = fs.replay_simplification(p.positions, faces, collapses)
    points = np.asarray(points, dtype=np.float32)
    # Each new vertex takes the attributes of the nearest original vertex that was
    # collapsed into it: same side of any UV seam, close in position.
    src = np.flatnonzero(mapping >= 0)
    dst = mapping[src]
    dist = ((p.positions[src] - points[dst]) ** 2).sum(1)
    order = np.lexsort((dist, dst))
    dst_sorted, src_sorted = dst[order], src[order]
    first = np.r_[True, dst_sorted[1:] != dst_sorted[:-1]]
    rep = np.full(len(points), -1, dtype=np.int64)
    rep[dst_sorted[first]] = src_sorted[first]
    if (rep < 0).any():
        from scipy.spatial import cKDTree
        missing = np.flatnonzero(rep < 0)
        rep[missing] = cKDTree(p.positions).query(points[missing])[1]
    new_faces = np.asarray(new_faces, dtype=np.uint32).reshape(-1, 3)
    normals = None if p.normals is None else p.normals[rep]
    uv = None if p.uv is None else p.uv[rep]
    return dataclasses.replace(p, positions=points, faces=new_faces, normals=normals, uv=uv)


# ------------------------------------------------------------------- geometry
def face_normals(positions: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unnormalised face normals; their length is twice the triangle area."""
    tri = positions[faces]
    return np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])


def vertex_normals(positions: np.ndarray, faces: np.ndarray, fn: np.ndarray | None = None) -> np.ndarray:
    """Area-weighted vertex normals (bincount: much faster than np.add.at)."""
    if fn is None:
        fn = face_normals(positions, faces)
    idx = faces.ravel()
    n = np.stack([np.bincount(idx, np.repeat(fn[:, k], 3), minlength=len(positions))
                  for k in range(3)], axis=1)
    return _unit(n)


def _unit(n: np.ndarray) -> np.ndarray:
    length = np.linalg.norm(n, axis=1, keepdims=True)
    out = np.divide(n, length, out=np.zeros_like(n, dtype=np.float64), where=length > 0)
    out[length[:, 0] == 0] = (0.0, 0.0, 1.0)
    return out.astype(np.float32)


@dataclasses.dataclass
class _Counts:
    nonfinite_faces: int = 0
    zero_area_faces: int = 0
    faces_in: int = 0


def _clean(p: Primitive, scale: float, counts: _Counts) -> Primitive | None:
    """Drop faces touching non-finite vertices and zero-area faces, then unused vertices."""
    pos, faces = p.positions, p.faces
    counts.faces_in += len(faces)
    if len(faces) and (int(faces.max()) >= len(pos) or int(faces.min()) < 0):
        raise MeshError("face index out of range")
    finite = np.isfinite(pos).all(1)
    keep = finite[faces].all(1)
    counts.nonfinite_faces += int((~keep).sum())
    faces = faces[keep]
    fn = face_normals(pos, faces)
    ok = np.einsum("ij,ij->i", fn, fn) > (1e-12 * scale * scale) ** 2
    counts.zero_area_faces += int((~ok).sum())
    if not ok.all():
        faces, fn = faces[ok], fn[ok]
    if not len(faces):
        return None
    used = np.zeros(len(pos), dtype=bool)
    used[faces] = True
    normals, uv = p.normals, p.uv
    if not used.all():
        remap = np.cumsum(used) - 1
        faces = remap[faces]
        pos = pos[used]
        normals = None if normals is None else normals[used]
        uv = None if uv is None else uv[used]
    faces = faces.astype(np.uint32)
    if normals is None or normals.shape != pos.shape:
        normals = vertex_normals(pos, faces, fn)
    else:
        normals = normals.astype(np.float32)
        length = np.linalg.norm(normals, axis=1)
        bad = ~np.isfinite(length) | (length < 1e-8)
        if bad.any():
            normals = normals.copy()
            normals[bad] = vertex_normals(pos, faces, fn)[bad]
            length[bad] = 1.0
        normals = (normals / length[:, None]).astype(np.float32)
    if uv is not None:
        uv = np.nan_to_num(uv.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    return dataclasses.replace(p, positions=pos.astype(np.float32), faces=faces, normals=normals, uv=uv)


def clean_primitives(prims: list[Primitive], notes: list[str]) -> list[Primitive]:
    """Clean every primitive; raise MeshError if nothing drawable is left."""
    finite = [p.positions[np.isfinite(p.positions).all(1)] for p in prims]
    finite = [f for f in finite if len(f)]
    if not finite:
        raise MeshError("non-finite vertex coordinates (NaN/inf) everywhere" if any(
            len(p.positions) for p in prims) else "no triangles")
    pts = np.concatenate(finite)
    scale = float(np.linalg.norm(pts.max(0) - pts.min(0)))
    if scale == 0.0:
        raise MeshError("zero extent (all vertices coincide)")
    counts = _Counts()
    out = [c for c in (_clean(p, scale, counts) for p in prims) if c is not None]
    if not out:
        if counts.nonfinite_faces == counts.faces_in:
            raise MeshError("non-finite vertex coordinates (NaN/inf) in every face")
        raise MeshError(f"all {counts.faces_in} faces have zero area")
    if counts.nonfinite_faces:
        notes.append(f"dropped {counts.nonfinite_faces} faces with non-finite vertices")
    if counts.zero_area_faces:
        notes.append(f"dropped {counts.zero_area_faces} zero-area faces")
    return out


def merge_by_material(prims: list[Primitive]) -> list[Primitive]:
    """One primitive per (texture, colour): fewer draw calls, same image."""
    groups: dict[tuple, list[Primitive]] = {}
    for p in prims:
        key = (None if p.texture is None else id(p.texture), tuple(round(c, 6) for c in p.color))
        groups.setdefault(key, []).append(p)
    out = []
    for group in groups.values():
        if len(group) == 1:
            out.append(group[0])
            continue
        offsets = np.cumsum([0] + [len(p.positions) for p in group[:-1]])
        out.append(Primitive(
            positions=np.concatenate([p.positions for p in group]),
            faces=np.concatenate([p.faces + np.uint32(o) for p, o in zip(group, offsets)]),
            normals=np.concatenate([p.normals for p in group]),
            uv=None if group[0].uv is None else np.concatenate([p.uv for p in group]),
            texture=group[0].texture, color=group[0].color))
    return out


# -------------------------------------------------------------------- textures
def texture_array(img, *, keep_alpha: bool = True) -> np.ndarray:
    """PIL image -> (H, W, 3|4) uint8 as stored (first row = top), at most MAX_TEXTURE_SIZE."""
    from PIL import Image

    w, h = img.size
    if max(w, h) > MAX_TEXTURE_SIZE:
        k = MAX_TEXTURE_SIZE / max(w, h)
        size = (max(1, round(w * k)), max(1, round(h * k)))
        with contextlib.suppress(Exception):
            img.draft("RGB", size)       # JPEG: decode at reduced scale, much faster
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    mode = "RGBA" if (has_alpha and keep_alpha) else "RGB"
    if img.mode != mode:
        img = img.convert(mode)
    if max(img.size) > MAX_TEXTURE_SIZE:
        k = MAX_TEXTURE_SIZE / max(img.size)
        img = img.resize((max(1, round(img.size[0] * k)), max(1, round(img.size[1] * k))),
                         Image.BILINEAR, reducing_gap=2.0)
    arr = np.array(img, dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.size == 0:
        raise ValueError(f"unsupported texture shape {arr.shape}")
    if arr.shape[2] == 4 and (arr[..., 3] == 255).all():
        arr = np.ascontiguousarray(arr[..., :3])   # opaque after all: spare the renderer a blend
    return arr


# ------------------------------------------------------------------- trimesh
@contextlib.contextmanager
def _quiet():
    """trimesh and PIL log and warn freely on imperfect files; we report in one line instead."""
    logger = logging.getLogger("trimesh")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def find_asset(name: str, folder: str, root: str) -> str | None:
    """The file an OBJ/MTL/glTF names, forgiving the usual authoring slips: Windows
    separators, quotes, `map_Kd` options, a wrong folder or letter case. Only files
    lexically under `root` qualify (symlinks inside the library are trusted)."""
    name = name.strip().strip('"').replace("\\", "/")
    if "%" in name and not os.path.exists(os.path.join(folder, name)):
        name = urllib.parse.unquote(name)      # glTF URIs may be percent-encoded
    if name.startswith("-"):
        name = _map_file(name)
    if not name:
        return None
    bound = os.path.join(os.path.normpath(os.path.abspath(root)), "")
    base = os.path.basename(name)
    subdir = os.path.normpath(os.path.join(folder, os.path.dirname(name)))
    for cand in (os.path.join(subdir, base), os.path.join(folder, base)):
        cand = os.path.normpath(cand)
        if cand.startswith(bound) and os.path.isfile(cand):
            return cand
    for where in dict.fromkeys((subdir, os.path.normpath(folder))):
        if not os.path.join(where, "").startswith(bound):
            continue
        with contextlib.suppress(OSError):
            for entry in os.listdir(where):
                if entry.lower() == base.lower() and os.path.isfile(os.path.join(where, entry)):
                    return os.path.join(where, entry)
    return None


def _resolver(path: str, root: str, aliases: dict[str, str] | None = None):
    """A trimesh resolver that reads anywhere under `root` (ShapeNet v2's MTL says
    `../images/x.jpg`, which trimesh's default resolver refuses), but not outside it,
    and that finds what `find_asset` finds."""
    from trimesh.resolvers import FilePathResolver

    class Lenient(FilePathResolver):
        def get(self, name: str):
            found = find_asset((aliases or {}).get(name, name), self.parent, root)
            if found is None:
                raise FileNotFoundError(name)
            with open(found, "rb") as f:
                return f.read()

        def namespaced(self, namespace: str):
            return Lenient(os.path.join(self.parent, namespace))

    resolver = Lenient(os.path.abspath(path))
    # trimesh names geometry after the file and hashes the names as UTF-8: a Latin-1
    # file name (surrogate escapes) would fail there. Assets are found via `parent`.
    resolver.file_name, resolver.file_path = printable(resolver.file_name), printable(resolver.file_path)
    return resolver


def _mtllib_alias(path: str, raw: bytes | None) -> dict[str, str]:
    """trimesh decodes a non-UTF-8 OBJ with a guessed codec (say cp1252), then asks for
    the MTL by that name, which is not the file's: map it back to the bytes on disk."""
    if raw is None or raw.isascii():
        return {}
    with contextlib.suppress(UnicodeDecodeError):
        raw.decode("utf-8")
        return {}
    from trimesh.util import decode_text
    with open(path, "rb") as f:
        text = decode_text(f.read())
    at = text.find("mtllib")      # exactly as trimesh.exchange.obj finds it
    if at < 0:
        return {}
    end = text.find("\n", at)
    return {text[at + 6:end if end >= 0 else None].strip(): raw.decode("utf-8", "surrogateescape")}


def _material_of(geom):
    visual = getattr(geom, "visual", None)
    return visual, getattr(visual, "material", None)


def load_file(path: str, *, model_id: str, category: str, root: str | None = None,
              up_axis: str = "y", max_triangles: int | None = None) -> MeshAsset:
    """Load one mesh file into a finished (Z-up, normalised, validated) MeshAsset."""
    try:
        return finish(_read(path, model_id, category, root), up_axis=up_axis, max_triangles=max_triangles)
    except MeshError as e:
        e.path = e.path or path
        raise
    except MemoryError:
        raise MeshError("out of memory while loading", path) from None
    except Exception as e:   # a file no parser anticipated: skip this model, not the whole render
        raise MeshError(f"cannot load ({type(e).__name__}: {e})", path) from None


def _read(path: str, model_id: str, category: str, root: str | None) -> MeshAsset:
    import trimesh

    ext = os.path.splitext(path)[1].lower()
    if ext not in MESH_EXTENSIONS:
        raise MeshError(f"unsupported file type {ext!r}", path)
    try:
        size = os.path.getsize(path)
        if size == 0:
            raise MeshError("empty file", path)
        if size > MAX_FILE_BYTES:
            raise MeshError(f"file too large ({size >> 20} MB; at most {MAX_FILE_BYTES >> 20} MB "
                            "are loaded)", path)
        scan = mesh_scan.scan(path, ext, size)
    except OSError as e:
        raise MeshError(f"cannot read file: {e.strerror or e}", path) from None
    if scan.triangles > MAX_LOAD_TRIANGLES or scan.vertices > 3 * MAX_LOAD_TRIANGLES:
        what = (f"{scan.triangles} triangles" if scan.triangles > MAX_LOAD_TRIANGLES
                else f"{scan.vertices} vertices")
        raise MeshError(f"too large to load: {what} (at most {MAX_LOAD_TRIANGLES} triangles; "
                        "decimate it first)", path)
    root = root or os.path.dirname(os.path.abspath(path))
    notes: list[str] = []
    missing = 0
    mtl = _ObjMaterials(path, root, scan.mtllib) if ext == ".obj" else None
    expected_gltf = _gltf_textured_materials(scan.gltf) if scan.gltf is not None else None
    with _quiet():
        try:
            with open(path, "rb") as f:
                resolver = _resolver(path, root, _mtllib_alias(path, scan.mtllib))
                scene = trimesh.load(f, file_type=ext[1:], resolver=resolver,
                                     force="scene", process=False)
        except MeshError:
            raise
        except Exception as e:
            raise MeshError(f"unreadable {ext[1:].upper()} file ({type(e).__name__}: {e})", path) from None

        textures = _Textures()
        textured_materials: set[int] = set()
        prims: list[Primitive] = []
        for node in scene.graph.nodes_geometry:
            transform, geom_name = scene.graph[node]
            geom = scene.geometry.get(geom_name)
            if not isinstance(geom, trimesh.Trimesh) or not len(geom.faces):
                continue
            prim = _primitive(geom, np.asarray(transform, dtype=np.float64))
            visual, material = _material_of(geom)
            look = _material_look(material, visual)
            if mtl is not None and material is not None:
                look = mtl.resolve(material, look)
            tex = textures.get(look, material)
            color = look.color
            if look.alpha_mode == "MASK":   # cut-off baked into the texture, or all-or-nothing
                color = (*color[:3], 1.0 if (tex is not None or color[3] >= look.cutoff) else 0.0)
            if tex is not None:
                textured_materials.add(id(material))
            if tex is not None and prim.uv is not None:
                prim = dataclasses.replace(prim, texture=tex, color=color)
            else:
                prim = dataclasses.replace(prim, uv=None, color=color)
            if prim.color[3] <= 0.0 and prim.texture is None:
                continue        # fully transparent: nothing to draw
            prims.append(prim)
    undecodable = 0
    for material in textures.failed:
        if mtl is not None:
            mtl.failed(material)
        elif expected_gltf is None:      # glTF losses are counted against its JSON below
            undecodable += 1
    if not prims:
        kinds = {type(g).__name__ for g in scene.geometry.values()}
        raise MeshError("no triangles" + (f" (only {', '.join(sorted(kinds))})" if kinds else
                                          " (file unreadable or has no faces)"), path)
    if mtl is not None:
        missing += mtl.report(notes)
    if undecodable:
        missing += undecodable
        notes.append(f"{undecodable} texture(s) could not be decoded: using the material colour")
    if expected_gltf is not None:
        lost = max(0, expected_gltf - len(textured_materials))
        if lost:
            missing += lost
            notes.append(f"{lost} of {expected_gltf} textured materials have no decodable "
                         "base colour texture: using the material colour")
    prims = clean_primitives(prims, notes)
    prims = merge_by_material(prims)
    return MeshAsset(model_id=model_id, category=category, source=path, primitives=prims,
                     missing_textures=missing, notes=notes)


class _Textures:
    """Decoded textures, each image once (materials often share one)."""

    def __init__(self):
        self._arrays: dict[tuple, np.ndarray | None] = {}
        self._alive: list = []          # keeps images referenced: their id()s are the keys
        self.failed: list = []          # materials whose image would not decode

    def get(self, look: "_Look", material) -> np.ndarray | None:
        if look.image is None:
            return None
        alpha = look.alpha_mode != "OPAQUE"      # glTF: opaque materials ignore texture alpha
        key = (id(look.image), alpha)
        if key not in self._arrays:
            self._alive.append(look.image)
            try:
                self._arrays[key] = texture_array(look.image, keep_alpha=alpha)
            except Exception:
                self._arrays[key] = None
                self.failed.append(material)
        tex = self._arrays[key]
        if tex is None or look.alpha_mode != "MASK":
            return tex
        # Primitive has no alpha mode: bake glTF's MASK cut-off into a 0/255 alpha
        mkey = (id(look.image), "mask", look.color[3], look.cutoff)
        if mkey not in self._arrays:
            self._arrays[mkey] = _mask_alpha(tex, look.color[3], look.cutoff)
        return self._arrays[mkey]


def _primitive(geom, transform: np.ndarray) -> Primitive:
    positions = np.asarray(geom.vertices)
    faces = np.asarray(geom.faces)
    normals = None
    try:    # normals stored in the file (read the cache dict directly: no re-hashing)
        normals = geom._cache.cache.get("vertex_normals")
    except AttributeError:
        normals = None
    uv = getattr(geom.visual, "uv", None)
    if uv is not None:
        uv = np.asarray(uv, dtype=np.float32)
        if uv.shape != (len(positions), 2):
            uv = None
    if not np.allclose(transform, np.eye(4)):
        m = transform[:3, :3]
        positions = positions.astype(np.float64) @ m.T + transform[:3, 3]
        if normals is not None:
            with np.errstate(all="ignore"):
                normals = np.asarray(normals, np.float64) @ np.linalg.inv(m) \
                    if abs(np.linalg.det(m)) > 1e-12 else None
        if np.linalg.det(m) < 0:        # a mirroring node: keep faces counter-clockwise
            faces = faces[:, ::-1]
    return Primitive(positions=positions.astype(np.float32), faces=faces, normals=normals, uv=uv)


@dataclasses.dataclass
class _Look:
    color: tuple[float, float, float, float] = DEFAULT_COLOR
    image: object = None             # PIL image
    alpha_mode: str = "BLEND"        # glTF alphaMode; other formats: texture alpha blends
    cutoff: float = 0.5


def _material_look(material, visual) -> _Look:
    from trimesh.visual.material import PBRMaterial, SimpleMaterial

    if isinstance(material, PBRMaterial):
        factor = material.baseColorFactor
        look = _Look(_rgba(factor) if factor is not None else (1.0, 1.0, 1.0, 1.0),
                     material.baseColorTexture, material.alphaMode or "OPAQUE",
                     0.5 if material.alphaCutoff is None else float(material.alphaCutoff))
        if look.alpha_mode == "OPAQUE":        # glTF: alpha is ignored for opaque materials
            look.color = (*look.color[:3], 1.0)
        return look
    if isinstance(material, SimpleMaterial):
        return _Look(_rgba(material.diffuse), material.image)
    kind = getattr(visual, "kind", None)
    if kind == "vertex":
        return _Look(_rgba(np.asarray(visual.vertex_colors).mean(0), 255.0))
    if kind == "face":
        return _Look(_rgba(np.asarray(visual.face_colors).mean(0), 255.0))
    return _Look()


def _rgba(c, scale: float | None = None) -> tuple[float, float, float, float]:
    """RGB(A) as uint8 (trimesh's habit) or float in [0, 1] -> RGBA floats."""
    c = np.asarray(c)
    if c.size == 0:
        return DEFAULT_COLOR
    if scale is None:
        scale = 255.0 if np.issubdtype(c.dtype, np.integer) else 1.0
    c = c.astype(np.float64).ravel()[:4] / scale
    c = np.clip(np.concatenate([c, [1.0] * (4 - c.size)]), 0.0, 1.0)
    return tuple(float(x) for x in c)


def _mask_alpha(tex: np.ndarray, factor_alpha: float, cutoff: float) -> np.ndarray:
    """glTF alphaMode MASK baked into the texture: alpha becomes 0 or 255."""
    if tex.shape[2] == 3:
        alpha = np.full(tex.shape[:2], 255 if factor_alpha >= cutoff else 0, np.uint8)
    else:
        alpha = np.where(tex[..., 3].astype(np.float32) / 255.0 * factor_alpha >= cutoff, 255, 0)
    if (alpha == 255).all():
        return np.ascontiguousarray(tex[..., :3])
    return np.dstack([tex[..., :3], alpha.astype(np.uint8)])


# ------------------------------------------------------------ OBJ/MTL expectations
_MAP_OPTIONS = {"-blendu": 1, "-blendv": 1, "-bm": 1, "-boost": 1, "-cc": 1, "-clamp": 1,
                "-imfchan": 1, "-mm": 2, "-o": 3, "-s": 3, "-t": 3, "-texres": 1, "-type": 1}


def _map_file(rest: str) -> str:
    """The file name of a `map_Kd [options] file` line (trimesh keeps the options in it)."""
    tokens = rest.split()
    i = 0
    while i < len(tokens) and tokens[i].lower() in _MAP_OPTIONS:
        n = _MAP_OPTIONS[tokens[i].lower()]
        i += 1
        for _ in range(n):    # -o/-s/-t take 1 to 3 numbers
            if i < len(tokens) and re.fullmatch(r"[-+]?[\d.]+(e[-+]?\d+)?", tokens[i], re.I):
                i += 1
            elif n == 1 and i < len(tokens) and not tokens[i].startswith("-"):
                i += 1
    return " ".join(tokens[i:])


class _ObjMaterials:
    """What the OBJ's MTL promises, to tell real textures from missing ones.

    trimesh only logs (at debug level) when an MTL or texture is missing, invents a
    grey 2x2 texture when the MTL is absent, ignores `d` (dissolve) and dims materials
    without `Kd`, so the MTL is parsed here too and trimesh's result checked against it.
    """

    def __init__(self, path: str, root: str, mtllib: bytes | None):
        self.dir = os.path.dirname(os.path.abspath(path))
        self.root = root
        self.mtl_name: str | None = None
        self.mtl_missing = ""                   # why the MTL cannot be used, if it cannot
        self.materials: dict[str, dict] = {}
        self.lost: dict[str, str] = {}          # texture file -> why
        self._images: dict[str, object] = {}    # texture file -> PIL image
        if mtllib is None:
            return
        self.mtl_name = mtllib.decode("utf-8", "surrogateescape")
        mtl_path = self._find(self.mtl_name)
        if mtl_path is None:
            self.mtl_missing = "not found"
            return
        current = None
        try:
            with open(mtl_path, "rb") as f:
                text = f.read().decode("utf-8", "surrogateescape")
        except OSError as e:
            self.mtl_missing = f"unreadable ({e.strerror or e})"
            return
        for raw in text.splitlines():
            parts = raw.strip().split(None, 1)
            if len(parts) < 2:
                continue
            key, rest = parts[0].lower(), parts[1].strip()
            if key == "newmtl":
                current = self.materials.setdefault(" ".join(rest.split()), {})
            elif current is not None and key == "map_kd":
                current["map_kd"] = _map_file(rest)
            elif current is not None and key == "d":
                with contextlib.suppress(ValueError):
                    current["d"] = float(rest.split()[-1])
            elif current is not None and key == "kd":
                current["kd"] = True

    def _find(self, name: str) -> str | None:
        return find_asset(name, self.dir, self.root)

    def resolve(self, material, look: _Look) -> _Look:
        """Colour and image for one trimesh material, by the MTL's account."""
        spec = None if self.mtl_missing else self.materials.get(getattr(material, "name", None))
        if spec is None:   # no MTL, or a name it does not define: trimesh's grey placeholder is not real
            return _Look()
        color = look.color
        if not spec.get("kd"):   # trimesh's default is a dark grey that would dim the texture
            color = (1.0, 1.0, 1.0, 1.0) if spec.get("map_kd") else DEFAULT_COLOR
        d = spec.get("d")
        if d is not None and 0.0 < d < 1.0:
            color = (*color[:3], d)
        texfile = spec.get("map_kd")
        if not texfile:
            return _Look(color)
        image = self._images.get(texfile, look.image)
        if image is None:        # trimesh could not find/decode it; try the forgiving lookup
            found = self._find(texfile)
            if found is None:
                self.lost.setdefault(texfile, "not found")
            else:
                from PIL import Image
                try:
                    image = Image.open(found)
                    image.load()
                except Exception as e:
                    image = None
                    self.lost.setdefault(texfile, f"unreadable ({type(e).__name__})")
        if image is not None:
            self._images.setdefault(texfile, image)   # one decode per file, not per material
        return _Look(color, image)

    def failed(self, material):
        spec = self.materials.get(getattr(material, "name", None), {})
        self.lost.setdefault(spec.get("map_kd", "?"), "unreadable")

    def report(self, notes: list[str]) -> int:
        if self.mtl_missing:
            notes.append(f"material file {printable(self.mtl_name)!r} {self.mtl_missing}: "
                         "using a default colour")
            return 1
        for texfile, why in sorted(self.lost.items()):
            notes.append(f"texture {printable(texfile)!r} {why}: using the material colour")
        return len(self.lost)


def _gltf_textured_materials(header: dict) -> int | None:
    """How many materials used by mesh primitives have a base colour texture."""
    try:
        materials = header.get("materials", [])
        used = {p["material"] for m in header.get("meshes", []) for p in m.get("primitives", [])
                if "material" in p}
        count = 0
        for i in used:
            mat = materials[i]
            if "baseColorTexture" in mat.get("pbrMetallicRoughness", {}) or "diffuseTexture" in \
                    mat.get("extensions", {}).get("KHR_materials_pbrSpecularGlossiness", {}):
                count += 1
        return count
    except Exception:
        return None      # trimesh will say what is wrong with the file
