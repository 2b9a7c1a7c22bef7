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
    from ganjax import classifier_train

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
    from ganjax import train

    c = fashion_mnist_dcgan.get_config("tiny")
    c.data.manual_dir = str(mnist_dir)
    c.data.cache_dir = str(tmp_path_factory.mktemp("cache"))  # Evaluations of it cache here.
    workdir = tmp_path_factory.mktemp("gan_run")
    train.train_and_evaluate(c, workdir)
    return workdir
