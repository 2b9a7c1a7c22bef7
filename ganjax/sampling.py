"""Sampling from a trained run: restore the generator from a workdir and draw images."""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any, Callable

import jax
import ml_collections
import numpy as np

from ganjax import checkpointing, models
from ganjax.train import create_train_state, generate
from ganjax.train_state import GANTrainState


class NoGeneratorError(ValueError):
    """The run has no generator to sample from (a classifier or a supervised-only baseline)."""


def read_run(workdir: pathlib.Path) -> tuple[ml_collections.ConfigDict, dict[str, Any]]:
    """A run folder's config and data_info.json; FileNotFoundError when it is not a run folder."""
    config_path, info_path = workdir / "config.json", workdir / "data_info.json"
    if not config_path.exists() or not info_path.exists():
        raise FileNotFoundError(
            f"{workdir} is not a ganjax run folder (no config.json/data_info.json); pass the "
            "--workdir that experiments.train wrote."
        )
    return ml_collections.ConfigDict(json.loads(config_path.read_text())), json.loads(
        info_path.read_text()
    )


def _restore(workdir: pathlib.Path, target, step: int | None):
    checkpointer = checkpointing.Checkpointer(workdir, async_save=False)
    try:
        if checkpointer.latest_step() is None:
            raise FileNotFoundError(
                f"No checkpoint in {checkpointer.directory}; train first (or wait for the first save)."
            )
        return checkpointer.restore(target, step)
    finally:
        checkpointer.close()


def restore_run(
    workdir: str | pathlib.Path, step: int | None = None
) -> tuple[GANTrainState, ml_collections.ConfigDict]:
    """Rebuilds the train state of a GAN run from <workdir>/config.json and its checkpoint.

    Raises:
      FileNotFoundError: when `workdir` holds no run or no checkpoint.
      checkpointing.CheckpointError: when the checkpoint cannot be read.
    """
    workdir = pathlib.Path(workdir)
    config, info = read_run(workdir)
    if config.get("task", "gan") != "gan":
        raise ValueError(
            f"{workdir} is a semi-supervised run: its sample grids are in {workdir / 'samples'} "
            "(written at every evaluation); experiments.sample draws from GAN runs."
        )
    # Schedules do not change the state's structure, so any step counts will do here.
    target = create_train_state(
        config, tuple(info["image_shape"]), jax.random.key(0), steps_per_epoch=1, num_steps=1
    )
    return _restore(workdir, target, step), config


@dataclasses.dataclass
class Generator:
    """A restored generator: `generate(z)` maps latents [B, latent_dim] to images in [-1, 1]."""

    generate: Callable[[jax.Array], jax.Array]
    latent_dim: int
    latent_dist: str
    image_shape: tuple[int, int, int]
    step: int
    weights: str  # "ema" or "raw", for the protocol.
    config: ml_collections.ConfigDict
    state: Any


def gan_generator(
    state: GANTrainState, config: ml_collections.ConfigDict, image_shape, use_ema: bool = True
) -> Generator:
    ema = bool(use_ema and state.ema_decay > 0)
    return Generator(
        lambda z: generate(state, z, use_ema=ema),
        config.model.latent_dim,
        config.model.latent_dist,
        tuple(image_shape),
        int(state.step),
        "ema" if ema else "raw",
        config,
        state,
    )


def ssl_generator(state, config: ml_collections.ConfigDict, image_shape) -> Generator:
    from ganjax import ssl_train

    if config.loss.get("supervised_only"):
        raise NoGeneratorError(
            "This is a supervised-only baseline run (config.loss.supervised_only): it trained no generator."
        )
    # The semi-supervised GAN keeps an EMA of D (for classification), not of G.
    return Generator(
        lambda z: ssl_train.generate(state, z),
        config.model.latent_dim,
        config.model.latent_dist,
        tuple(image_shape),
        int(state.step),
        "raw",
        config,
        state,
    )


def restore_generator(
    workdir: str | pathlib.Path, step: int | None = None, use_ema: bool = True
) -> Generator:
    """The generator of any run that has one (GAN or semi-supervised GAN).

    Raises:
      FileNotFoundError: not a run folder, or no checkpoint.
      NoGeneratorError: a classifier run or a supervised-only baseline.
      checkpointing.CheckpointError: an unreadable checkpoint.
    """
    workdir = pathlib.Path(workdir)
    config, info = read_run(workdir)
    task = config.get("task", "gan")
    image_shape = tuple(info["image_shape"])
    if task == "gan":
        state, _ = restore_run(workdir, step)
        return gan_generator(state, config, image_shape, use_ema)
    if task == "ssl":
        from ganjax import ssl_train

        if config.loss.get("supervised_only"):
            raise NoGeneratorError(
                f"{workdir} is a supervised-only baseline run: it has no generator to evaluate."
            )
        num_classes = len(info["labeled_class_counts"])
        init = np.random.default_rng(0).integers(0, 256, (8, *image_shape), dtype=np.uint8)
        target = ssl_train.create_ssl_state(
            config, image_shape, num_classes, init, jax.random.key(0), 1, 1
        )
        return ssl_generator(_restore(workdir, target, step), config, image_shape)
    raise NoGeneratorError(
        f"{workdir} is a '{task}' run: it has no generator to sample from or evaluate."
    )


def place(generator: Generator, sharding) -> Generator:
    """The same generator with its state moved to `sharding` (e.g. replicated on a mesh)."""
    state = jax.device_put(generator.state, sharding)
    if generator.config.get("task", "gan") == "ssl":
        return ssl_generator(state, generator.config, generator.image_shape)
    return gan_generator(
        state, generator.config, generator.image_shape, use_ema=generator.weights == "ema"
    )


def sample_images(
    state: GANTrainState,
    config: ml_collections.ConfigDict,
    num: int,
    seed: int = 0,
    use_ema: bool = True,
) -> np.ndarray:
    """[num, H, W, C] images in [-1, 1] (EMA weights when the run kept an EMA)."""
    z = models.sample_latents(
        jax.random.key(seed), num, config.model.latent_dim, config.model.latent_dist
    )
    return np.asarray(jax.device_get(generate(state, z, use_ema=use_ema)))
