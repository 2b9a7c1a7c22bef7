"""Improved precision and recall (Kynkaanniemi et al. 2019) and density and coverage (Naeem et
al. 2020), from k-nearest-neighbour balls in feature space.

Real features X (N rows), generated features Y (M rows); NND_k(a) is the distance from a to its
k-th nearest neighbour in its own set (itself excluded):
  precision = share of Y inside at least one ball B(x, NND_k(x)), k = 3
  recall    = share of X inside at least one ball B(y, NND_k(y)), k = 3
  density   = (1 / kM) sum_y #{x : y in B(x, NND_k(x))}, k = 5
  coverage  = share of X whose ball B(x, NND_k(x)) holds at least one y, k = 5
Distances are Euclidean (compared squared), computed on the device in float32 blocks of rows, so
the N x M matrix is never held whole, after centring both sets on the real mean (|a|^2 + |b|^2 -
2ab would otherwise lose its digits when the features share a large offset); "inside" includes the
boundary (<=), as in torch-fidelity
and the prdc package. The real radii depend on the reference set alone: callers that evaluate
many generators against one reference compute them once (`knn_radii_sq`) and pass them in.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

_CHUNK = 1024  # Rows per distance block: [chunk, N] float32.


@jax.jit
def _sq_dists(a: jax.Array, b: jax.Array) -> jax.Array:
    d = jnp.sum(a * a, 1)[:, None] + jnp.sum(b * b, 1)[None, :] - 2.0 * (a @ b.T)
    return jnp.maximum(d, 0.0)


@functools.partial(jax.jit, static_argnames=("k",))
def _k_smallest(d: jax.Array, k: int) -> jax.Array:
    # All k values are returned and sliced outside jit: XLA:CPU drops to a slow path when only a
    # slice of top_k's output is used (1.8 s instead of 0.05 s for a 1024 x 10,000 block).
    # Kept apart from _sq_dists for the same reason (a fused program was as slow).
    return -jax.lax.top_k(-d, k)[0]


def knn_radii_sq(x, ks: tuple[int, ...]) -> dict[int, np.ndarray]:
    """{k: squared distance of each row of x to its k-th nearest other row} for every k in ks."""
    x = jnp.asarray(x, jnp.float32)
    return _knn_radii_sq(x - x.mean(0), ks)  # Distances do not change; float32 cancellation does.


def _knn_radii_sq(x: jax.Array, ks: tuple[int, ...]) -> dict[int, np.ndarray]:
    kmax = max(ks)
    if len(x) <= kmax:
        raise ValueError(f"k-NN radii with k={kmax} need more than {kmax} samples, got {len(x)}")
    # The k + 1 smallest distances include the row's distance to itself (0).
    smallest = np.concatenate(
        [
            np.asarray(_k_smallest(_sq_dists(x[i : i + _CHUNK], x), kmax + 1))
            for i in range(0, len(x), _CHUNK)
        ]
    )
    return {k: smallest[:, k] for k in ks}


@jax.jit
def _block(
    fake: jax.Array,
    real: jax.Array,
    fake_r_pr: jax.Array,
    real_r_pr: jax.Array,
    real_r_dc: jax.Array,
):
    """Per fake row: in a real PR ball?, #real DC balls it is in; per real column: in a fake PR
    ball of this block?, does this block put a fake inside its DC ball?"""
    d = _sq_dists(fake, real)  # [c, N]
    in_real_pr = d <= real_r_pr[None, :]
    in_real_dc = d <= real_r_dc[None, :]
    in_fake_pr = d <= fake_r_pr[:, None]
    return in_real_pr.any(1), in_real_dc.sum(1), in_fake_pr.any(0), in_real_dc.any(0)


def prdc(
    real, fake, *, pr_k: int = 3, dc_k: int = 5, real_radii_sq: dict[int, np.ndarray] | None = None
) -> dict[str, float]:
    """Precision, recall, density and coverage of `fake` ([M, D]) against `real` ([N, D]).

    Args:
      real, fake: features.
      pr_k, dc_k: neighbourhood sizes (3 for precision/recall, 5 for density/coverage).
      real_radii_sq: precomputed `knn_radii_sq(real, (pr_k, dc_k))`, or None to compute them.

    Returns:
      {"precision", "recall", "density", "coverage"}.
    """
    real = jnp.asarray(real, jnp.float32)
    fake = jnp.asarray(fake, jnp.float32)
    if real.ndim == 2 and fake.ndim == 2 and real.shape[1] == fake.shape[1]:
        center = real.mean(0)
        real, fake = real - center, fake - center
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"prdc needs [N, D] features of equal D, got {real.shape} and {fake.shape}"
        )
    # Same arithmetic as knn_radii_sq(real): precomputed radii and these distances agree exactly.
    rr = real_radii_sq if real_radii_sq is not None else _knn_radii_sq(real, (pr_k, dc_k))
    if len(rr[pr_k]) != len(real):
        raise ValueError(f"real_radii_sq has {len(rr[pr_k])} radii for {len(real)} real features")
    fake_r = jnp.asarray(_knn_radii_sq(fake, (pr_k,))[pr_k])
    real_pr, real_dc = jnp.asarray(rr[pr_k]), jnp.asarray(rr[dc_k])
    precise, dens = [], []
    recalled = np.zeros(len(real), bool)
    covered = np.zeros(len(real), bool)
    for i in range(0, len(fake), _CHUNK):
        p, n, r, c = _block(fake[i : i + _CHUNK], real, fake_r[i : i + _CHUNK], real_pr, real_dc)
        precise.append(np.asarray(p))
        dens.append(np.asarray(n))
        recalled |= np.asarray(r)
        covered |= np.asarray(c)
    return {
        "precision": float(np.concatenate(precise).mean()),
        "recall": float(recalled.mean()),
        "density": float(np.concatenate(dens).sum() / (dc_k * len(fake))),
        "coverage": float(covered.mean()),
    }


def precision_recall(real, fake, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall of `fake` against `real`."""
    out = prdc(real, fake, pr_k=k, dc_k=k)
    return out["precision"], out["recall"]


def density_coverage(real, fake, k: int = 5) -> tuple[float, float]:
    """Density and coverage of `fake` against `real`."""
    out = prdc(real, fake, pr_k=k, dc_k=k)
    return out["density"], out["coverage"]
