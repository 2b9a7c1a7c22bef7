"""The project's error classes: what the user can fix, told apart from bugs.

A `UserError` is a problem with the user's input (data, config, flags, files, checkpoints, runs)
whose message names the problem and the fix. The entry points print it as one `ERROR: ...` line
and exit 1. Every other exception is a bug (in ganjax or below it) and keeps its traceback.

The subclasses keep a built-in base where code and tests already catch one (`ConfigError` is a
`ValueError`, `MissingFileError` a `FileNotFoundError`, `UnreadableFileError` an `OSError`), so
`except ValueError` still works.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input (data, config, flags, files, checkpoints) whose message
    names the problem and the fix; everything else is a bug and keeps its traceback."""


class ConfigError(UserError, ValueError):
    """A config value, flag or argument that is invalid, unknown or inconsistent with another."""


class MissingFileError(UserError, FileNotFoundError):
    """A file or folder the user must provide (or produce with another command) is not there."""


class BadFileError(UserError, ValueError):
    """A file the user provided is there but damaged or of the wrong kind."""


class UnreadableFileError(UserError, OSError):
    """A file the user provided cannot be read at all (an image PIL does not recognize, say)."""


class IncompatibleRunError(UserError, ValueError):
    """A run folder (or cached output) that cannot be used for what was asked of it."""


class DataError(UserError, ValueError):
    """Data that cannot serve what was asked (as found, or as the config selects it): an empty
    split, a class without images, fewer examples than a batch."""


class NonFiniteError(UserError, FloatingPointError):
    """A loss, gradient norm or parameter became NaN or infinite (training diverged)."""
