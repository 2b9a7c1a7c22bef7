#!/usr/bin/env bash
# Sets ganjax up on a Debian machine with Python 3.11: the Fashion-MNIST package (when missing),
# a virtualenv in .venv, the pinned requirements and the tests' reference implementations
# (requirements-test*.txt; GANJAX_SKIP_TEST_REFS=1 skips those). Safe to run again.
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
echo "== Set up: $(.venv/bin/python -c 'import jax; print("jax", jax.__version__, "on", jax.default_backend())')"
