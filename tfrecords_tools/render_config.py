"""The `render:` section of a config file (docs/method.md §1 defaults)."""
from __future__ import annotations

import dataclasses

from tfrecords_tools.configlib import SEED_MAX, ConfigError, check_range


@dataclasses.dataclass
class CameraConfig:
    subdivisions: int = 2                                # icosphere: 1 -> 42 vertices, 2 -> 162
    z_range: tuple[float, float] = (-0.3, 0.6)           # authors: keep z in [-0.3, 0.6)
    z_range_per_category: dict[str, tuple[float, float]] = dataclasses.field(
        default_factory=lambda: {"aeroplane": (-0.8, 0.3)})  # authors: planes are seen from below
    distance: tuple[float, float] = (2.2, 3.0)           # object radii, drawn continuously
    focal_jitter: float = 0.12                           # +- per axis, object radii (authors 3 x 0.04)
    fov_deg: float = 52.0                                # a unit sphere fills the frame at 2.2 radii
    close_fraction: float = 0.0                          # share of views rendered as close shots
    close_distance: tuple[float, float] = (1.6, 2.2)
    close_offset: float = 0.2                            # F' = F + 0.2 (C - P_axis)

    def validate(self, p: str) -> None:
        check_range(f"{p}.subdivisions", self.subdivisions, 0, 6)
        check_range(f"{p}.close_fraction", self.close_fraction, 0.0, 1.0)
        check_range(f"{p}.fov_deg", self.fov_deg, 1.0, 170.0)
        check_range(f"{p}.focal_jitter", self.focal_jitter, 0.0, 1.0)
        for name in ("distance", "close_distance"):
            lo, hi = getattr(self, name)
            if not 1.0 < lo <= hi:
                raise ConfigError(f"{p}.{name}: {[lo, hi]} must satisfy 1 < min <= max "
                                  "(object radii; the camera must stay outside the object)")
        for name, (lo, hi) in [("z_range", self.z_range), *self.z_range_per_category.items()]:
            if not -1.0 <= lo < hi <= 1.0:
                raise ConfigError(f"{p}.{name}: {[lo, hi]} must satisfy -1 <= min < max <= 1")


@dataclasses.dataclass
class LightConfig:
    azimuth_offset: float = 90.0                  # +- degrees around the camera azimuth
    elevation: tuple[float, float] = (10.0, 80.0)  # degrees
    intensity: tuple[float, float] = (0.5, 1.1)
    ambient: tuple[float, float] = (0.15, 0.45)


@dataclasses.dataclass
class RandomizeConfig:
    """Domain randomisation at render time (tfrecords_tools/randomize.py); all off by default.

    Each `*_fraction` is the share of views that get that kind of randomisation, drawn
    independently per view from the view's seed and recorded in its record.
    """
    texture_fraction: float = 0.0        # views whose materials get random textures
    texture_per_material: float = 0.7    # on such a view, each material's chance of a new one
    photo_textures: float = 0.5          # share of the texture pool cut from background photos
    light_fraction: float = 0.0          # views lit by 1..max_lights coloured lights + specular
    max_lights: int = 3
    light_saturation: float = 0.35       # most a light's colour departs from white (HSV s)
    specular: tuple[float, float] = (0.0, 0.6)
    occluder_fraction: float = 0.0       # views with primitives in front of / beside the object
    max_occluders: int = 3
    truncate_fraction: float = 0.0       # views framed so the object runs off the border
    truncate_shift: tuple[float, float] = (0.5, 1.0)  # aim moved across the view axis, radii

    @property
    def enabled(self) -> bool:
        return any(f > 0 for f in (self.texture_fraction, self.light_fraction,
                                   self.occluder_fraction, self.truncate_fraction))

    def validate(self, p: str) -> None:
        for name in ("texture_fraction", "texture_per_material", "photo_textures", "light_fraction",
                     "light_saturation", "occluder_fraction", "truncate_fraction"):
            check_range(f"{p}.{name}", getattr(self, name), 0.0, 1.0)
        check_range(f"{p}.max_lights", self.max_lights, 1, 3)
        check_range(f"{p}.max_occluders", self.max_occluders, 1, 8)
        for name, top in (("specular", 4.0), ("truncate_shift", 3.0)):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi <= top:
                raise ConfigError(f"{p}.{name}: {[lo, hi]} must satisfy 0 <= min <= max <= {top:g}")


@dataclasses.dataclass
class RenderConfig:
    meshes: str = "procedural"            # DIR | shapenet:DIR | procedural
    # The classes, in label order: names of the library's category folders (or ShapeNet
    # synsets by id or taxonomy name); None: every category folder (tfrecords_tools/classes.py).
    categories: list[str] | None = None
    procedural_per_category: int = 8      # models per category of the embedded generator
    up_axis: str | None = None            # None: the source's convention (y for files)
    max_triangles: int | None = 60000     # decimate meshes above this (only pays far above ~40k)
    backgrounds: str = "default"          # DIR | none | default
    out: str = "data_out/render"
    size: int = 128
    views_per_model: int = 16
    lights_per_view: int = 1              # >1: same pose under other lighting (positives, docs/method.md §4)
    val_fraction: float = 0.2             # share of each category's models held out (split by model)
    views_per_shard: int = 512
    workers: int = 0                      # 0: one per CPU core
    seed: int = 0
    device_index: int = 0                 # EGL device (GPU) index
    png_compress_level: int = 1           # libdeflate level 0-9: 1 fastest, higher a little smaller
    background_scale: tuple[float, float] = (0.4, 1.0)  # crop side / shorter photo side
    background_flip: bool = True
    camera: CameraConfig = dataclasses.field(default_factory=CameraConfig)
    light: LightConfig = dataclasses.field(default_factory=LightConfig)
    randomize: RandomizeConfig = dataclasses.field(default_factory=RandomizeConfig)

    def validate(self, p: str = "render") -> None:
        check_range(f"{p}.size", self.size, 16, 4096)
        check_range(f"{p}.seed", self.seed, 0, SEED_MAX)
        check_range(f"{p}.views_per_model", self.views_per_model, 1)
        check_range(f"{p}.lights_per_view", self.lights_per_view, 1)
        check_range(f"{p}.views_per_shard", self.views_per_shard, 1)
        check_range(f"{p}.procedural_per_category", self.procedural_per_category, 1)
        check_range(f"{p}.val_fraction", self.val_fraction, 0.0, 0.9)
        check_range(f"{p}.workers", self.workers, 0)
        check_range(f"{p}.png_compress_level", self.png_compress_level, 0, 9)
        if self.max_triangles is not None:
            check_range(f"{p}.max_triangles", self.max_triangles, 100)
        if self.categories is not None:
            if isinstance(self.categories, str):
                self.categories = [c.strip() for c in self.categories.split(",")]
            if not self.categories or not all(isinstance(c, str) and c.strip() for c in self.categories):
                raise ConfigError(f"{p}.categories: expected a list of category names, got {self.categories!r}")
        if self.up_axis not in (None, "x", "y", "z", "-x", "-y", "-z"):
            raise ConfigError(f"{p}.up_axis: {self.up_axis!r} must be one of x, y, z, -x, -y, -z")
        lo, hi = self.background_scale
        if not 0 < lo <= hi <= 1:
            raise ConfigError(f"{p}.background_scale: {[lo, hi]} must satisfy 0 < min <= max <= 1")
