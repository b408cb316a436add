"""File formats: PLY meshes and point clouds, scene archives, atomic writes, and the error type for bad input files."""
from sphmask.io.archive import extract_scene_archive, is_scene_archive, write_scene_archive
from sphmask.io.atomic import atomic_path, save_pth, write_bytes, write_text
from sphmask.io.errors import DataFormatError
from sphmask.io.ply import PlyMesh, read_ply, write_ply

__all__ = ["DataFormatError", "PlyMesh", "atomic_path", "extract_scene_archive", "is_scene_archive", "read_ply", "save_pth",
           "write_bytes", "write_ply", "write_scene_archive", "write_text"]
