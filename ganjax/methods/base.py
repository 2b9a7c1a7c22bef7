"""The interface every training method implements, and what it hands the loop.

The loop (ganjax/training/train.py) calls, in order: `load_data`, `create_state`, `batches`, then
`train_step` every step (jitted once, state donated, batches sharded on `batch_axis`); at every
evaluation `sample_grid` and `evaluate`; for the periodic FID `generator`; at the end `results`.
Everything a method keeps between steps lives in its `TrainState`
(ganjax/training/train_state.py), so checkpoints, exact resume and device-count independence
come from the loop for free.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, ClassVar, Iterator

import jax
import ml_collections
import numpy as np

from ganjax.data import BatchIterator
from ganjax.training.train_state import TrainState

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]


@dataclasses.dataclass
class Data:
    """A method's data: host arrays by split, and what data_info.json records.

    `splits` is empty when a run is restored for sampling (the shapes in `info` suffice).
    """

    image_shape: tuple[int, int, int]
    info: dict[str, Any]
    splits: dict[str, dict[str, np.ndarray]] = dataclasses.field(default_factory=dict)

    @property
    def train(self) -> dict[str, np.ndarray]:
        return self.splits["train"]


@dataclasses.dataclass
class Generator:
    """A trained generator: `generate(z)` maps latents [B, latent_dim] to images in [-1, 1].

    Conditional generators also have `generate_labeled(z, labels)`; their `generate(z)` draws
    class-balanced labels (row i gets class i mod num_classes), the protocol of their FID.
    """

    generate: Callable[[jax.Array], jax.Array]
    latent_dim: int
    latent_dist: str
    image_shape: tuple[int, int, int]
    step: int
    weights: str  # "ema" or "raw", for the protocol.
    config: ml_collections.ConfigDict
    state: Any
    num_classes: int = 0  # > 0: a class-conditional generator.
    generate_labeled: Callable[[jax.Array, jax.Array], jax.Array] | None = None


class Method:
    """Base class of training methods; subclasses set `name` and implement the hooks."""

    name: ClassVar[str] = ""
    # A seconds-long config of this method ("configs/<file>.py:<arg>"): the loop's shared tests
    # (exact resume, 1-vs-4 devices) run every registered method with it.
    example_config: ClassVar[str] = ""
    batch_axis: ClassVar[int] = 0  # The axis of batch arrays that is sharded over devices.
    batch_keys: ClassVar[tuple[str, ...]] = ("image",)  # The training split's arrays batched.
    # Metrics shown on the progress line as (label, key); the logs and TensorBoard get all.
    progress_keys: ClassVar[tuple[tuple[str, str], ...]] = ()
    loss_keys: ClassVar[tuple[str, ...]] = ("d/loss", "g/loss")  # Plotted into loss_curves.png.
    eval_curves: ClassVar[tuple[str, ...]] = ()  # Keys of evaluate() plotted at the end...
    eval_curves_label: ClassVar[str] = "eval"  # ...into <label>_curves.png.
    grid_columns: ClassVar[int | None] = None  # Sample grid width (None: square).

    def __init__(self, config: ml_collections.ConfigDict):
        self.config = config

    # -- data -------------------------------------------------------------------------------
    def load_data(self) -> Data:
        raise NotImplementedError

    def data_from_info(self, info: dict[str, Any]) -> Data:
        """The Data of a finished run, from its data_info.json (no arrays), for restoring."""
        return Data(tuple(info["image_shape"]), info)

    def batches_per_step(self) -> int:
        """Batches of `batch_keys` that one training step takes (a GAN's D steps)."""
        return 1

    def steps_per_epoch(self, data: Data) -> int:
        """Training steps per pass over the training split (at least 1)."""
        per_step = self.config.train.batch_size * self.batches_per_step()
        return max(len(data.train["image"]) // per_step, 1)

    def batches(self, data: Data, start_step: int) -> Iterator[dict[str, np.ndarray]]:
        """Host batches from `start_step` on; the iterator has `steps_per_epoch`. Default: the
        training split's `batch_keys` in the seed's data order, [batches_per_step, B, ...]."""
        c = self.config
        return BatchIterator(
            data.train,
            batch_size=c.train.batch_size,
            seed=c.seed,
            start_step=start_step,
            batches_per_step=self.batches_per_step(),
            keys=self.batch_keys,
        )

    # -- state and step ---------------------------------------------------------------------
    def create_state(
        self, data: Data, key: jax.Array, steps_per_epoch: int, num_steps: int
    ) -> TrainState:
        raise NotImplementedError

    def train_step(self, state: TrainState, batch: Batch, key: jax.Array):
        """Pure: (state, batch, loop key) -> (new state, flat dict of scalar metrics)."""
        raise NotImplementedError

    # -- outputs ----------------------------------------------------------------------------
    def generator(self, state: TrainState, data: Data, use_ema: bool = True) -> Generator | None:
        """The generator to sample from and score (None: the method has none)."""
        return None

    def sample_grid(self, state: TrainState, data: Data, key: jax.Array) -> np.ndarray | None:
        """Images [N, H, W, C] in [-1, 1] for the grid (fixed `key` every time), or None."""
        gen = self.generator(state, data)
        if gen is None:
            return None
        from ganjax import models

        c = self.config
        z = models.sample_latents(key, c.eval.num_samples, c.model.latent_dim, c.model.latent_dist)
        return np.asarray(jax.device_get(gen.generate(z)))

    def evaluate(self, state: TrainState, data: Data, step: int) -> dict[str, float]:
        """Method-specific evaluation (e.g. test accuracy) every eval period; {} for none."""
        return {}

    def results(self, state: TrainState, data: Data, last_eval: dict[str, Any]) -> dict[str, Any]:
        """Method-specific entries of results.json."""
        return {}
