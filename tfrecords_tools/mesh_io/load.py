"""One mesh file -> a finished `MeshAsset`: read through trimesh, one primitive per geometry
with its material, then clean-up, up axis, decimation, normalisation and validation.

trimesh is used with `process=False` (no vertex merging: it costs time and we would undo it
anyway, as texture seams need split vertices), so the clean-up it would do is done here
(geometry.py)."""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import warnings

import numpy as np

from .. import mesh_scan
from ..asset import MeshAsset, Primitive, validate
from .common import MAX_FILE_BYTES, MAX_LOAD_TRIANGLES, MESH_EXTENSIONS, MeshError
from .geometry import rotated, clean_primitives, merge_by_material, up_rotation
from .decimate import decimate
from .materials import (ObjMaterials, Textures, gltf_textured_materials, make_resolver, material_look,
                        material_of, mtllib_alias)


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
        prims = [rotated(p, rot) for p in prims]
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
    ext = os.path.splitext(path)[1].lower()
    if ext not in MESH_EXTENSIONS:
        raise MeshError(f"unsupported file type {ext!r}", path)
    scan = _scan_within_limits(path, ext)
    root = root or os.path.dirname(os.path.abspath(path))
    mtl = ObjMaterials(path, root, scan.mtllib) if ext == ".obj" else None
    with _quiet():
        scene = _load_scene(path, ext, root, scan)
        textures = Textures()
        prims, textured = _primitives(scene, mtl, textures)
    if not prims:
        kinds = {type(g).__name__ for g in scene.geometry.values()}
        raise MeshError("no triangles" + (f" (only {', '.join(sorted(kinds))})" if kinds else
                                          " (file unreadable or has no faces)"), path)
    notes: list[str] = []
    missing = _missing_textures(textures, mtl, scan, textured, notes)
    prims = merge_by_material(clean_primitives(prims, notes))
    return MeshAsset(model_id=model_id, category=category, source=path, primitives=prims,
                     missing_textures=missing, notes=notes)


def _scan_within_limits(path: str, ext: str) -> mesh_scan.Scan:
    """The file's size and triangle count from its header, refused above the limits before
    any array is built."""
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
    return scan


def _load_scene(path: str, ext: str, root: str, scan):
    import trimesh
    try:
        with open(path, "rb") as f:
            resolver = make_resolver(path, root, mtllib_alias(path, scan.mtllib))
            return trimesh.load(f, file_type=ext[1:], resolver=resolver, force="scene", process=False)
    except MeshError:
        raise
    except Exception as e:
        raise MeshError(f"unreadable {ext[1:].upper()} file ({type(e).__name__}: {e})", path) from None


def _primitives(scene, mtl, textures: Textures) -> tuple[list[Primitive], set[int]]:
    """One primitive per drawable geometry of the scene graph, with its material; and the
    ids of the materials whose texture decoded."""
    import trimesh
    prims: list[Primitive] = []
    textured: set[int] = set()
    for node in scene.graph.nodes_geometry:
        transform, geom_name = scene.graph[node]
        geom = scene.geometry.get(geom_name)
        if not isinstance(geom, trimesh.Trimesh) or not len(geom.faces):
            continue
        prim = _primitive(geom, np.asarray(transform, dtype=np.float64))
        visual, material = material_of(geom)
        look = material_look(material, visual)
        if mtl is not None and material is not None:
            look = mtl.resolve(material, look)
        tex = textures.get(look, material)
        color = look.color
        if look.alpha_mode == "MASK":   # cut-off baked into the texture, or all-or-nothing
            color = (*color[:3], 1.0 if (tex is not None or color[3] >= look.cutoff) else 0.0)
        if tex is not None:
            textured.add(id(material))
        if tex is not None and prim.uv is not None:
            prim = dataclasses.replace(prim, texture=tex, color=color)
        else:
            prim = dataclasses.replace(prim, uv=None, color=color)
        if prim.color[3] > 0.0 or prim.texture is not None:  # fully transparent: nothing to draw
            prims.append(prim)
    return prims, textured


def _missing_textures(textures: Textures, mtl, scan, textured: set[int], notes: list[str]) -> int:
    """How many textures a file names but we could not use (notes say which kind)."""
    expected_gltf = gltf_textured_materials(scan.gltf) if scan.gltf is not None else None
    undecodable = missing = 0
    for material in textures.failed:
        if mtl is not None:
            mtl.failed(material)
        elif expected_gltf is None:      # glTF losses are counted against its JSON below
            undecodable += 1
    if mtl is not None:
        missing += mtl.report(notes)
    if undecodable:
        missing += undecodable
        notes.append(f"{undecodable} texture(s) could not be decoded: using the material colour")
    if expected_gltf is not None:
        lost = max(0, expected_gltf - len(textured))
        if lost:
            missing += lost
            notes.append(f"{lost} of {expected_gltf} textured materials have no decodable "
                         "base colour texture: using the material colour")
    return missing


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
