"""The root of the package's own error types.

Every error sphmask raises on purpose for unusable input (a config, a checkpoint, a data file, an
evaluation input) derives from :class:`SphmaskError`, so the tools can print it as one line
(:mod:`sphmask.cli`) while a bug still shows its traceback.
"""


class SphmaskError(Exception):
    """An input the package cannot use; the message says what was wrong and what was expected."""
