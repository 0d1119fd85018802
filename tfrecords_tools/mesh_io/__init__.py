"""One mesh file -> `MeshAsset` (`meshes.py` decides *which* files are models; this package
turns one into something the renderer can draw, or says in one line why it cannot):

  load.py       reading through trimesh, one primitive per geometry, the finishing steps
  geometry.py   up axis, normals, clean-up, merging by material
  decimate.py   decimation above max_triangles
  materials.py  colours, alpha modes, textures, finding texture files
  common.py     formats, size limits, MeshError
"""
from .common import (DEFAULT_COLOR, MAX_FILE_BYTES, MAX_LOAD_TRIANGLES, MAX_TEXTURE_SIZE,
                     MESH_EXTENSIONS, UP_AXES, MeshError, printable)
from .decimate import decimate
from .geometry import clean_primitives, merge_by_material, up_rotation
from .load import finish, load_file
from .materials import texture_array

__all__ = ["DEFAULT_COLOR", "MAX_FILE_BYTES", "MAX_LOAD_TRIANGLES", "MAX_TEXTURE_SIZE", "MESH_EXTENSIONS",
           "UP_AXES", "MeshError", "clean_primitives", "decimate", "finish", "load_file",
           "merge_by_material", "printable", "texture_array", "up_rotation"]
