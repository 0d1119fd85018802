"""Materials and textures: colours, alpha modes, texture images (resized, cut-outs), and
finding texture files that OBJ/MTL and glTF name loosely (case, backslashes, map options)."""
from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import urllib.parse

import numpy as np

from .common import DEFAULT_COLOR, MAX_TEXTURE_SIZE, printable


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


def make_resolver(path: str, root: str, aliases: dict[str, str] | None = None):
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


def mtllib_alias(path: str, raw: bytes | None) -> dict[str, str]:
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


def material_of(geom):
    visual = getattr(geom, "visual", None)
    return visual, getattr(visual, "material", None)


class Textures:
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


@dataclasses.dataclass
class _Look:
    color: tuple[float, float, float, float] = DEFAULT_COLOR
    image: object = None             # PIL image
    alpha_mode: str = "BLEND"        # glTF alphaMode; other formats: texture alpha blends
    cutoff: float = 0.5


def material_look(material, visual) -> _Look:
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


class ObjMaterials:
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


def gltf_textured_materials(header: dict) -> int | None:
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
