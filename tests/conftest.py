import pathlib

import pytest

from tests import fixtures


@pytest.fixture(scope="session")
def mnist_dir(tmp_path_factory) -> pathlib.Path:
    return fixtures.make_mnist(tmp_path_factory.mktemp("fashion_mnist"))
