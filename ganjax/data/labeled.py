"""Label budgets and held-out splits for semi-supervised learning.

* `labeled_subset`: a class-balanced subset of the training set drawn from the data seed
  ("balanced"), or the first N training images ("first_n", the seeds' mode). Every training image,
  labeled or not, is also used as unlabeled data.
* `split_validation`: carves a validation set out of the test set (the seeds use half), so that
  model selection never looks at the test numbers.
* `LabeledOrder`: which labeled images each training step's labeled batch holds: every labeled
  image at most once per batch, every image equally often over steps (the paper's code).
"""

from __future__ import annotations

import math

import numpy as np

from ganjax import rng as rng_lib
from ganjax.errors import ConfigError, DataError


def labeled_subset(
    labels: np.ndarray, num_labeled: int, seed: int, mode: str = "balanced"
) -> np.ndarray:
    """Indices of the labeled training examples.

    Raises:
      ValueError: for an unknown mode, a budget not divisible by the number of classes
        ("balanced"), or a class with too few examples.
    """
    if num_labeled > len(labels):
        raise ConfigError(f"num_labeled={num_labeled} exceeds the {len(labels)} training examples")
    if mode == "first_n":
        return np.arange(num_labeled)
    if mode != "balanced":
        raise ConfigError(f"Unknown labeled_mode '{mode}'; use 'balanced' or 'first_n'")
    classes = np.unique(labels)
    if num_labeled % len(classes):
        raise ConfigError(
            f"num_labeled={num_labeled} is not divisible by the {len(classes)} classes"
        )
    per_class = num_labeled // len(classes)
    rng = rng_lib.stream(seed, "labeled_subset")
    chosen = []
    for c in classes:
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise DataError(
                f"Class {c} has {len(members)} examples, fewer than {per_class} per class"
            )
        chosen.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def split_validation(num_test: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(validation indices, test indices): a seeded random `fraction` of the test set is held
    out."""
    if not 0 <= fraction < 1:
        raise ConfigError(f"val_fraction must be in [0, 1), got {fraction}")
    perm = rng_lib.stream(seed, "validation_split").permutation(num_test)
    n_val = int(round(num_test * fraction))
    return np.sort(perm[:n_val]), np.sort(perm[n_val:])


class LabeledOrder:
    """The labeled batches of the semi-supervised GAN, as the paper's code draws them.

    Salimans et al.'s code (openai/improved-gan, train_mnist_feature_matching.py) concatenates
    independent permutations of the labeled set and cuts the sequence into consecutive batches,
    so with batch size B = L labeled images each batch is one permutation, and with B dividing L
    each batch is a slice of one. Here, for any B and L:

      * B <= L: the same concatenation of independent permutations ("passes"), cut into
        consecutive batches of B. When B does not divide L, a batch straddles the end of one
        pass and the start of the next; the next pass is then reordered so that its first
        images avoid the ones of the straddled tail (the first B - r images of its permutation
        that are not in the tail, then the rest in permutation order). So every batch holds each
        labeled image at most once, and every pass still holds each image exactly once.
      * B > L: no batch can hold each image at most once. Each batch is then B // L whole
        permutations plus a remainder of B mod L distinct images, the remainders drawn as
        above with batch size B mod L: each image appears B // L or B // L + 1 times in a
        batch, and equally often over steps.

    The sequence is cut into periods of lcm(L, c) positions (c = B if B <= L, else B mod L),
    which start on a batch boundary; period p's passes are `rng.stream(seed,
    "ssl_labeled_order", p, j)` for j = 0 .. lcm / L - 1, and the whole permutations of step t
    are `rng.stream(seed, "ssl_labeled_whole", t, i)`. A batch is thus a pure function of
    (seed, step): a run resumed at any step reads the same labeled batches, and over each period
    (lcm / c steps) every labeled image appears exactly the same number of times.
    """

    def __init__(self, num_labeled: int, batch_size: int, seed: int):
        if num_labeled < 1 or batch_size < 1:
            raise ConfigError(
                f"need at least one labeled image and a positive batch size, got "
                f"{num_labeled} and {batch_size}"
            )
        self.num_labeled, self.batch_size, self.seed = num_labeled, batch_size, seed
        if batch_size <= num_labeled:
            self.whole, self.chunk = 0, batch_size
        else:
            self.whole, self.chunk = divmod(batch_size, num_labeled)
        if self.chunk:
            span = math.lcm(num_labeled, self.chunk)
            self.period_passes, self.period_steps = span // num_labeled, span // self.chunk
        else:  # B a multiple of L: every batch is B // L whole passes.
            self.period_passes, self.period_steps = 0, 1
        self._period, self._chunks = -1, None

    def _period_chunks(self, period: int) -> np.ndarray:
        """[period_steps, chunk] positions in the labeled set, for one period."""
        if period != self._period:
            n, c = self.num_labeled, self.chunk
            passes = []
            for j in range(self.period_passes):
                perm = rng_lib.stream(self.seed, "ssl_labeled_order", period, j).permutation(n)
                offset = (j * n) % c  # Images of the previous pass in this pass's first batch.
                if offset:
                    tail = passes[-1][n - offset :]
                    head = perm[~np.isin(perm, tail)][: c - offset]
                    perm = np.concatenate([head, perm[~np.isin(perm, head)]])
                passes.append(perm)
            self._chunks = np.concatenate(passes).reshape(self.period_steps, c)
            self._period = period
        return self._chunks

    def positions(self, step: int) -> np.ndarray:
        """[batch_size] positions (0 .. num_labeled - 1) in the labeled set for `step`."""
        parts = [
            rng_lib.stream(self.seed, "ssl_labeled_whole", step, i).permutation(self.num_labeled)
            for i in range(self.whole)
        ]
        if self.chunk:
            period, i = divmod(step, self.period_steps)
            parts.append(self._period_chunks(period)[i])
        return np.concatenate(parts)
