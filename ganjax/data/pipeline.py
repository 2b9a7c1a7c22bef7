"""Deterministic, resumable batch iteration over in-memory datasets, with device prefetch.

The order is a pure function of (seed, step): epoch e uses the permutation drawn from the
named stream `ganjax.rng.stream(seed, stream, e)` (stream "data_order" unless the caller keeps
several independent orders, as the semi-supervised GAN does), and training step s reads batches
s * batches_per_step ... (s + 1) * batches_per_step - 1 of that sequence (the remainder of each
epoch is dropped). A run restarted at step k therefore sees exactly the batches an uninterrupted
run would have seen, with nothing but the step stored in the checkpoint.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Iterator

import numpy as np

from ganjax import rng
from ganjax.errors import ConfigError

Batch = dict[str, np.ndarray]


class BatchIterator:
    """Yields {key: [batches_per_step, batch_size, ...]} numpy batches from `start_step` on."""

    def __init__(
        self,
        data: dict[str, np.ndarray],
        *,
        batch_size: int,
        seed: int,
        start_step: int = 0,
        batches_per_step: int = 1,
        keys: tuple[str, ...] = ("image",),
        stream: str = "data_order",
    ):
        self.arrays = {k: data[k] for k in keys}
        self.num_examples = len(next(iter(self.arrays.values())))
        self.batch_size = batch_size
        self.batches_per_step = batches_per_step
        self.seed = seed
        self.stream = stream
        self.step = start_step
        per_step = batch_size * batches_per_step
        self.steps_per_epoch = self.num_examples // per_step
        if self.steps_per_epoch == 0:
            raise ConfigError(
                f"The dataset has {self.num_examples} examples, fewer than one training step needs "
                f"({batch_size} x {batches_per_step}); lower config.train.batch_size."
            )
        self._perm_epoch, self._perm = -1, None

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._perm_epoch:
            order = rng.stream(self.seed, self.stream, epoch)
            self._perm = order.permutation(self.num_examples)
            self._perm_epoch = epoch
        return self._perm

    def batch_at(self, step: int) -> Batch:
        """The batch that training step `step` consumes."""
        epoch, i = divmod(step, self.steps_per_epoch)
        n = self.batch_size * self.batches_per_step
        idx = self._permutation(epoch)[i * n : (i + 1) * n]
        return {
            k: v[idx].reshape(self.batches_per_step, self.batch_size, *v.shape[1:])
            for k, v in self.arrays.items()
        }

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch:
        batch = self.batch_at(self.step)
        self.step += 1
        return batch


def prefetch(iterator: Iterator, put: Callable, size: int = 2) -> Iterator:
    """Runs `put(next(iterator))` (e.g. a device transfer) in a background thread, `size` ahead.

    Errors raised in the thread are re-raised in the consumer.
    """
    q: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event()
    sentinel = object()

    def worker():
        try:
            for item in iterator:
                if stop.is_set():
                    return
                q.put(put(item))
        except BaseException as e:  # Re-raised by the consumer.
            q.put(e)
        q.put(sentinel)

    threading.Thread(target=worker, daemon=True).start()
    try:
        while True:
            item = q.get()
            if item is sentinel:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def to_float_images(images):
    """uint8 [0, 255] -> float32 [-1, 1] (done on device; batches travel as uint8)."""
    import jax.numpy as jnp

    return images.astype(jnp.float32) * (2.0 / 255.0) - 1.0
