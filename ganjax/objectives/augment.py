"""Differentiable Augmentation (DiffAugment) for NHWC images, in JAX.

Zhao, Liu, Lin, Zhu and Han, "Differentiable Augmentation for Data-Efficient GAN Training",
NeurIPS 2020 (https://arxiv.org/abs/2006.10738). This follows the authors' PyTorch reference,
`DiffAugment_pytorch.py` in https://github.com/mit-han-lab/data-efficient-gans (the
`DiffAugment-stylegan2-pytorch` version, whose translation and cutout use `ratio=0.125` and
`ratio=0.5` with `int(size * ratio + 0.5)`), transposed from NCHW to NHWC.

The same augmentation is applied to every image the discriminator sees (real and fake, in both
the D and the G step), and every op is differentiable w.r.t. the images so that the generator's
gradient flows through it. Random parameters are drawn per sample:

  * "color" = brightness, saturation, contrast, in that order:
      - brightness: x + r, r ~ U(-0.5, 0.5);
      - saturation: (x - mean_C(x)) * r + mean_C(x), r ~ U(0, 2) (identity for C = 1);
      - contrast: (x - mean_CHW(x)) * r + mean_CHW(x), r ~ U(0.5, 1.5).
  * "translation": integer shifts s_h, s_w ~ U{-m, ..., m} with m = int(size * 0.125 + 0.5);
    out[i, j] = x[i + s_h, j + s_w], and 0 where that pixel lies outside the image.
  * "cutout": a (int(H * 0.5 + 0.5), int(W * 0.5 + 0.5)) rectangle of zeros (a square for
    square images) centred at per-sample offsets drawn as the reference does, clipped at the
    borders.

Each op has a public function taking its random parameters explicitly (`brightness`,
`saturation`, `contrast`, `translation`, `cutout`) and a sampler (`sample_color`,
`sample_translation`, `sample_cutout`); `diff_augment` draws from its key and composes them.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from ganjax.errors import ConfigError

Array = jax.Array

POLICIES = ("color", "translation", "cutout")
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def parse_policy(policy: str) -> tuple[str, ...]:
    """Parses a comma-separated DiffAugment policy, the value of `config.data.augment`.

    Args:
        policy: e.g. "color,translation,cutout"; "" (or only whitespace) disables augmentation.
            Whitespace around names is ignored. Ops run in the order given, as in the reference;
            a repeated name applies that op again with fresh random parameters.

    Returns:
        The op names, in order.

    Raises:
        ValueError: if a name is not one of `POLICIES` (including an empty name, as in "a,,b").
    """
    if not policy.strip():
        return ()
    names = tuple(name.strip() for name in policy.split(","))
    return _validate(names, policy)


def _validate(names: Sequence[str], policy: object) -> tuple[str, ...]:
    for name in names:
        if name not in POLICIES:
            raise ConfigError(
                f"Unknown DiffAugment op {name!r} in config.data.augment={policy!r}; allowed "
                f"ops are {', '.join(POLICIES)} (comma-separated, or '' for none)."
            )
    return tuple(names)


def _per_sample(r: Array, x: Array) -> Array:
    """Casts per-sample parameters [B] to x's dtype and shape [B, 1, 1, 1]."""
    return jnp.asarray(r, x.dtype).reshape(-1, 1, 1, 1)


def brightness(x: Array, r: Array) -> Array:
    """Adds r[b] to every pixel of image b (the reference's `rand_brightness`).

    Args:
        x: images [B, H, W, C].
        r: per-sample offsets [B]; DiffAugment draws them from U(-0.5, 0.5).

    Returns:
        x + r, with x's shape and dtype.
    """
    return x + _per_sample(r, x)


def saturation(x: Array, r: Array) -> Array:
    """Scales each pixel's deviation from its channel mean (the reference's `rand_saturation`).

    Args:
        x: images [B, H, W, C].
        r: per-sample factors [B]; DiffAugment draws them from U(0, 2).

    Returns:
        (x - mean_C(x)) * r + mean_C(x), with x's shape and dtype; x itself when C = 1.
    """
    mean = jnp.mean(x, axis=-1, keepdims=True)
    return ((x - mean) * _per_sample(r, x) + mean).astype(x.dtype)


def contrast(x: Array, r: Array) -> Array:
    """Scales each image's deviation from its mean over H, W, C (the reference's `rand_contrast`).

    Args:
        x: images [B, H, W, C].
        r: per-sample factors [B]; DiffAugment draws them from U(0.5, 1.5).

    Returns:
        (x - mean_HWC(x)) * r + mean_HWC(x), with x's shape and dtype.
    """
    mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
    return ((x - mean) * _per_sample(r, x) + mean).astype(x.dtype)


def max_shift(size: int, ratio: float = TRANSLATION_RATIO) -> int:
    """The largest translation, in pixels, along an axis of `size` pixels: int(size*ratio+0.5)."""
    return int(size * ratio + 0.5)


def cutout_size(size: int, ratio: float = CUTOUT_RATIO) -> int:
    """The cutout's extent, in pixels, along an axis of `size` pixels: int(size*ratio+0.5)."""
    return int(size * ratio + 0.5)


def _shift_indices(shift: Array, size: int) -> tuple[Array, Array]:
    """Source indices i + shift[b] (clipped into range) and whether each lies in [0, size)."""
    src = jnp.arange(size)[None, :] + jnp.asarray(shift, jnp.int32)[:, None]  # [B, size]
    valid = (src >= 0) & (src < size)
    return jnp.clip(src, 0, size - 1), valid


def translation(x: Array, shift_h: Array, shift_w: Array) -> Array:
    """Translates each image by integer shifts, filling with zeros (the reference's translation).

    out[b, i, j] = x[b, i + shift_h[b], j + shift_w[b]] where that index lies inside the image,
    and 0 elsewhere, exactly as the reference's gather from a 1-pixel zero-padded image with
    clamped indices. The gather is differentiable w.r.t. x: the gradient of pixel (i, j) is the
    upstream gradient at (i - shift_h, j - shift_w), or 0 if that pixel was shifted out.

    Args:
        x: images [B, H, W, C].
        shift_h: integer shifts along H, [B] (any integers; DiffAugment draws them from
            {-max_shift(H), ..., max_shift(H)}).
        shift_w: integer shifts along W, [B].

    Returns:
        The translated images, with x's shape and dtype.
    """
    b, h, w, _ = x.shape
    rows, row_ok = _shift_indices(shift_h, h)  # [B, H]
    cols, col_ok = _shift_indices(shift_w, w)  # [B, W]
    gathered = x[jnp.arange(b)[:, None, None], rows[:, :, None], cols[:, None, :]]
    keep = (row_ok[:, :, None] & col_ok[:, None, :])[..., None]  # [B, H, W, 1]
    return jnp.where(keep, gathered, jnp.zeros((), x.dtype))


def cutout(x: Array, offset_h: Array, offset_w: Array, ratio: float = CUTOUT_RATIO) -> Array:
    """Zeroes a rectangle of each image (the reference's `rand_cutout`).

    With sizes s_h = cutout_size(H, ratio) and s_w = cutout_size(W, ratio), image b is zeroed on
    rows [offset_h[b] - s_h // 2, offset_h[b] - s_h // 2 + s_h) and the analogous columns,
    clipped to the image; every channel is zeroed.

    Args:
        x: images [B, H, W, C].
        offset_h: integer centres along H, [B]; DiffAugment draws them from
            {0, ..., H - s_h % 2} as the reference does.
        offset_w: integer centres along W, [B].
        ratio: the cutout's size as a fraction of the image's side.

    Returns:
        The masked images, with x's shape and dtype.
    """
    _, h, w, _ = x.shape
    size_h, size_w = cutout_size(h, ratio), cutout_size(w, ratio)

    def inside(offset: Array, size: int, extent: int) -> Array:
        lo = jnp.asarray(offset, jnp.int32)[:, None] - size // 2
        i = jnp.arange(extent)[None, :]
        return (i >= lo) & (i < lo + size)  # [B, extent]

    cut = inside(offset_h, size_h, h)[:, :, None] & inside(offset_w, size_w, w)[:, None, :]
    return jnp.where(cut[..., None], jnp.zeros((), x.dtype), x)


def sample_color(key: Array, batch: int, dtype: jnp.dtype = jnp.float32) -> tuple[Array, ...]:
    """Draws the per-sample (brightness, saturation, contrast) parameters, each of shape [B]."""
    kb, ks, kc = jax.random.split(key, 3)
    r_brightness = jax.random.uniform(kb, (batch,), dtype, -0.5, 0.5)
    r_saturation = jax.random.uniform(ks, (batch,), dtype, 0.0, 2.0)
    r_contrast = jax.random.uniform(kc, (batch,), dtype, 0.5, 1.5)
    return r_brightness, r_saturation, r_contrast


def sample_translation(
    key: Array, batch: int, height: int, width: int, ratio: float = TRANSLATION_RATIO
) -> tuple[Array, Array]:
    """Draws integer shifts [B] uniformly from {-m, ..., m}, m = max_shift(side, ratio)."""
    kh, kw = jax.random.split(key)
    mh, mw = max_shift(height, ratio), max_shift(width, ratio)
    shift_h = jax.random.randint(kh, (batch,), -mh, mh + 1)
    shift_w = jax.random.randint(kw, (batch,), -mw, mw + 1)
    return shift_h, shift_w


def sample_cutout(
    key: Array, batch: int, height: int, width: int, ratio: float = CUTOUT_RATIO
) -> tuple[Array, Array]:
    """Draws cutout centres [B] uniformly from {0, ..., side - cutout_size(side) % 2}."""
    kh, kw = jax.random.split(key)
    sh, sw = cutout_size(height, ratio), cutout_size(width, ratio)
    offset_h = jax.random.randint(kh, (batch,), 0, height + (1 - sh % 2))
    offset_w = jax.random.randint(kw, (batch,), 0, width + (1 - sw % 2))
    return offset_h, offset_w


def _rand_color(x: Array, key: Array) -> Array:
    r_brightness, r_saturation, r_contrast = sample_color(key, x.shape[0], x.dtype)
    return contrast(saturation(brightness(x, r_brightness), r_saturation), r_contrast)


def _rand_translation(x: Array, key: Array) -> Array:
    return translation(x, *sample_translation(key, *x.shape[:3]))


def _rand_cutout(x: Array, key: Array) -> Array:
    return cutout(x, *sample_cutout(key, *x.shape[:3]))


_AUGMENT_FNS = {"color": _rand_color, "translation": _rand_translation, "cutout": _rand_cutout}


def diff_augment(x: Array, key: Array, policy: str | tuple[str, ...]) -> Array:
    """Applies the DiffAugment policy to a batch of images with per-sample random parameters.

    The ops run in the policy's order (the standard "color,translation,cutout" gives color ->
    translation -> cutout, as in the reference). Op k of the policy draws its parameters from
    `jax.random.split(key, len(ops))[k]`, via `sample_color` / `sample_translation` /
    `sample_cutout`. Jit-compatible with `policy` static; differentiable w.r.t. x.

    Args:
        x: float images [B, H, W, C], typically in [-1, 1]; any B, H, W, C.
        key: a PRNG key.
        policy: a comma-separated string as for `parse_policy`, or a tuple of op names.

    Returns:
        The augmented images, with x's shape and dtype; x itself for an empty policy.

    Raises:
        ValueError: for an unknown op name.
    """
    ops = parse_policy(policy) if isinstance(policy, str) else _validate(policy, policy)
    if not ops:
        return x
    for name, subkey in zip(ops, jax.random.split(key, len(ops))):
        x = _AUGMENT_FNS[name](x, subkey)
    return x
