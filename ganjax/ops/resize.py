"""Image resizing as two matrix products, with the exact coefficients of PIL's resampling filters.

clean-fid (Parmar et al., "On Aliased Resizing and Surprising Subtleties in GAN Evaluation",
CVPR 2022) resizes each channel as a float32 PIL image with the bicubic filter, which
antialiases when it downsizes. PIL's resampling is separable: every output pixel is a normalized
weighted sum of the input pixels within the filter's support, scaled by the reduction factor.
`pil_matrix` builds those weights as a dense [out, in] matrix with the arithmetic of Pillow's
`precompute_coeffs` (libImaging/Resample.c), so a batch resizes on any device as
`M_h @ image @ M_w^T`, horizontally first as PIL does.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np


def _bicubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    x = np.abs(x)
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = (((x - 5.0) * x + 8.0) * x - 4.0) * a
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


_FILTERS = {"bicubic": (_bicubic, 2.0)}  # name -> (filter, support)


@functools.lru_cache(maxsize=32)
def pil_matrix(in_size: int, out_size: int, method: str = "bicubic") -> np.ndarray:
    """[out_size, in_size] float64 weights of PIL's `resize` along one axis."""
    fn, support = _FILTERS[method]
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support *= filterscale
    m = np.zeros((out_size, in_size))
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)  # C's (int) truncation, as PIL
        xmax = min(int(center + support + 0.5), in_size)
        w = fn((np.arange(xmin, xmax) - center + 0.5) / filterscale)
        total = w.sum()
        m[xx, xmin:xmax] = w / total if total != 0.0 else w
    return m


def resize_pil(x: jax.Array, height: int, width: int, method: str = "bicubic") -> jax.Array:
    """Resizes float images [B, H, W, C] like PIL's `Image.resize` of float ("F") images."""
    mh = jnp.asarray(pil_matrix(x.shape[1], height, method), jnp.float32)
    mw = jnp.asarray(pil_matrix(x.shape[2], width, method), jnp.float32)
    hp = jax.lax.Precision.HIGHEST
    x = jnp.einsum("pw,bhwc->bhpc", mw, x, precision=hp)  # horizontal pass first, as PIL
    return jnp.einsum("oh,bhpc->bopc", mh, x, precision=hp)
