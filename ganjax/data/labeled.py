"""Label budgets and held-out splits for semi-supervised learning.

* `labeled_subset`: a class-balanced subset of the training set drawn from the data seed
  ("balanced"), or the first N training images ("first_n", the seeds' mode). Every training image,
  labeled or not, is also used as unlabeled data.
* `split_validation`: carves a validation set out of the test set (the seeds use half), so that
  model selection never looks at the test numbers.
"""

from __future__ import annotations

import numpy as np

from ganjax import rng as rng_lib


def labeled_subset(
    labels: np.ndarray, num_labeled: int, seed: int, mode: str = "balanced"
) -> np.ndarray:
    """Indices of the labeled training examples.

    Raises:
      ValueError: for an unknown mode, a budget not divisible by the number of classes
        ("balanced"), or a class with too few examples.
    """
    if num_labeled > len(labels):
        raise ValueError(f"num_labeled={num_labeled} exceeds the {len(labels)} training examples")
    if mode == "first_n":
        return np.arange(num_labeled)
    if mode != "balanced":
        raise ValueError(f"Unknown labeled_mode '{mode}'; use 'balanced' or 'first_n'")
    classes = np.unique(labels)
    if num_labeled % len(classes):
        raise ValueError(
            f"num_labeled={num_labeled} is not divisible by the {len(classes)} classes"
        )
    per_class = num_labeled // len(classes)
    rng = rng_lib.stream(seed, "labeled_subset")
    chosen = []
    for c in classes:
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise ValueError(
                f"Class {c} has {len(members)} examples, fewer than {per_class} per class"
            )
        chosen.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def split_validation(num_test: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(validation indices, test indices): a seeded random `fraction` of the test set is held
    out."""
    if not 0 <= fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {fraction}")
    perm = rng_lib.stream(seed, "validation_split").permutation(num_test)
    n_val = int(round(num_test * fraction))
    return np.sort(perm[:n_val]), np.sort(perm[n_val:])


def tile_to(indices: np.ndarray, size: int) -> np.ndarray:
    """Repeats `indices` to at least `size` entries (labeled data re-tiled to the unlabeled
    size)."""
    reps = -(-size // len(indices))
    return np.tile(indices, reps)
