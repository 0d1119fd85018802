"""Headless OpenGL renderer: one pass -> lit RGB, semantic depth mask, linear depth, alpha.

moderngl on an EGL context: Mesa llvmpipe on CPU machines, the NVIDIA EGL driver
on GPU servers (`device_index` picks the GPU). One context per process, reused for
every view; meshes stay on the GPU while consecutive views use them.
"""
from __future__ import annotations

import dataclasses

import moderngl
import numpy as np

from tfrecords_tools.asset import MeshAsset
from tfrecords_tools.cameras import Camera

_VERTEX = """
#version 330
uniform mat4 u_view;
uniform mat4 u_proj;
in vec3 in_pos;
in vec3 in_normal;
in vec2 in_uv;
out vec3 v_normal;
out vec2 v_uv;
out float v_depth;
void main() {
    vec4 p = u_view * vec4(in_pos, 1.0);
    v_depth = -p.z;              // linear depth along the optical axis
    v_normal = in_normal;        // world space: meshes have no model transform
    v_uv = in_uv;
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
in vec3 v_normal;
in vec2 v_uv;
in float v_depth;
layout(location = 0) out vec4 f_rgb;
layout(location = 1) out vec4 f_mask;
layout(location = 2) out float f_depth;
void main() {
    vec4 c = u_has_texture ? u_color * texture(u_texture, v_uv) : u_color;
    if (c.a < 0.1) discard;      // cut-out textures (leaves, fences); glass stays opaque
    vec3 n = normalize(v_normal);
    if (!gl_FrontFacing) n = -n; // materials are double-sided
    float lambert = max(dot(n, u_light_dir), 0.0);
    f_rgb = vec4(clamp(c.rgb * (u_ambient + u_intensity * lambert), 0.0, 1.0), 1.0);
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


@dataclasses.dataclass
class Targets:
    rgb: np.ndarray    # (H, W, 3) uint8, object on black
    mask: np.ndarray   # (H, W, 3) uint8, palette colour x depth shading, black background
    depth: np.ndarray  # (H, W) float32 linear depth in object radii, +inf off the object
    alpha: np.ndarray  # (H, W) uint8, 255 on the object, 0 elsewhere


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
               mask_color: tuple[float, float, float]) -> Targets:
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
        for vao, tex, color in gm.parts:
            prog["u_color"].value = color
            prog["u_has_texture"].value = tex is not None
            if tex is not None:
                tex.use(0)
            vao.render(moderngl.TRIANGLES)
        return self._read()

    def _read(self) -> Targets:
        s = self.size
        rgba = np.frombuffer(self.fbo.read(components=4, attachment=0), np.uint8).reshape(s, s, 4)[::-1]
        mask = np.frombuffer(self.fbo.read(components=4, attachment=1), np.uint8).reshape(s, s, 4)[::-1]
        depth = np.frombuffer(self.fbo.read(components=1, attachment=2, dtype="f4"),
                              np.float32).reshape(s, s)[::-1]
        alpha = rgba[..., 3]
        depth = np.where(alpha > 0, depth, np.float32(np.inf))
        return Targets(rgb=np.ascontiguousarray(rgba[..., :3]), mask=np.ascontiguousarray(mask[..., :3]),
                       depth=depth, alpha=np.ascontiguousarray(alpha))

    def release(self) -> None:
        for _, gm in self._cache.values():
            gm.release()
        self._cache.clear()
        self.ctx.release()
