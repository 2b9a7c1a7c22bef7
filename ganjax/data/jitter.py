"""The pix2pix / CycleGAN random jitter: resize to `load_size`, random crop, random mirroring.

The papers (Isola et al. 2017, sec. 6.2; Zhu et al. 2017, sec. 7) resize 256x256 images to
286x286 and take a random 256x256 crop, and flip horizontally with probability 1/2. For paired
data the same crop and flip are applied to input and target (the authors' `get_params` is drawn
once per pair), so the pixels stay aligned.

Draws are deterministic from (seed, step, example index): example i of the batch at `step` uses
the named stream `ganjax.rng.stream(seed, "jitter", step, index_i)`. A restarted run therefore
reproduces the same crops without storing RNG state, and the draw for an example does not depend
on the batch size, the number of devices or which host prepares it (pass the examples' global
indices).

This runs on the host in numpy on uint8 batches, on purpose: a crop is a slice and a flip a
reversed view, cheap next to a training step; doing it before the batch goes to the device keeps
the device step's shapes static (no per-example dynamic_slice under vmap) and the uint8 transfer
small; and the resize (when the batch is not already at `load_size`) uses PIL's bicubic filter,
exactly the authors' `transforms.Resize`, which jax.image.resize does not reproduce.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ganjax import rng as rng_lib


def resize_batch(images: np.ndarray, size: int) -> np.ndarray:
    """Resizes uint8 [B, H, W, C] (C = 1 or 3) to [B, size, size, C] with PIL bicubic.

    Returns the input unchanged when it is already size x size.
    """
    from PIL import Image

    images = np.asarray(images)
    if images.shape[1:3] == (size, size):
        return images
    out = []
    for image in images:
        pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
        resized = np.asarray(pil.resize((size, size), Image.Resampling.BICUBIC), np.uint8)
        out.append(resized.reshape(size, size, image.shape[-1]))
    return np.stack(out) if out else np.zeros((0, size, size, images.shape[-1]), np.uint8)


def jitter_params(
    seed: int,
    step: int,
    indices: Sequence[int] | np.ndarray,
    load_size: int,
    crop_size: int,
    flip: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-example crop offsets and flips, as the authors' `get_params`.

    Args:
      seed: the run's data seed (>= 0).
      step: the training step (>= 0).
      indices: one non-negative identifier per example (its position in the global batch, or
        its dataset index).
      load_size: side of the resized image.
      crop_size: side of the crop (<= load_size).
      flip: whether to mirror with probability 1/2.

    Returns:
      (top [B], left [B], flipped [B] bool); offsets uniform in [0, load_size - crop_size].
    """
    if not 0 < crop_size <= load_size:
        raise ValueError(f"need 0 < crop_size <= load_size, got {crop_size} and {load_size}")
    if seed < 0 or step < 0:
        raise ValueError(f"seed and step must be non-negative, got {seed} and {step}")
    indices = np.asarray(indices, np.int64).reshape(-1)
    if len(indices) and indices.min() < 0:
        raise ValueError("example indices must be non-negative")
    top, left = np.zeros(len(indices), np.int64), np.zeros(len(indices), np.int64)
    flipped = np.zeros(len(indices), bool)
    for i, index in enumerate(indices):
        rng = rng_lib.stream(seed, "jitter", step, int(index))
        top[i], left[i] = rng.integers(0, load_size - crop_size + 1, size=2)
        flipped[i] = bool(flip) and rng.random() < 0.5
    return top, left, flipped


def jitter_batch(
    images_list: Sequence[np.ndarray],
    seed: int,
    step: int,
    load_size: int = 286,
    crop_size: int = 256,
    flip: bool = True,
    indices: Sequence[int] | np.ndarray | None = None,
) -> list[np.ndarray]:
    """Random resize-crop-flip of one or more aligned batches, the same draw for all of them.

    Args:
      images_list: batches uint8 [B, H, W, C] of one batch of examples (for paired data:
        [input, target]); each gets the same crop and flip per example. C may differ between
        them; B must not.
      seed: the run's data seed.
      step: the training step (a new draw every step).
      load_size: images not already load_size x load_size are first resized to it (bicubic).
      crop_size: side of the random crop; crop_size == load_size means no crop.
      flip: mirror horizontally with probability 1/2.
      indices: one identifier per example (default 0..B-1): pass global positions when the
        batch is split across hosts so that the draws do not depend on the split.

    Returns:
      The cropped batches, uint8 [B, crop_size, crop_size, C] each, in the order given. With
      crop_size == load_size, flip False and images at load_size, the inputs are returned as
      they are (the test-time path).

    Raises:
      ValueError: for batches of different sizes or a crop larger than load_size.
    """
    batches = [np.asarray(b) for b in images_list]
    if not batches:
        return []
    for b in batches:
        if b.ndim != 4 or b.dtype != np.uint8:
            raise ValueError(f"batches must be uint8 [B, H, W, C], got {b.dtype} {b.shape}")
    size = len(batches[0])
    if any(len(b) != size for b in batches):
        raise ValueError(f"batch sizes differ: {[len(b) for b in batches]}")
    if indices is None:
        indices = np.arange(size)
    indices = np.asarray(indices).reshape(-1)
    if len(indices) != size:
        raise ValueError(f"{len(indices)} indices for a batch of {size}")
    batches = [resize_batch(b, load_size) for b in batches]  # [B, L, L, C]
    top, left, flipped = jitter_params(seed, step, indices, load_size, crop_size, flip)
    if crop_size == load_size and not flipped.any():
        return batches
    out = []
    for b in batches:
        crops = np.empty((size, crop_size, crop_size, b.shape[-1]), np.uint8)
        for i in range(size):
            crop = b[i, top[i] : top[i] + crop_size, left[i] : left[i] + crop_size]
            crops[i] = crop[:, ::-1] if flipped[i] else crop
        out.append(crops)
    return out
