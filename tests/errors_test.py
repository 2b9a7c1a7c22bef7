"""User mistakes are one `ERROR: ...` line and exit status 1; bugs keep their tracebacks.

ganjax/errors.py: every error the user can fix is a `UserError`; the entry points catch only
those (experiments/common.py's USER_ERRORS).
"""

import importlib
import inspect
import os
import pathlib
import pkgutil
import subprocess
import sys
import textwrap

import ml_collections
import pytest

import ganjax
from ganjax import errors
from ganjax.errors import (
    BadFileError,
    ConfigError,
    DataError,
    IncompatibleRunError,
    MissingFileError,
    NonFiniteError,
    UnreadableFileError,
    UserError,
)

REPO = pathlib.Path(__file__).resolve().parents[1]


def run(*args, timeout=300):
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# --- the classes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cls, builtin",
    [
        (ConfigError, ValueError),
        (MissingFileError, FileNotFoundError),
        (BadFileError, ValueError),
        (IncompatibleRunError, ValueError),
        (DataError, ValueError),
        (NonFiniteError, FloatingPointError),
        (UnreadableFileError, OSError),
    ],
)
def test_each_project_error_is_a_user_error_and_keeps_its_builtin_base(cls, builtin):
    assert issubclass(cls, UserError) and issubclass(cls, builtin)
    assert not issubclass(UserError, builtin)  # A plain ValueError is not a user error.


def test_the_existing_error_classes_are_user_errors_with_their_old_bases():
    from ganjax.data import DatasetNotFoundError
    from ganjax.data.celeba import FormatError
    from ganjax.data.prepare import PrepareError
    from ganjax.data.translation import TranslationDatasetNotFoundError
    from ganjax.evaluators.extractors import ExtractorError
    from ganjax.evaluators.inception_install import InceptionInstallError
    from ganjax.evaluators.reference_stats import ReferenceStatsError
    from ganjax.latent.stage_keys import StageMismatchError
    from ganjax.training.checkpointing import CheckpointError
    from ganjax.training.loop_utils import NonFiniteError as LoopNonFiniteError
    from ganjax.training.sampling import NoGeneratorError

    for cls, old_base in (
        (CheckpointError, RuntimeError),
        (DatasetNotFoundError, FileNotFoundError),
        (TranslationDatasetNotFoundError, DatasetNotFoundError),
        (FormatError, ValueError),
        (PrepareError, ValueError),
        (ExtractorError, ValueError),
        (InceptionInstallError, ValueError),
        (ReferenceStatsError, ValueError),
        (NoGeneratorError, ValueError),
        (StageMismatchError, ValueError),
        (LoopNonFiniteError, FloatingPointError),
    ):
        assert issubclass(cls, UserError) and issubclass(cls, old_base), cls


def test_every_error_class_defined_in_ganjax_is_a_user_error():
    """A new error class of the package is for the user (else raise a built-in one)."""
    found = {}
    for info in pkgutil.walk_packages(ganjax.__path__, "ganjax."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__ == module.__name__
            ):
                found[f"{module.__name__}.{name}"] = obj
    assert len(found) >= 15, sorted(found)  # The walk found the package's classes.
    not_user = sorted(k for k, cls in found.items() if not issubclass(cls, UserError))
    assert not not_user, f"error classes that are not ganjax.errors.UserError: {not_user}"


def test_entry_points_catch_user_errors_only():
    from experiments import common

    assert common.USER_ERRORS == (UserError,)


# --- raise sites the user reaches -----------------------------------------------------------


def _config(**values) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(values)


def _unknown_schedule(tmp):
    from ganjax.training import optim

    optim.create_schedule(_config(schedule="cosine", learning_rate=1.0), 1, 1)


def _unknown_method(tmp):
    from ganjax import methods

    methods.method_class("gann")


def _unknown_dataset(tmp):
    from ganjax.data import load_split

    load_split("imagenet", "train")


def _unknown_loss(tmp):
    from ganjax.objectives import losses

    losses.check_loss_type("lsgan")


def _unknown_augment_op(tmp):
    from ganjax.objectives import augment

    augment.parse_policy("color,blur")


def _bad_sweep(tmp):
    from ganjax.tools import sweeps

    sweeps.parse_sweep("lr")


def _not_a_run(tmp):
    from ganjax.training import sampling

    sampling.read_run(tmp)


@pytest.mark.parametrize(
    "call, cls, match",
    [
        (_unknown_schedule, ConfigError, "Unknown schedule 'cosine'"),
        (_unknown_method, ConfigError, "Unknown config.method 'gann'"),
        (_unknown_dataset, ConfigError, "Unknown dataset 'imagenet'"),
        (_unknown_loss, ConfigError, "Unknown config.loss.type 'lsgan'"),
        (_unknown_augment_op, ConfigError, "Unknown DiffAugment op 'blur'"),
        (_bad_sweep, ConfigError, "Bad sweep axis 'lr'"),
        (_not_a_run, MissingFileError, "not a ganjax run folder"),
    ],
)
def test_user_facing_raise_sites_raise_user_errors(call, cls, match, tmp_path):
    with pytest.raises(cls, match=match):
        call(tmp_path)


def test_a_run_needs_a_known_task():
    from ganjax.training import runner

    with pytest.raises(ConfigError, match="Unknown config.task 'synthetic'"):
        runner.train_and_evaluate(_config(task="synthetic"), "/nonexistent")


# --- the entry points, as a user runs them --------------------------------------------------


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("ERROR:")]


@pytest.mark.parametrize(
    "args, says",
    [
        # A folder that is not a run: MissingFileError.
        (["-m", "experiments.sample", "--workdir={tmp}"], "not a ganjax run folder"),
        # A config value no method has (was a plain ValueError): ConfigError.
        (
            [
                "-m",
                "experiments.train",
                "--config=configs/fashion_mnist_gan.py:tiny",
                "--workdir={tmp}/run",
                "--config.method=gann",
            ],
            "Unknown config.method 'gann'",
        ),
    ],
)
def test_a_user_mistake_is_one_error_line_and_exit_1(args, says, tmp_path):
    proc = run(*[a.format(tmp=tmp_path) for a in args])
    assert proc.returncode == 1, proc.stderr[-3000:]
    lines = _error_lines(proc.stderr)
    assert len(lines) == 1 and says in lines[0], proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr


_INJECTED_BUG = """
    import sys

    from absl import app

    from experiments import common, sample
    from ganjax.training import sampling

    def broken(*args, **kwargs):
        raise {error}("injected bug in the library")

    sampling.restore_generator = broken
    sys.argv = ["experiments.sample", "--workdir={workdir}"]
    app.run(sample.main, flags_parser=common.parse_flags)
"""


@pytest.mark.parametrize("error", ["ValueError", "FileNotFoundError", "OSError"])
def test_a_bug_keeps_its_traceback(error, tmp_path):
    """A plain ValueError / OSError from inside the library is a bug, not a user mistake."""
    script = textwrap.dedent(_INJECTED_BUG).format(error=error, workdir=tmp_path)
    proc = run("-c", script)
    assert proc.returncode != 0
    assert "Traceback (most recent call last)" in proc.stderr, proc.stderr[-3000:]
    assert f"{error}: injected bug in the library" in proc.stderr
    assert not _error_lines(proc.stderr), proc.stderr[-3000:]


def test_the_errors_module_documents_the_rule():
    doc = errors.UserError.__doc__
    assert "fix" in doc and "bug" in doc and "traceback" in doc
