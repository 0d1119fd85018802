"""What every step of mesh loading shares: the supported formats, the size limits, and
`MeshError`, the one-line reason a model is skipped."""
from __future__ import annotations



from ..asset import Primitive
from ..errors import UserError


MESH_EXTENSIONS = (".obj", ".glb", ".gltf", ".ply", ".off", ".stl")


UP_AXES = ("x", "y", "z", "-x", "-y", "-z")


MAX_TEXTURE_SIZE = 1024        # px; larger textures cost upload time, not accuracy at our view sizes


DEFAULT_COLOR = Primitive.__dataclass_fields__["color"].default


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
