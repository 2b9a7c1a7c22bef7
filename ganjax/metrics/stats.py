"""Streaming feature statistics: mean and covariance accumulated batch by batch in float64."""

from __future__ import annotations

import numpy as np


class FeatureStats:
    """Accumulates the mean and covariance of [B, D] feature batches without keeping them.

    Sums are float64 and taken around a shift (the first batch's mean), so the covariance does not
    lose digits to cancellation when the features' mean is large next to their spread. The
    covariance is the unbiased one (divided by N - 1), as `np.cov` and every FID code compute it.
    """

    def __init__(self, dim: int):
        self.dim = dim
        self.count = 0
        self._shift: np.ndarray | None = None
        self._sum = np.zeros(dim, np.float64)
        self._outer = np.zeros((dim, dim), np.float64)

    def update(self, features) -> None:
        """Adds a [B, D] batch."""
        x = np.asarray(features, np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"FeatureStats({self.dim}) got features of shape {x.shape}")
        if not len(x):
            return
        if self._shift is None:
            self._shift = x.mean(0)
        x = x - self._shift
        self._sum += x.sum(0)
        self._outer += x.T @ x
        self.count += len(x)

    def mean(self) -> np.ndarray:
        if not self.count:
            raise ValueError("FeatureStats has no features yet")
        return self._shift + self._sum / self.count

    def cov(self) -> np.ndarray:
        if self.count < 2:
            raise ValueError(f"A covariance needs at least 2 features, got {self.count}")
        m = self._sum / self.count
        return (self._outer - self.count * np.outer(m, m)) / (self.count - 1)
