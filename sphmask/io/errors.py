"""The single error type raised for unusable input files."""
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
