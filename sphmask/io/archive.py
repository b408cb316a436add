"""Scene folders as one tar archive (``.tar.xz``, ``.tar.gz`` or ``.tar``): the bundled demo rooms
(``demo/scenes.tar.xz``, docs/demo_model.md) and ``tools/make_synthetic.py --out <name>.tar.xz``.

Writing is deterministic, so that regenerating the rooms with the documented command gives the same
archive byte for byte: members sorted by name, every timestamp 0, owner 0/0 without user or group
names, modes 0o644 (files) and 0o755 (folders), the gzip header without a name or time. Reading
extracts regular files and folders only, inside the destination folder.
"""
import contextlib
import gzip
import lzma
import os
import tarfile
import zlib
from typing import BinaryIO, Iterator, List

from sphmask.io.atomic import atomic_path
from sphmask.io.errors import DataFormatError, require_file

ARCHIVE_SUFFIXES = (".tar.xz", ".tar.gz", ".tar")
_FILE_MODE, _DIR_MODE = 0o644, 0o755
# What a damaged or foreign file raises somewhere in tarfile and the decompressors.
_READ_ERRORS = (tarfile.TarError, lzma.LZMAError, zlib.error, gzip.BadGzipFile, EOFError)


def is_scene_archive(path: str) -> bool:
    """Whether ``path`` is named like an archive this module writes (by its suffix)."""
    return str(path).lower().endswith(ARCHIVE_SUFFIXES)


@contextlib.contextmanager
def _compressed(path: str, raw: BinaryIO) -> Iterator[BinaryIO]:
    name = path.lower()
    if name.endswith(".tar.xz"):
        with lzma.LZMAFile(raw, "wb", format=lzma.FORMAT_XZ, preset=6) as f:
            yield f
    elif name.endswith(".tar.gz"):
        # GzipFile would otherwise store the current time and the temporary file's name
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as f:
            yield f
    else:
        yield raw


def _members(src_dir: str) -> List[str]:
    names = []
    for top, dirs, files in os.walk(src_dir):
        rel = os.path.relpath(top, src_dir)
        for name in dirs + files:
            names.append(name if rel == "." else os.path.join(rel, name).replace(os.sep, "/"))
    return sorted(names)


def write_scene_archive(src_dir: str, path: str) -> List[str]:
    """Write every file and folder under ``src_dir`` into the archive ``path`` (its suffix picks the
    compression, :data:`ARCHIVE_SUFFIXES`), atomically. Returns the member names in archive order.

    Raises:
        ValueError: ``path`` has no archive suffix, or ``src_dir`` is not a folder.
        DataFormatError: ``src_dir`` holds a link or a special file (the archive holds neither).
    """
    if not is_scene_archive(path):
        raise ValueError(f"archive name must end in one of {', '.join(ARCHIVE_SUFFIXES)}, got {path!r}")
    if not os.path.isdir(src_dir):
        raise ValueError(f"{src_dir}: not a folder to archive")
    names = _members(src_dir)
    with atomic_path(path) as tmp, open(tmp, "wb") as raw, _compressed(path, raw) as stream, \
            tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            full = os.path.join(src_dir, name)
            if os.path.islink(full) or not (os.path.isdir(full) or os.path.isfile(full)):
                raise DataFormatError(full, "is a link or a special file; a scene archive holds only files and folders")
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if os.path.isdir(full):
                info.type, info.mode = tarfile.DIRTYPE, _DIR_MODE
                tar.addfile(info)
            else:
                info.mode, info.size = _FILE_MODE, os.path.getsize(full)
                with open(full, "rb") as f:
                    tar.addfile(info, f)
    return names


def _check_member(path: str, member: tarfile.TarInfo) -> None:
    name = member.name
    if name.startswith(("/", "\\")) or os.path.isabs(name) or ".." in name.replace("\\", "/").split("/"):
        raise DataFormatError(path, f"member {name!r} points outside the archive's folder; refusing to extract")
    if not (member.isfile() or member.isdir()):
        raise DataFormatError(path, f"member {name!r} is a link or a special file; a scene archive holds only "
                                    f"files and folders")


def extract_scene_archive(path: str, dest_dir: str) -> List[str]:
    """Extract the archive ``path`` (any of :data:`ARCHIVE_SUFFIXES`, compression detected) into
    ``dest_dir`` and return its member names. Every member is checked before anything is written.

    Raises:
        DataFormatError: the file is missing, not a readable tar archive (corrupt, truncated, another
            format), or holds a member with an absolute path, ``..``, a link or a device.
    """
    require_file(path)
    try:
        with tarfile.open(path, mode="r:*") as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(path, member)
            os.makedirs(dest_dir, exist_ok=True)
            # The "data" filter (Python 3.10.12+, 3.11.4+) refuses the same members once more as it
            # extracts, and drops modes and owners the archive might carry.
            extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(dest_dir, members=members, **extra)
    except _READ_ERRORS as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DataFormatError(path, f"not a readable .tar.xz, .tar.gz or .tar archive ({reason})") from None
    return [m.name for m in members]
