"""File formats: PLY meshes and point clouds, atomic writes, and the error type for bad input files."""
from sphmask.io.atomic import atomic_path, save_pth, write_bytes, write_text
from sphmask.io.errors import DataFormatError
from sphmask.io.ply import PlyMesh, read_ply, write_ply

__all__ = ["DataFormatError", "PlyMesh", "atomic_path", "read_ply", "save_pth", "write_bytes", "write_ply", "write_text"]
