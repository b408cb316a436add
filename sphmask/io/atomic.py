"""Atomic file writes: a reader (or a resumed batch run) sees either the old file or the complete
new one, never a half-written file.

Data is written to a temporary file in the destination directory and moved into place with
``os.replace``, which is atomic on POSIX and Windows when source and destination share a volume.
The data is not fsync'ed: this protects against interrupted processes, not against power loss.
"""
import contextlib
import os
import tempfile
from typing import Iterator


def _default_mode() -> int:
    # mkstemp creates files readable only by the owner; give the final file the usual
    # permissions (0o666 minus the umask) like open() would.
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_MODE = _default_mode()


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yield a temporary path next to ``path``; on success move it onto ``path``, on error delete it."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-" + os.path.basename(path) + "-", dir=directory)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def save_pth(obj, path: str) -> None:
    """``torch.save(obj, path)`` atomically."""
    import torch  # here, so that the text and bytes writers do not load torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def write_text(text: str, path: str) -> None:
    """Write a UTF-8 text file atomically (``\\n`` line ends on every platform)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)


def write_bytes(data: bytes, path: str) -> None:
    """Write a binary file atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
