"""Shared plumbing for the entry points: logging to the console and one-line errors."""

from __future__ import annotations

import logging as pylogging
import re
import sys

from absl import flags, logging

from ganjax.errors import UserError

# Errors whose message already says what went wrong and how to fix it: print it, exit 1. Every
# other exception is a bug and keeps its traceback (ganjax/errors.py).
USER_ERRORS = (UserError,)


class _QuietLibraries(pylogging.Filter):
    """Drops INFO chatter from orbax and tfds (they log every save step); keeps warnings."""

    def filter(self, record: pylogging.LogRecord) -> bool:
        noisy = any(
            p in record.pathname for p in ("/orbax/", "/tensorflow_datasets/", "xla_bridge")
        )
        return record.levelno >= pylogging.WARNING or not noisy


def setup_logging() -> None:
    logging.set_verbosity(logging.INFO)
    logging.use_absl_handler()
    handler = logging.get_absl_handler()
    handler.python_handler.stream = sys.stderr
    handler.addFilter(_QuietLibraries())


def parse_flags(argv: list[str]) -> list[str]:
    """absl flag parsing with one clear line for a bad flag or config override."""
    try:
        return flags.FLAGS(argv)
    except (flags.Error, AttributeError, KeyError, TypeError, ValueError) as e:
        sys.exit(
            f"ERROR: bad flag or config override: {_last_error_line(str(e))}\n"
            "Config keys are listed in the config file (and in <workdir>/config.json of a past "
            "run); "
            "see --helpfull for the flags."
        )


def _last_error_line(message: str) -> str:
    """The final 'SomeError: text' of a message that may embed a traceback, on one line."""
    lines = [l.strip() for l in message.replace("\\n", "\n").splitlines() if l.strip()]
    errors = [l for l in lines if re.match(r"^\w+(Error|Exception): ", l)]
    text = errors[-1].split(": ", 1)[1] if errors else " ".join(lines)
    return text.strip("'\"").replace("\\'", "'")


def fail(error: Exception) -> None:
    """Exits with status 1 and one message naming the problem and the fix."""
    logging.flush()
    sys.exit(f"ERROR: {error}")
