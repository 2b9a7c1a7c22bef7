"""Kernel Inception Distance (Binkowski et al. 2018): the unbiased estimate of MMD^2 with the
cubic polynomial kernel k(x, y) = (x . y / D + 1)^3, averaged over random subsets.

Defaults and the subset draw follow torch-fidelity (100 subsets of 1000; each subset draws its
rows of features1 then of features2 without replacement from np.random.RandomState(seed)), so the
same seed gives the same subsets as torch-fidelity's `kid_features_to_metric`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


@jax.jit
def _kernel_row_sums(x: jax.Array, y: jax.Array):
    """Row sums of K_xx and K_yy without their diagonals, and the row sums of K_xy."""
    d = x.shape[1]
    k = lambda a, b: (a @ b.T / d + 1.0) ** 3
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return kxx.sum(1) - jnp.diagonal(kxx), kyy.sum(1) - jnp.diagonal(kyy), kxy.sum(1)


def mmd2_unbiased(x, y) -> float:
    """Unbiased MMD^2 between two equal-sized [m, D] samples under the cubic kernel.

    The kernel matrices are float32 matrix products on the device; their row sums are added up in
    float64 on the host, where the three large terms of the estimate nearly cancel.
    """
    m = len(x)
    xx, yy, xy = (
        np.asarray(s, np.float64)
        for s in _kernel_row_sums(jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32))
    )
    return float((xx.sum() + yy.sum()) / (m * (m - 1)) - 2.0 * xy.sum() / (m * m))


def kid(
    features1, features2, *, num_subsets: int = 100, subset_size: int = 1000, seed: int = 2020
) -> tuple[float, float]:
    """KID mean and standard deviation (ddof 0) over `num_subsets` random subsets.

    Args:
      features1, features2: [N1, D] and [N2, D] features (e.g. generated, reference).
      num_subsets: number of subsets.
      subset_size: rows per subset; clipped to min(N1, N2) when the sets are smaller (the
        protocol records the size used).
      seed: seed of the subset draw.

    Returns:
      (mean, std) of the per-subset MMD^2 estimates.
    """
    f1, f2 = np.asarray(features1, np.float32), np.asarray(features2, np.float32)
    if f1.ndim != 2 or f2.ndim != 2 or f1.shape[1] != f2.shape[1]:
        raise ValueError(f"kid needs [N, D] features of equal D, got {f1.shape} and {f2.shape}")
    m = kid_subset_size(len(f1), len(f2), subset_size)
    rng = np.random.RandomState(seed)
    values = np.empty(num_subsets)
    for i in range(num_subsets):
        a = f1[rng.choice(len(f1), m, replace=False)]
        b = f2[rng.choice(len(f2), m, replace=False)]
        values[i] = mmd2_unbiased(a, b)
    return float(values.mean()), float(values.std())


def kid_subset_size(n1: int, n2: int, subset_size: int = 1000) -> int:
    """The subset size KID uses for sets of n1 and n2 rows."""
    m = min(subset_size, n1, n2)
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples on each side, got {n1} and {n2}")
    return m
