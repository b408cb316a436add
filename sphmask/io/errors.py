"""The single error type raised for unusable input files, and the check that an input is a readable file."""
import os

from sphmask.errors import SphmaskError


class DataFormatError(SphmaskError, ValueError):
    """An input file that cannot be used. The message names the file and says what is wrong.

    ``path`` is the offending file (or directory) and ``problem`` the explanation, so batch tools
    can report a scene and move on.
    """

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def require_file(path) -> None:
    """Raise :class:`DataFormatError` unless ``path`` is an existing regular file we may read, saying
    which of those it is not (a directory given as input is the common slip)."""
    if os.path.isdir(path):
        raise DataFormatError(path, "is a directory, not a file")
    if not os.path.exists(path):
        raise DataFormatError(path, "file not found")
    if not os.path.isfile(path):
        raise DataFormatError(path, "not a regular file (a device, socket or pipe)")
    if not os.access(path, os.R_OK):
        raise DataFormatError(path, "permission denied (the file is not readable)")
