"""Sampling from a trained run: restore its generator from a workdir and draw images.

Works for every training method (ganjax/methods) that has a generator; the method rebuilds its
own state layout from the run's config.json and data_info.json, and the checkpoint fills it.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import jax
import ml_collections
import numpy as np

from ganjax import methods, models
from ganjax.errors import ConfigError, IncompatibleRunError, MissingFileError
from ganjax.methods.base import Generator
from ganjax.training import checkpointing
from ganjax.training.checkpointing import CheckpointError
from ganjax.training.train_state import TrainState

__all__ = [
    "Generator",
    "NoGeneratorError",
    "read_run",
    "restore_run",
    "restore_generator",
    "place",
    "sample_images",
    "interpolate_images",
]


class NoGeneratorError(IncompatibleRunError):
    """The run has no generator to sample from (a classifier or a supervised-only baseline)."""


def read_run(workdir: pathlib.Path) -> tuple[ml_collections.ConfigDict, dict[str, Any]]:
    """A run folder's config and data_info.json; FileNotFoundError when it is not a run folder."""
    workdir = pathlib.Path(workdir)
    config_path, info_path = workdir / "config.json", workdir / "data_info.json"
    if not config_path.exists() or not info_path.exists():
        raise MissingFileError(
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
            raise MissingFileError(
                f"No checkpoint in {checkpointer.directory}; train first (or wait for the first "
                "save)."
            )
        return checkpointer.restore(target, step)
    finally:
        checkpointer.close()


def restore_run(
    workdir: str | pathlib.Path, step: int | None = None
) -> tuple[TrainState, ml_collections.ConfigDict, methods.Method, methods.Data]:
    """Rebuilds a run's train state from <workdir>/config.json and its checkpoint.

    Returns:
      (state, config, the run's method, its Data without arrays).

    Raises:
      FileNotFoundError: when `workdir` holds no run or no checkpoint.
      checkpointing.CheckpointError: when the checkpoint cannot be read.
    """
    workdir = pathlib.Path(workdir)
    config, info = read_run(workdir)
    if "method" not in config and config.get("task") != "classifier":
        raise CheckpointError(
            f"{workdir} was written before ganjax's training methods (config.json has no "
            "'method'): its checkpoint holds the old GANTrainState/SSLTrainState layout, which "
            "this version does not read. Retrain it, or use a ganjax checkout from before "
            "2026-12-01 to sample from it."
        )
    method = methods.get_method(config)
    data = method.data_from_info(info)
    # Schedules do not change the state's structure, so any step counts will do here.
    target = method.create_state(data, jax.random.key(0), 1, 1)
    return _restore(workdir, target, step), config, method, data


def restore_generator(
    workdir: str | pathlib.Path, step: int | None = None, use_ema: bool = True
) -> Generator:
    """The generator of any run that has one (GAN, conditional GAN, semi-supervised GAN).

    Raises:
      FileNotFoundError: not a run folder, or no checkpoint.
      NoGeneratorError: a classifier run or a supervised-only baseline.
      checkpointing.CheckpointError: an unreadable checkpoint.
    """
    workdir = pathlib.Path(workdir)
    config, _ = read_run(workdir)
    if config.get("task") != "classifier":
        method = methods.get_method(config)  # Refuse a baseline before restoring anything.
        if getattr(method, "supervised_only", False):
            raise NoGeneratorError(
                f"{workdir} is a supervised-only baseline run: it has no generator to evaluate."
            )
    state, config, method, data = restore_run(workdir, step)
    generator = method.generator(state, data, use_ema)
    if generator is None:
        raise NoGeneratorError(f"{workdir} is a '{method.name}' run without a generator.")
    return generator


def place(generator: Generator, sharding) -> Generator:
    """The same generator with its state moved to `sharding` (e.g. replicated on a mesh)."""
    method = methods.get_method(generator.config)
    info = {"image_shape": list(generator.image_shape), "num_classes": generator.num_classes}
    data = methods.Data(generator.image_shape, info)
    state = jax.device_put(generator.state, sharding)
    return method.generator(state, data, use_ema=generator.weights == "ema")


def sample_images(
    generator: Generator, num: int, seed: int = 0, label: int | None = None
) -> np.ndarray:
    """[num, H, W, C] images in [-1, 1] from latents drawn with `seed`.

    Args:
      generator: a restored generator (EMA weights when the run kept an EMA and they were
        asked for).
      num: number of images.
      seed: latent seed.
      label: for a class-conditional generator, the class of every image (None: balanced).

    Raises:
      ValueError: a label for an unconditional generator, or one out of range.
    """
    z = models.sample_latents(
        jax.random.key(seed), num, generator.latent_dim, generator.latent_dist
    )
    if label is None:
        return np.asarray(jax.device_get(generator.generate(z)))
    if not generator.num_classes:
        raise ConfigError(
            "--label needs a class-conditional run (config.method=cgan); this "
            "generator is unconditional."
        )
    if not 0 <= label < generator.num_classes:
        raise ConfigError(
            f"--label={label} is out of range: this generator has "
            f"{generator.num_classes} classes (0..{generator.num_classes - 1})."
        )
    labels = np.full((num,), label, np.int32)
    return np.asarray(jax.device_get(generator.generate_labeled(z, labels)))


def interpolate_images(generator: Generator, rows: int, steps: int, seed: int = 0) -> np.ndarray:
    """[rows * steps, H, W, C] images in [-1, 1]: row r walks the straight line from latent z_a
    to latent z_b in `steps` evenly spaced points (both ends included), the pairs drawn with
    `seed` (Radford et al.'s check that G interpolates smoothly rather than memorizing). A
    class-conditional generator keeps class r mod K along row r.
    """
    if rows < 1 or steps < 2:
        raise ConfigError(f"interpolation needs rows >= 1 and steps >= 2, got {rows} and {steps}")
    z = models.sample_latents(
        jax.random.key(seed), 2 * rows, generator.latent_dim, generator.latent_dist
    )
    za, zb = z[:rows, None], z[rows:, None]  # [rows, 1, D]
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :, None]
    line = ((1.0 - t) * za + t * zb).reshape(rows * steps, -1)
    if not generator.num_classes:
        return np.asarray(jax.device_get(generator.generate(line)))
    labels = np.repeat(np.arange(rows, dtype=np.int32) % generator.num_classes, steps)
    return np.asarray(jax.device_get(generator.generate_labeled(line, labels)))
