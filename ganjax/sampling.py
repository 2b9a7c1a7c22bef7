"""Sampling from a trained run: restore the generator from a workdir and draw images."""

from __future__ import annotations

import json
import pathlib

import jax
import ml_collections
import numpy as np

from ganjax import checkpointing, models
from ganjax.train import create_train_state, generate
from ganjax.train_state import GANTrainState


def restore_run(workdir: str | pathlib.Path, step: int | None = None) -> tuple[GANTrainState, ml_collections.ConfigDict]:
    """Rebuilds the train state of a run from <workdir>/config.json and its checkpoint.

    Raises:
      FileNotFoundError: when `workdir` holds no run or no checkpoint.
      checkpointing.CheckpointError: when the checkpoint cannot be read.
    """
    workdir = pathlib.Path(workdir)
    config_path, info_path = workdir / "config.json", workdir / "data_info.json"
    if not config_path.exists() or not info_path.exists():
        raise FileNotFoundError(
            f"{workdir} is not a ganjax run folder (no config.json/data_info.json); pass the "
            "--workdir that experiments.train wrote."
        )
    config = ml_collections.ConfigDict(json.loads(config_path.read_text()))
    if config.get("task", "gan") != "gan":
        raise ValueError(
            f"{workdir} is a semi-supervised run: its sample grids are in {workdir / 'samples'} "
            "(written at every evaluation); experiments.sample draws from GAN runs."
        )
    image_shape = tuple(json.loads(info_path.read_text())["image_shape"])
    checkpointer = checkpointing.Checkpointer(workdir, async_save=False)
    if checkpointer.latest_step() is None:
        raise FileNotFoundError(f"No checkpoint in {checkpointer.directory}; train first (or wait for the first save).")
    # Schedules do not change the state's structure, so any step counts will do here.
    target = create_train_state(config, image_shape, jax.random.key(0), steps_per_epoch=1, num_steps=1)
    state = checkpointer.restore(target, step)
    checkpointer.close()
    return state, config


def sample_images(state: GANTrainState, config: ml_collections.ConfigDict, num: int, seed: int = 0, use_ema: bool = True) -> np.ndarray:
    """[num, H, W, C] images in [-1, 1] (EMA weights when the run kept an EMA)."""
    z = models.sample_latents(jax.random.key(seed), num, config.model.latent_dim, config.model.latent_dist)
    return np.asarray(jax.device_get(generate(state, z, use_ema=use_ema)))
