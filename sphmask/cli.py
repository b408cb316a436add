"""How every tool ends: the package's own errors as one line on stderr with exit code 2, Ctrl-C as
one line with exit code 130, and a traceback only when ``--debug`` is given.

    if __name__ == "__main__":
        sys.exit(run_tool(main))

``main(argv)`` parses its own options; ``--debug`` is taken out of ``argv`` before it sees them.
"""
import sys
from typing import Callable, List, Optional, Sequence

from sphmask.errors import SphmaskError

DEBUG_FLAG = "--debug"
DEBUG_HELP = f"{DEBUG_FLAG}: show the full traceback of an error instead of one line"


class Progress:
    """What a tool has completed so far, for the line printed when it is interrupted."""

    def __init__(self) -> None:
        self.message = "nothing written"

    def set(self, message: str) -> None:
        self.message = message


def run_tool(main: Callable[[List[str]], Optional[int]], argv: Optional[Sequence[str]] = None,
             progress: Optional[Progress] = None) -> int:
    """Run ``main(argv)`` and turn its outcome into an exit code (0 when it returns ``None``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = DEBUG_FLAG in args
    args = [a for a in args if a != DEBUG_FLAG]
    try:
        code = main(args)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"interrupted; {(progress or Progress()).message}", file=sys.stderr)
        return 130
    except SphmaskError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0 if code is None else int(code)
