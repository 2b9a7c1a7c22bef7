import fcntl
import os
import pathlib
import shutil
import sys
import tempfile

import pytest

from tests import fixtures

_CACHE_ENV = "JAX_COMPILATION_CACHE_DIR"
_OWN_CACHE: list[str] = []


def pytest_configure(config):
    """One persistent XLA compilation cache for the whole test run, fresh for each run.

    The suite compiles the same tiny programs many times: every end-to-end run jits its step
    anew, and the 1-vs-4-device and command-line tests start new processes. Set in the main
    process before the xdist workers start, the environment variables reach every worker and
    every subprocess a test starts (JAX reads them at import). A cache that the caller set is
    used as it is; the run's own is removed at the end, so every run starts cold.
    """
    if hasattr(config, "workerinput"):
        return
    # The suite's programs are tiny: XLA's LLVM passes cost more than running them unoptimized
    # (measured: the horse2zebra archive test 44.5 -> 36.2 s, 69 -> 54 s of CPU; the real-weight
    # Inception port test, which runs 48 images at 299 px, 43 -> 45 s). Every program of a test
    # and of the subprocesses it compares with is compiled alike, so the equality tests (resume,
    # 1 vs 4 devices) compare like with like. JAX_DISABLE_MOST_OPTIMIZATIONS=0 turns it off.
    os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")
    if "jax" in sys.modules:
        sys.modules["jax"].config.update(
            "jax_disable_most_optimizations", os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"] == "1"
        )
    if os.environ.get(_CACHE_ENV):
        return
    path = tempfile.mkdtemp(prefix="ganjax-test-xla-cache-")
    _OWN_CACHE.append(path)
    os.environ[_CACHE_ENV] = path
    # Tiny programs compile in milliseconds: cache those that take a tenth of a second or more.
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.1")
    if "jax" in sys.modules:  # Imported already (no xdist: this process runs the tests).
        jax = sys.modules["jax"]
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)


def pytest_unconfigure(config):
    for path in _OWN_CACHE:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def mnist_dir(tmp_path_factory) -> pathlib.Path:
    return fixtures.make_mnist(tmp_path_factory.mktemp("fashion_mnist"))


@pytest.fixture(scope="session")
def tiny_classifier(mnist_dir, tmp_path_factory) -> pathlib.Path:
    """A small classifier trained on the fixture (40 steps): a real extractor for the tests."""
    from configs import fashion_mnist_classifier
    from ganjax.training import train

    c = fashion_mnist_classifier.get_config("tiny")
    c.data.manual_dir = str(mnist_dir)
    c.train.num_steps = 40
    c.data.cache_dir = str(tmp_path_factory.mktemp("cache"))  # Not the user's ~/.cache.
    workdir = tmp_path_factory.mktemp("classifier")
    train.train_and_evaluate(c, workdir)
    return workdir


@pytest.fixture(scope="session")
def tiny_gan_run(mnist_dir, tmp_path_factory) -> pathlib.Path:
    """A finished tiny DCGAN run on the fixture (6 steps, checkpoints at 3 and 6)."""
    from configs import fashion_mnist_dcgan
    from ganjax.training import train

    c = fashion_mnist_dcgan.get_config("tiny")
    c.data.manual_dir = str(mnist_dir)
    c.data.cache_dir = str(tmp_path_factory.mktemp("cache"))  # Evaluations of it cache here.
    workdir = tmp_path_factory.mktemp("gan_run")
    train.train_and_evaluate(c, workdir)
    return workdir


def _lock(path: pathlib.Path, mode: int) -> int:
    fd = os.open(path, os.O_CREAT | os.O_RDWR)
    fcntl.flock(fd, mode)
    return fd


def _unlock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def built_once(tmp_path_factory, name: str, build) -> pathlib.Path:
    """`build(folder)` run once for the whole test run, whichever pytest-xdist worker asks first;
    the others wait for it and reuse the folder (a tiny trained run that several tests read).

    The folder lives in the run's temp root, which all workers share; a lock file orders them.
    """
    root = tmp_path_factory.getbasetemp().parent / "ganjax-built-once"
    root.mkdir(exist_ok=True)
    folder = root / name
    fd = _lock(root / f"{name}.lock", fcntl.LOCK_EX)
    try:
        if not (folder / ".built").exists():
            shutil.rmtree(folder, ignore_errors=True)  # A build that failed part-way.
            folder.mkdir()
            build(folder)
            (folder / ".built").touch()
    finally:
        _unlock(fd)
    return folder


@pytest.fixture(autouse=True)
def _run_alone_when_marked(request, tmp_path_factory):
    """Under pytest-xdist, a test marked `run_alone` runs while no other worker runs a test.

    Every test holds a shared lock while it runs; a `run_alone` test takes it exclusively.
    The gate lock gives the exclusive side priority: once it waits, no new test starts, so it
    cannot be starved. The lock files live in the run's temp root, which all workers share.
    """
    if "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    root = tmp_path_factory.getbasetemp().parent
    alone = request.node.get_closest_marker("run_alone") is not None
    gate = _lock(root / "ganjax-gate.lock", fcntl.LOCK_EX)
    running = _lock(root / "ganjax-tests.lock", fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
    if not alone:  # Others may start now; a `run_alone` test keeps the gate shut until done.
        _unlock(gate)
    try:
        yield
    finally:
        _unlock(running)
        if alone:
            _unlock(gate)
