import fcntl
import os
import pathlib

import pytest

from tests import fixtures


@pytest.fixture(scope="session")
def mnist_dir(tmp_path_factory) -> pathlib.Path:
    return fixtures.make_mnist(tmp_path_factory.mktemp("fashion_mnist"))


@pytest.fixture(scope="session")
def tiny_classifier(mnist_dir, tmp_path_factory) -> pathlib.Path:
    """A small classifier trained on the fixture (40 steps): a real extractor for the tests."""
    from configs import fashion_mnist_classifier
    from ganjax.classifiers import classifier_train

    c = fashion_mnist_classifier.get_config("tiny")
    c.data.manual_dir = str(mnist_dir)
    c.train.num_steps = 40
    c.data.cache_dir = str(tmp_path_factory.mktemp("cache"))  # Not the user's ~/.cache.
    workdir = tmp_path_factory.mktemp("classifier")
    classifier_train.train_and_evaluate(c, workdir)
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
