"""Paired image-quality metrics of translations against their targets: L1, PSNR and SSIM.

Inputs are uint8 images [N, H, W, C] (what a translation writes to disk), compared pair by
pair; each function returns the mean over the N pairs of a per-pair value:

  l1    mean |x - y| over pixels and channels, in [0, 1] units (x / 255);
  psnr  10 log10(1 / MSE) with MSE in [0, 1] units (data range 1, i.e. 255 on uint8), per pair
        and then averaged (identical pairs, MSE = 0, count as `PSNR_CAP` dB);
  ssim  Wang et al. 2004: 11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, data range
        255, population (not sample) moments, averaged over the window positions that fit
        inside the image (no padding) and over channels; scikit-image's
        `structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        data_range=255)`.

Computed in float64 numpy, in chunks, so a test split of any size fits in memory.
"""

from __future__ import annotations

import numpy as np

PSNR_CAP = 100.0
SSIM_SIGMA = 1.5
SSIM_RADIUS = 5  # int(3.5 * sigma + 0.5): scikit-image's truncate=3.5, an 11x11 window.
_K1, _K2, _RANGE = 0.01, 0.03, 255.0
_CHUNK = 256


def _check(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"need two [N, H, W, C] arrays of one shape, got {x.shape} and {y.shape}")
    if x.dtype != np.uint8 or y.dtype != np.uint8:
        raise ValueError(f"need uint8 images, got {x.dtype} and {y.dtype}")
    return x, y


def _chunks(x: np.ndarray, y: np.ndarray):
    for i in range(0, len(x), _CHUNK):
        yield x[i : i + _CHUNK].astype(np.float64), y[i : i + _CHUNK].astype(np.float64)


def l1(x: np.ndarray, y: np.ndarray) -> float:
    """Mean absolute difference in [0, 1] units."""
    x, y = _check(x, y)
    total = sum(float(np.abs(a - b).sum()) for a, b in _chunks(x, y))
    return total / (x.size * 255.0)


def psnr_per_pair(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """PSNR of every pair in dB [N] (data range 1 in [0, 1] units; PSNR_CAP for equal pairs)."""
    x, y = _check(x, y)
    out = []
    for a, b in _chunks(x, y):
        mse = np.mean(np.square((a - b) / 255.0), axis=(1, 2, 3))
        with np.errstate(divide="ignore"):
            out.append(np.where(mse > 0, 10.0 * np.log10(1.0 / np.maximum(mse, 1e-300)), PSNR_CAP))
    return np.concatenate(out) if out else np.zeros(0)


def psnr(x: np.ndarray, y: np.ndarray) -> float:
    """Mean over pairs of the per-pair PSNR (dB)."""
    return float(np.mean(psnr_per_pair(x, y)))


def _gaussian_window() -> np.ndarray:
    k = np.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=np.float64)
    w = np.exp(-(k**2) / (2 * SSIM_SIGMA**2))
    return w / w.sum()


def _filter_valid(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Separable correlation of [N, H, W, C] with w along H and W, valid positions only."""
    n = len(w)
    h, wd = x.shape[1] - n + 1, x.shape[2] - n + 1
    rows = sum(w[i] * x[:, i : i + h] for i in range(n))
    return sum(w[j] * rows[:, :, j : j + wd] for j in range(n))


def ssim_per_pair(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """SSIM of every pair [N] (see the module docstring)."""
    x, y = _check(x, y)
    if min(x.shape[1:3]) < 2 * SSIM_RADIUS + 1:
        raise ValueError(f"SSIM's 11x11 window needs images of at least 11x11, got {x.shape[1:3]}")
    w = _gaussian_window()
    c1, c2 = (_K1 * _RANGE) ** 2, (_K2 * _RANGE) ** 2
    out = []
    for a, b in _chunks(x, y):
        mu_a, mu_b = _filter_valid(a, w), _filter_valid(b, w)
        var_a = _filter_valid(a * a, w) - mu_a**2
        var_b = _filter_valid(b * b, w) - mu_b**2
        cov = _filter_valid(a * b, w) - mu_a * mu_b
        s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
            (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
        )
        out.append(s.mean(axis=(1, 2, 3)))
    return np.concatenate(out) if out else np.zeros(0)


def ssim(x: np.ndarray, y: np.ndarray) -> float:
    """Mean SSIM over pairs."""
    return float(np.mean(ssim_per_pair(x, y)))
