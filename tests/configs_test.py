"""Every config loads, its :tiny variant shrinks it, and the seeds' settings are what they say."""

import importlib
import pathlib

import pytest

CONFIGS = sorted(
    p.stem
    for p in (pathlib.Path(__file__).parents[1] / "configs").glob("*.py")
    if p.stem not in ("__init__", "base") and not p.stem.endswith("_common")
)
STABLE_KEYS = [
    "seed",
    "data.name",
    "data.manual_dir",
    "train.batch_size",
    "train.num_steps",
    "train.num_epochs",
    "ckpt.every_steps",
    "eval.every_steps",
]


def get(name, arg=None):
    return importlib.import_module(f"configs.{name}").get_config(arg)


def _trainings(config):
    """The configs that train something: the pipeline's stages, or the config itself."""
    if config.get("task") == "synthetic_pipeline":
        return [config.generative, config.classifier]
    return [config]


@pytest.mark.parametrize("name", CONFIGS)
def test_config_and_tiny_variant(name):
    for full, small in zip(_trainings(get(name)), _trainings(get(name, "tiny"))):
        for key in STABLE_KEYS:
            node = full
            for part in key.split("."):
                node = node[part]
        assert small.train.num_steps and small.train.num_steps <= 10
        assert small.data.max_examples and small.train.batch_size <= full.train.batch_size
    with pytest.raises(ValueError, match="Unknown config argument"):
        get(name, "tinny")


def test_mnist_gan_matches_the_seeds():
    c = get("mnist_gan")
    assert (c.model.name, c.model.hidden, c.model.leaky_slope) == ("mlp", 128, 0.01)
    assert (c.model.latent_dim, c.model.latent_dist) == (100, "uniform")
    assert c.optim.g.learning_rate == c.optim.d.learning_rate == 2e-3
    assert c.train.batch_size == 100 and c.loss.label_smoothing == 0.1


@pytest.mark.parametrize(
    "name", ["cifar10_dcgan", "svhn_dcgan", "fashion_mnist_dcgan", "celeba_dcgan"]
)
def test_dcgan_configs_use_radford_settings(name):
    c = get(name)
    assert c.model.name == "dcgan" and c.model.init_std == 0.02 and c.train.batch_size == 128
    for player in ("g", "d"):
        assert (c.optim[player].learning_rate, c.optim[player].b1) == (2e-4, 0.5)


def test_celeba_resolution_argument():
    assert get("celeba_dcgan", "28").data.image_size == 28
    assert get("celeba_dcgan", "res=64").data.image_size == 64
    assert get("celeba_dcgan", "tiny,res=32").data.image_size == 32
    with pytest.raises(ValueError, match="28, 32 or 64"):
        get("celeba_dcgan", "res=128")
