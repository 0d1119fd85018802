"""Headless OpenGL renderer: one pass -> lit RGB, semantic depth mask, linear depth, alpha.

moderngl on an EGL context: Mesa llvmpipe on CPU machines, the NVIDIA EGL driver
on GPU servers (`device_index` picks the GPU). One context per process, reused for
every view; meshes stay on the GPU while consecutive views use them.
"""
from __future__ import annotations

import dataclasses

import moderngl
import numpy as np

from tfrecords_tools.asset import MeshAsset, Primitive
from tfrecords_tools.cameras import Camera

_VERTEX = """
#version 330
uniform mat4 u_view;
uniform mat4 u_proj;
uniform mat4 u_model;            // identity for the object; places occluders
in vec3 in_pos;
in vec3 in_normal;
in vec2 in_uv;
out vec3 v_normal;
out vec2 v_uv;
out float v_depth;
out vec3 v_world;
void main() {
    vec4 w = u_model * vec4(in_pos, 1.0);
    vec4 p = u_view * w;
    v_depth = -p.z;              // linear depth along the optical axis
    v_normal = mat3(u_model) * in_normal;  // rotation and scale only: no shear in use
    v_uv = in_uv;
    v_world = w.xyz;
    gl_Position = u_proj * p;
}
"""

# Mask shading s = 1 - 0.75 * clamp((depth - near) / 2): the object lies within
# 2 radii of depth from `near` (its closest possible point), so s is in [0.25, 1]:
# one factor for all three channels, no gamma, no tint (docs/method.md §1; a regression target).
_FRAGMENT = """
#version 330
uniform sampler2D u_texture;
uniform bool u_has_texture;
uniform vec4 u_color;
uniform vec3 u_light_dir;
uniform float u_intensity;
uniform float u_ambient;
uniform vec3 u_mask_color;
uniform float u_mask_near;
// Domain randomisation (randomize.py). With u_dressed false the shading is the plain one,
// bit for bit, so renders without randomisation keep their bytes.
uniform bool u_dressed;
uniform bool u_occluder;         // an occluder: colour only; M, alpha and depth stay the object's
uniform bool u_box_uv;           // texture coordinates from the world position, not the mesh
uniform float u_uv_scale;
uniform int u_num_lights;
uniform vec3 u_light_dirs[3];
uniform vec3 u_light_colors[3];
uniform float u_intensities[3];
uniform float u_specular;
uniform float u_shininess;
uniform vec3 u_camera_pos;
in vec3 v_normal;
in vec2 v_uv;
in float v_depth;
in vec3 v_world;
layout(location = 0) out vec4 f_rgb;
layout(location = 1) out vec4 f_mask;
layout(location = 2) out float f_depth;
void main() {
    vec3 n = normalize(v_normal);
    vec2 uv = v_uv;
    if (u_box_uv) {              // project along the dominant normal axis: any mesh, no UVs needed
        vec3 a = abs(n), q = v_world * u_uv_scale;
        uv = (a.x > a.y && a.x > a.z) ? q.yz : ((a.y > a.z) ? q.xz : q.xy);
    }
    vec4 c = u_has_texture ? u_color * texture(u_texture, uv) : u_color;
    if (c.a < 0.1) discard;      // cut-out textures (leaves, fences); glass stays opaque
    if (!gl_FrontFacing) n = -n; // materials are double-sided
    vec3 rgb;
    if (!u_dressed) {
        float lambert = max(dot(n, u_light_dir), 0.0);
        rgb = c.rgb * (u_ambient + u_intensity * lambert);
    } else {                     // coloured lights, Blinn-Phong highlights
        vec3 k = vec3(u_ambient), spec = vec3(0.0);
        vec3 v = normalize(u_camera_pos - v_world);
        for (int i = 0; i < u_num_lights; ++i) {
            float lambert = max(dot(n, u_light_dirs[i]), 0.0);
            k += u_intensities[i] * lambert * u_light_colors[i];
            float h = max(dot(n, normalize(u_light_dirs[i] + v)), 0.0);
            spec += (lambert > 0.0 ? u_specular * u_intensities[i] * pow(h, u_shininess) : 0.0)
                    * u_light_colors[i];
        }
        rgb = c.rgb * k + spec;
    }
    if (u_occluder) {
        f_rgb = vec4(clamp(rgb, 0.0, 1.0), 0.0);
        f_mask = vec4(0.0, 0.0, 0.0, 1.0);
        f_depth = -1.0;          // marks occluder pixels for the read-back
        return;
    }
    f_rgb = vec4(clamp(rgb, 0.0, 1.0), 1.0);
    float s = 1.0 - 0.75 * clamp((v_depth - u_mask_near) / 2.0, 0.0, 1.0);
    f_mask = vec4(u_mask_color * s, 1.0);
    f_depth = v_depth;
}
"""

@dataclasses.dataclass(frozen=True)
class Light:
    direction: np.ndarray  # (3,) unit vector towards the light, world space
    intensity: float
    ambient: float
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)  # used by dressed renders only


@dataclasses.dataclass(frozen=True)
class Occluder:
    shape: str                 # one of SHAPES
    model: np.ndarray          # (4, 4) model -> world transform
    texture: int | None        # index into the renderer's texture pool, or a plain colour
    color: tuple[float, float, float, float]
    uv_scale: float = 2.0


@dataclasses.dataclass(frozen=True)
class Dressing:
    """The domain randomisation of one view (drawn by randomize.py)."""
    lights: tuple[Light, ...]                  # every light; lights[0] is the plain render's
    specular: float = 0.0
    shininess: float = 16.0
    # part index -> (pool texture or None for a plain colour, RGBA colour, uv scale)
    materials: dict[int, tuple[int | None, tuple[float, float, float, float], float]] = \
        dataclasses.field(default_factory=dict)
    occluders: tuple[Occluder, ...] = ()


@dataclasses.dataclass
class Targets:
    rgb: np.ndarray    # (H, W, 3) uint8, object (and occluders) on black
    mask: np.ndarray   # (H, W, 3) uint8, palette colour x depth shading, black background
    depth: np.ndarray  # (H, W) float32 linear depth in object radii, +inf off the object
    alpha: np.ndarray  # (H, W) uint8, 255 on the visible object, 0 elsewhere
    cover: np.ndarray | None = None  # (H, W) bool: occluder pixels (not object), if any


SHAPES = ("box", "sphere", "cylinder")


def _shape_asset(shape: str) -> MeshAsset:
    """Unit primitives for occluders; box and cylinder flat-shaded (unmerged vertices)."""
    import trimesh
    if shape == "sphere":
        m = trimesh.creation.icosphere(subdivisions=2, radius=0.5)
    else:
        m = (trimesh.creation.box(extents=(1.0, 1.0, 1.0)) if shape == "box"
             else trimesh.creation.cylinder(radius=0.5, height=1.0, sections=16))
        m.unmerge_vertices()
    prim = Primitive(positions=np.asarray(m.vertices, np.float32),
                     faces=np.asarray(m.faces, np.uint32))
    return MeshAsset(model_id=shape, category="occluder", source=f"primitive:{shape}",
                     primitives=[prim])


class _GpuMesh:
    def __init__(self, ctx: moderngl.Context, prog: moderngl.Program, asset: MeshAsset):
        self.parts = []
        self._resources = []
        for p in asset.primitives:
            normals = p.normals if p.normals is not None else _vertex_normals(p.positions, p.faces)
            uv = p.uv if p.uv is not None else np.zeros((len(p.positions), 2), np.float32)
            data = np.hstack([p.positions, normals, uv]).astype("f4")
            vbo = ctx.buffer(data.tobytes())
            ibo = ctx.buffer(np.ascontiguousarray(p.faces, dtype="u4").tobytes())
            vao = ctx.vertex_array(prog, [(vbo, "3f 3f 2f", "in_pos", "in_normal", "in_uv")],
                                   index_buffer=ibo, index_element_size=4)
            tex = None
            if p.texture is not None and p.uv is not None:
                img = np.ascontiguousarray(np.flipud(p.texture))  # GL rows go bottom-up
                tex = ctx.texture((img.shape[1], img.shape[0]), img.shape[2], img.tobytes())
                tex.build_mipmaps()  # small outputs minify textures a lot: avoid aliasing
                tex.repeat_x = tex.repeat_y = True
            self._resources += [vbo, ibo, vao] + ([tex] if tex else [])
            self.parts.append((vao, tex, tuple(float(c) for c in p.color)))

    def release(self) -> None:
        for r in self._resources:
            r.release()


def _vertex_normals(positions: np.ndarray, faces: np.ndarray) -> np.ndarray:
    tri = positions[faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    vn = np.zeros_like(positions, dtype=np.float64)
    for k in range(3):
        np.add.at(vn, faces[:, k], fn)
    norm = np.linalg.norm(vn, axis=1, keepdims=True)
    return (vn / np.where(norm > 0, norm, 1)).astype(np.float32)


class Renderer:
    """Renders a `MeshAsset` from a `Camera` into the four targets at `size`²."""

    def __init__(self, size: int, device_index: int = 0, cache_meshes: int = 4):
        kwargs = {"device_index": device_index} if device_index else {}
        try:
            self.ctx = moderngl.create_standalone_context(backend="egl", **kwargs)
        except Exception as e:  # missing libEGL / no driver: name the fix
            raise RuntimeError(
                f"cannot create a headless EGL OpenGL context ({e}); install the system "
                "packages libegl1 libegl-mesa0 libgl1-mesa-dri libgles2 (make setup does)") from e
        self.size = size
        self.prog = self.ctx.program(vertex_shader=_VERTEX, fragment_shader=_FRAGMENT)
        self.prog["u_texture"].value = 0
        self._colour = [self.ctx.renderbuffer((size, size), 4) for _ in range(2)]
        self._depth_lin = self.ctx.renderbuffer((size, size), 1, dtype="f4")
        self.fbo = self.ctx.framebuffer(
            color_attachments=[*self._colour, self._depth_lin],
            depth_attachment=self.ctx.depth_renderbuffer((size, size)))
        self._cache: dict[int, tuple[MeshAsset, _GpuMesh]] = {}
        self._cache_size = cache_meshes
        self.prog["u_model"].write(np.eye(4, dtype="f4").tobytes())
        self.prog["u_dressed"].value = False
        self.prog["u_occluder"].value = False
        self.prog["u_box_uv"].value = False
        self._pool: list[moderngl.Texture] = []
        self._shapes: dict[str, _GpuMesh] = {}

    def set_texture_pool(self, images: list[np.ndarray]) -> None:
        """Upload the random textures that dressed renders draw from (once per worker)."""
        for t in self._pool:
            t.release()
        self._pool = []
        for img in images:
            img = np.ascontiguousarray(np.flipud(img))
            tex = self.ctx.texture((img.shape[1], img.shape[0]), img.shape[2], img.tobytes())
            tex.build_mipmaps()
            tex.repeat_x = tex.repeat_y = True
            self._pool.append(tex)

    @property
    def pool_size(self) -> int:
        return len(self._pool)

    @property
    def gl_renderer(self) -> str:
        return self.ctx.info["GL_RENDERER"]

    def _gpu_mesh(self, asset: MeshAsset) -> _GpuMesh:
        key = id(asset)
        if key in self._cache and self._cache[key][0] is asset:
            return self._cache[key][1]
        if len(self._cache) >= self._cache_size:  # drop the oldest: GPU memory stays flat
            old = next(iter(self._cache))
            self._cache.pop(old)[1].release()
        gm = _GpuMesh(self.ctx, self.prog, asset)
        self._cache[key] = (asset, gm)
        return gm

    def render(self, asset: MeshAsset, camera: Camera, light: Light,
               mask_color: tuple[float, float, float], dressing: Dressing | None = None) -> Targets:
        gm = self._gpu_mesh(asset)
        self.fbo.use()
        self.ctx.enable(moderngl.DEPTH_TEST)
        self.ctx.disable(moderngl.CULL_FACE)
        self.fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        prog = self.prog
        prog["u_view"].write(camera.view_matrix().T.astype("f4").tobytes())
        prog["u_proj"].write(camera.projection_matrix().T.astype("f4").tobytes())
        prog["u_light_dir"].value = tuple(float(x) for x in light.direction)
        prog["u_intensity"].value = float(light.intensity)
        prog["u_ambient"].value = float(light.ambient)
        prog["u_mask_color"].value = tuple(float(c) for c in mask_color)
        # Nearest point of a unit sphere around the origin, seen from the camera.
        prog["u_mask_near"].value = float(np.linalg.norm(camera.position)) - 1.0
        if dressing is None:
            for vao, tex, color in gm.parts:
                self._draw(vao, tex, color)
            return self._read()
        self._dress(camera, dressing)
        try:
            for i, (vao, tex, color) in enumerate(gm.parts):
                if i in dressing.materials:
                    pool, color, scale = dressing.materials[i]
                    prog["u_box_uv"].value, prog["u_uv_scale"].value = True, float(scale)
                    tex = None if pool is None else self._pool[pool]
                self._draw(vao, tex, color)
                prog["u_box_uv"].value = False
            prog["u_occluder"].value = True
            for occ in dressing.occluders:
                prog["u_model"].write(np.asarray(occ.model, "f4").T.tobytes())
                prog["u_box_uv"].value, prog["u_uv_scale"].value = True, float(occ.uv_scale)
                shape = self._shape(occ.shape)
                self._draw(shape.parts[0][0], None if occ.texture is None else self._pool[occ.texture],
                           occ.color)
            return self._read(with_cover=bool(dressing.occluders))
        finally:  # the next plain render must see the plain state
            prog["u_model"].write(np.eye(4, dtype="f4").tobytes())
            prog["u_dressed"].value = prog["u_occluder"].value = prog["u_box_uv"].value = False

    def _draw(self, vao, tex, color) -> None:
        self.prog["u_color"].value = color  # tuples of floats already: no per-draw conversion
        self.prog["u_has_texture"].value = tex is not None
        if tex is not None:
            tex.use(0)
        vao.render(moderngl.TRIANGLES)

    def _dress(self, camera: Camera, dressing: Dressing) -> None:
        prog, lights = self.prog, dressing.lights[:3]
        pad = [Light(np.zeros(3), 0.0, 0.0)] * (3 - len(lights))
        prog["u_dressed"].value = True
        prog["u_num_lights"].value = len(lights)
        prog["u_light_dirs"].value = [tuple(float(x) for x in li.direction) for li in (*lights, *pad)]
        prog["u_light_colors"].value = [tuple(float(x) for x in li.color) for li in (*lights, *pad)]
        prog["u_intensities"].value = [float(li.intensity) for li in (*lights, *pad)]
        prog["u_specular"].value = float(dressing.specular)
        prog["u_shininess"].value = float(dressing.shininess)
        prog["u_camera_pos"].value = tuple(float(x) for x in camera.position)

    def _shape(self, shape: str) -> _GpuMesh:
        if shape not in self._shapes:
            self._shapes[shape] = _GpuMesh(self.ctx, self.prog, _shape_asset(shape))
        return self._shapes[shape]

    def _read(self, with_cover: bool = False) -> Targets:
        s = self.size
        rgba = np.frombuffer(self.fbo.read(components=4, attachment=0), np.uint8).reshape(s, s, 4)[::-1]
        mask = np.frombuffer(self.fbo.read(components=4, attachment=1), np.uint8).reshape(s, s, 4)[::-1]
        depth = np.frombuffer(self.fbo.read(components=1, attachment=2, dtype="f4"),
                              np.float32).reshape(s, s)[::-1]
        alpha = rgba[..., 3]
        cover = (depth < 0) if with_cover else None
        depth = np.where(alpha > 0, depth, np.float32(np.inf))
        return Targets(rgb=np.ascontiguousarray(rgba[..., :3]), mask=np.ascontiguousarray(mask[..., :3]),
                       depth=depth, alpha=np.ascontiguousarray(alpha), cover=cover)

    def release(self) -> None:
        for gm in [*(g for _, g in self._cache.values()), *self._shapes.values()]:
            gm.release()
        for t in self._pool:
            t.release()
        self._cache.clear()
        self.ctx.release()
