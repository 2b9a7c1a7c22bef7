"""Where the tests find the real data and weights that `experiments.prepare_data` sets up.

`require(name)` returns the location of a real dataset (or the Inception weights, or torch) for a
test. When it is missing the test is skipped with the set-up command, except where
$GANJAX_REQUIRE_REAL_DATA=1 (CI's .ci/run sets it after preparing everything): there a missing
dataset fails the test, so the suite can never pass by silently skipping its real-data tests.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib

import pytest

REQUIRE_ENV = "GANJAX_REQUIRE_REAL_DATA"
_SETUP = {
    "celeb_a": "python -m experiments.prepare_data --dataset=celeba --source=<folder with "
    "img_align_celeba.zip, list_attr_celeba.txt, list_eval_partition.txt>",
    "mnist": "python -m experiments.prepare_data --dataset=mnist",
    "facades": "python -m experiments.prepare_data --dataset=facades --source=<facades.zip>",
    "horse2zebra": "python -m experiments.prepare_data --dataset=horse2zebra "
    "--source=<horse2zebra.zip>",
    "inception": "python -m experiments.prepare_data --dataset=inception",
    "torch": "bash scripts/setup.sh (installs requirements-test.txt)",
    "fashion_mnist": "apt-get install dataset-fashion-mnist (bash scripts/setup.sh does)",
}


def _locate(name: str) -> pathlib.Path | None:
    if name == "fashion_mnist":  # Debian's package, where the readers look first.
        where = pathlib.Path("/usr/share/datasets/fashion-mnist")
        return where if where.exists() else None
    if name in ("celeb_a", "mnist"):
        from ganjax.data import sources

        return sources.local_directory(name)
    if name in ("facades", "horse2zebra"):
        from ganjax.data import translation

        kind = "pix2pix" if name == "facades" else "cyclegan"
        found = translation.locate(kind, name, "test")
        if found is None:
            return None
        # The loaders' `root`: the folder holding `<name>.zip` or the `<name>/` folder.
        return found.parent
    if name == "inception":
        from ganjax.evaluators import inception_weights

        try:
            return inception_weights.resolve_inception_weights("")
        except FileNotFoundError:
            return None
    if name == "torch":
        return pathlib.Path(".") if importlib.util.find_spec("torch") else None
    raise ValueError(f"unknown real data '{name}'")


def require(name: str) -> pathlib.Path:
    """The folder (or file) of real data `name`; skips or, under CI, fails when it is missing."""
    where = _locate(name)
    if where is not None:
        return where
    message = f"real {name} is not set up here: {_SETUP[name]}"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{message} (${REQUIRE_ENV}=1: the real-data tests must run)")
    pytest.skip(message)
