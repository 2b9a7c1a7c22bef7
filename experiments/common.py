"""Shared plumbing for the entry points: logging to the console and one-line errors."""

from __future__ import annotations

import logging as pylogging
import sys

from absl import logging

from ganjax.checkpointing import CheckpointError
from ganjax.data import DatasetNotFoundError
from ganjax.train import NonFiniteError

# Errors whose message already says what went wrong and how to fix it: print it, exit 1.
USER_ERRORS = (DatasetNotFoundError, CheckpointError, NonFiniteError, ValueError, FileNotFoundError)


class _QuietLibraries(pylogging.Filter):
    """Drops INFO chatter from orbax and tfds (they log every save step); keeps warnings."""

    def filter(self, record: pylogging.LogRecord) -> bool:
        noisy = any(p in record.pathname for p in ("/orbax/", "/tensorflow_datasets/", "xla_bridge"))
        return record.levelno >= pylogging.WARNING or not noisy


def setup_logging() -> None:
    logging.set_verbosity(logging.INFO)
    logging.use_absl_handler()
    handler = logging.get_absl_handler()
    handler.python_handler.stream = sys.stderr
    handler.addFilter(_QuietLibraries())


def fail(error: Exception) -> None:
    """Exits with status 1 and one message naming the problem and the fix."""
    logging.flush()
    sys.exit(f"ERROR: {error}")
