"""The trainers outside the method loop (domain classifier, transfer head, post-hoc encoder) keep
the loop's guards: a run of zero steps is a config error, and NaN stops training with the last
good checkpoint kept and nothing non-finite saved."""

import shutil

import ml_collections
import pytest

from configs import fashion_mnist_classifier
from ganjax.classifiers import transfer_classifier
from ganjax.errors import ConfigError, NonFiniteError
from ganjax.latent import posthoc_encoder
from ganjax.training import loop_utils, train


def test_step_count_comes_from_steps_or_epochs_and_is_never_zero():
    train = ml_collections.ConfigDict
    assert loop_utils.derive_num_steps(train({"num_steps": 7, "num_epochs": 3.0}), 10) == 7
    assert loop_utils.derive_num_steps(train({"num_steps": 0, "num_epochs": 2.5}), 10) == 25
    with pytest.raises(ConfigError, match="0 steps at 10 steps per epoch"):
        loop_utils.derive_num_steps(train({"num_steps": 0, "num_epochs": 0.01}), 10)
    with pytest.raises(ConfigError, match="both are 0"):
        loop_utils.derive_num_steps(train({"num_steps": 0, "num_epochs": 0.0}), 10)


def _classifier_config(mnist_dir, tmp_path):
    c = fashion_mnist_classifier.get_config("tiny")
    c.data.manual_dir = str(mnist_dir)
    c.data.cache_dir = str(tmp_path / "cache")
    return c


def test_classifier_trainer_refuses_zero_steps(mnist_dir, tmp_path):
    c = _classifier_config(mnist_dir, tmp_path)
    c.train.num_steps, c.train.num_epochs = 0, 1e-4  # Once: 0 steps and an untrained "result".
    with pytest.raises(ConfigError, match="set at least one step"):
        train.train_and_evaluate(c, tmp_path / "run")
    assert not (tmp_path / "run" / "results.json").exists()


def test_transfer_head_stops_on_nan_and_saves_nothing(mnist_dir, tiny_gan_run, tmp_path):
    c = _classifier_config(mnist_dir, tmp_path)
    c.model.name, c.model.extractor = "transfer", f"discriminator:{tiny_gan_run}"
    c.train.num_steps = 3
    c.optim.d.learning_rate = float("nan")  # Every update is NaN.
    with pytest.raises(NonFiniteError, match="non-finite"):
        transfer_classifier.train_and_evaluate(c, tmp_path / "run")
    assert not (tmp_path / "run" / "results.json").exists()
    assert not list((tmp_path / "run" / "checkpoints").glob("[0-9]*"))


def test_posthoc_encoder_refuses_zero_steps_and_stops_on_nan(tiny_gan_run, tmp_path):
    with pytest.raises(ConfigError, match="at least one step"):
        posthoc_encoder.Settings(steps=0)
    run = tmp_path / "run"
    shutil.copytree(tiny_gan_run, run)
    settings = posthoc_encoder.Settings(
        steps=4, batch_size=8, features=8, learning_rate=float("nan"), refine_steps=0
    )
    with pytest.raises(NonFiniteError, match="No checkpoint had been written yet"):
        posthoc_encoder.train(run, settings)
    assert not list((run / "encoder" / "checkpoints").glob("[0-9]*"))
