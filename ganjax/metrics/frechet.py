"""Frechet distance between two Gaussians fitted to features (FID when the features are
Inception pool3 activations).

    d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))

The trace of the matrix square root is computed without `scipy.linalg.sqrtm`: with
A = S1^(1/2) (symmetric, from an eigendecomposition with negative eigenvalues clipped to 0),
S1 S2 is similar to A S2 A, which is symmetric positive semi-definite, so

    tr((S1 S2)^(1/2)) = sum_i sqrt(max(lambda_i(A S2 A), 0)).

Everything is real and symmetric: near-singular or rank-deficient covariances (fewer samples than
feature dimensions, dead features) give neither NaN nor complex leftovers, and no epsilon is added
to the diagonals (pytorch-fid adds 1e-6 I when sqrtm fails; here nothing fails). Round-off can
make the result a tiny negative number for identical inputs; it is clipped at 0.

The eigendecomposition with vectors is the expensive part (seconds for 2048 x 2048 on a CPU; the
eigenvalues alone are ~15x cheaper): callers that compare many sample sets with one reference
compute the reference's square root once (`sqrt_psd`) and pass it as `sigma2_sqrt`, using
tr((S1 S2)^(1/2)) = tr((S2^(1/2) S1 S2^(1/2))^(1/2)).
"""

from __future__ import annotations

import numpy as np

from ganjax.metrics.stats import FeatureStats


def sqrt_psd(s: np.ndarray) -> np.ndarray:
    """The symmetric square root of a positive semi-definite matrix (negative eigenvalues -> 0)."""
    s = np.asarray(s, np.float64)
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2, *, sigma2_sqrt=None, rows1=None) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

    Args:
      mu1, mu2: [D] means.
      sigma1, sigma2: [D, D] covariances (symmetric positive semi-definite).
      sigma2_sqrt: `sqrt_psd(sigma2)` when already known (saves the expensive step).
      rows1: the [N, D] rows mu1 and sigma1 (unbiased) were computed from; with N - 1 < D the
        trace term comes from an N x N matrix (see the module docstring).

    Returns:
      The squared Frechet distance (what papers report as FID), >= 0.

    Raises:
      ValueError: on mismatched shapes or non-finite inputs.
    """
    mu1, mu2 = np.asarray(mu1, np.float64).ravel(), np.asarray(mu2, np.float64).ravel()
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    d = mu1.shape[0]
    if mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(
            f"Shapes do not match: mu {mu1.shape}/{mu2.shape}, sigma {s1.shape}/{s2.shape}"
        )
    for name, a in (("mu1", mu1), ("mu2", mu2), ("sigma1", s1), ("sigma2", s2)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} holds NaN or inf: the features it came from are not finite")
    s1, s2 = (s1 + s1.T) / 2, (s2 + s2.T) / 2  # Exact symmetry for eigh.
    if rows1 is not None and len(rows1) - 1 < d:
        rows1 = np.asarray(rows1, np.float64)
        if rows1.ndim != 2 or rows1.shape[1] != d or len(rows1) < 2:
            raise ValueError(f"rows1 must be [N >= 2, {d}], not {rows1.shape}")
        a = (rows1 - mu1) / np.sqrt(len(rows1) - 1)
        m = a @ s2 @ a.T
    else:
        a = sqrt_psd(s1) if sigma2_sqrt is None else np.asarray(sigma2_sqrt, np.float64)
        m = a @ (s2 if sigma2_sqrt is None else s1) @ a
    eig = np.linalg.eigvalsh((m + m.T) / 2)
    tr_covmean = np.sqrt(np.clip(eig, 0.0, None)).sum()
    diff = mu1 - mu2
    return float(max(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean, 0.0))


def fid_from_features(features1, features2) -> float:
    """FID between two [N, D] feature arrays (unbiased covariances, as pytorch-fid)."""
    stats = []
    for f in (features1, features2):
        s = FeatureStats(np.shape(f)[1])
        s.update(f)
        stats.append((s.mean(), s.cov()))
    return frechet_distance(*stats[0], *stats[1], rows1=features1)
