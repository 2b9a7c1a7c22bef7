"""Sample grids: [N, H, W, C] images in [-1, 1] -> one uint8 mosaic, saved as PNG."""

from __future__ import annotations

import math
import pathlib

import numpy as np


def make_grid(images: np.ndarray, *, ncols: int | None = None, padding: int = 2) -> np.ndarray:
    """Tiles images in [-1, 1] into a [rows * (H + p) + p, cols * (W + p) + p, C] uint8 grid."""
    images = np.asarray(images, np.float32)
    n, h, w, c = images.shape
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    pixels = np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)
    grid = np.zeros((nrows * (h + padding) + padding, ncols * (w + padding) + padding, c), np.uint8)
    for i in range(n):
        r, col = divmod(i, ncols)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[top : top + h, left : left + w] = pixels[i]
    return grid


def save_png(grid: np.ndarray, path: str | pathlib.Path) -> None:
    from PIL import Image

    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(path)
