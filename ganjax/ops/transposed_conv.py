"""PyTorch-compatible transposed convolutions: four implementations and their dispatch.

Every function follows PyTorch's `ConvTranspose2d(kernel, stride, padding)` arithmetic (output =
(in - 1) * stride - 2 * padding + kernel) with a [K, K, Cin, Cout] kernel, and all give the same
values and gradients to float32 rounding: `conv_transpose_direct` (an input-dilated convolution),
`conv_transpose_subpixel` (one stride-1 convolution producing all output phases),
`conv_transpose_gemm` and `conv_transpose_winograd` (the adjoint of the matching convolution, by
`ganjax.ops.gemm` / `ganjax.ops.winograd`, falling back where those do not apply).
`conv_transpose` picks one per backend and layer (impl "auto").
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
from jax import lax

from ganjax.errors import ConfigError
from ganjax.ops.conv import DN, auto_winograd, conv_valid
from ganjax.ops.gemm import conv_adjoint_gemm, conv_transpose_geometry
from ganjax.ops.winograd import conv_adjoint_winograd, winograd_applies

Array = jax.Array
ConvTransposeImpl = Literal["auto", "direct", "subpixel", "gemm", "winograd"]


def conv_transpose_direct(x: Array, kernel: Array, stride: int, padding: int) -> Array:
    """Transposed convolution as an input-dilated convolution (the textbook form).

    Args:
      x: [B, H, W, Cin] input.
      kernel: [K, K, Cin, Cout] kernel, applied so that it matches PyTorch's ConvTranspose2d
        with weight[cin, cout, kh, kw] = kernel[kh, kw, cin, cout].
      stride: upsampling factor.
      padding: PyTorch's `padding` argument.

    Returns:
      [B, (H - 1) * stride - 2 * padding + K, ..., Cout].
    """
    k = kernel.shape[0]
    pad = k - 1 - padding
    if pad < 0:
        raise ValueError(f"padding={padding} must be at most kernel_size - 1 = {k - 1}")
    # A transposed convolution is the convolution of the stride-dilated input with the
    # spatially flipped kernel.
    return lax.conv_general_dilated(
        x,
        kernel[::-1, ::-1],
        window_strides=(1, 1),
        padding=[(pad, pad), (pad, pad)],
        lhs_dilation=(stride, stride),
        dimension_numbers=DN,
    )


def _phase_plan(k: int, stride: int, padding: int, n: int):
    """Per output phase r (positions stride * m + r): window offset and kernel taps (1-D).

    Output m of phase r is sum_j x[m + offset_r + j] * w[taps_r[j]] for j < T, where a tap of -1
    is a zero (phases with fewer taps are left-padded so that all have T taps).
    """
    out_len = (n - 1) * stride - 2 * padding + k
    plans = []
    for r in range(stride):
        d, c = (r + padding) % stride, (r + padding) // stride
        t = -(-(k - d) // stride)  # ceil((k - d) / stride) taps with index = d (mod stride)
        plans.append((c - (t - 1), [d + stride * (t - 1 - j) for j in range(t)]))
    width = max(len(taps) for _, taps in plans)
    plans = [(off - (width - len(taps)), [-1] * (width - len(taps)) + taps) for off, taps in plans]
    return out_len, width, plans


def conv_transpose_subpixel(x: Array, kernel: Array, stride: int, padding: int) -> Array:
    """The same transposed convolution as `conv_transpose_direct`, computed as one stride-1
    convolution that produces all stride^2 output phases as channels, then interleaved.

    Every output phase of a stride-s transposed convolution is an ordinary small convolution of the
    (padded) input with a subset of the kernel's taps. Stacking those sub-kernels along the output
    channels gives one stride-1 convolution whose gradients are plain convolution gradients (the
    input-dilated, padded form's kernel gradient is pathologically slow on XLA:CPU). For a 4x4
    stride-2 kernel with padding 1, each phase uses 2x2 taps, so the work is (n + 1)^2 / n^2 of the
    minimum. When the output length is not a multiple of the stride (CycleGAN's 3x3 stride-2
    layers: 2n + 1), every phase computes ceil(length / stride) outputs and the surplus row and
    column are cropped. Non-square inputs and stride 1 use the direct form.
    """
    b, h, w, cin = x.shape
    k, cout = kernel.shape[0], kernel.shape[3]
    if h != w or stride == 1:
        return conv_transpose_direct(x, kernel, stride, padding)
    out_len, width, plans = _phase_plan(k, stride, padding, h)
    m = -(-out_len // stride)  # Outputs per phase; m * stride >= out_len.
    offsets = [off for off, _ in plans]
    lo, hi = min(offsets), max(offsets)
    n_conv = m + hi - lo  # Outputs per dimension of the shared convolution.
    pad_lo, pad_hi = -lo, lo + n_conv + width - 1 - h
    # Sub-kernels [width, width, cin, stride * stride * cout] assembled from static slices of the
    # kernel (a gather here would turn into a scatter in the gradient, very slow on XLA:CPU).
    zero = jnp.zeros((cin, cout), kernel.dtype)
    rows = []
    for jh in range(width):
        cols = []
        for jw in range(width):
            per_phase = [
                zero if th < 0 or tw < 0 else kernel[th, tw]
                for _, taps_h in plans
                for th in [taps_h[jh]]
                for _, taps_w in plans
                for tw in [taps_w[jw]]
            ]  # stride * stride entries of [cin, cout], phase-major (r_h, r_w)
            cols.append(jnp.stack(per_phase, 1).reshape(cin, stride * stride * cout))
        rows.append(jnp.stack(cols))
    sub = jnp.stack(rows)  # [width, width, cin, s * s * cout]
    # Explicit zero padding and a VALID convolution: XLA:CPU computes the kernel gradient of a
    # convolution with built-in padding ~15x slower than the same convolution on a padded input.
    crop = max(-pad_lo, 0)  # Offsets above zero start inside the input.
    x = x[:, crop:, crop:]
    x = jnp.pad(
        x, ((0, 0), (max(pad_lo, 0), max(pad_hi, 0)), (max(pad_lo, 0), max(pad_hi, 0)), (0, 0))
    )
    y = conv_valid(x, sub, 1)[:, :n_conv, :n_conv]
    y = y.reshape(b, n_conv, n_conv, stride, stride, cout)  # [B, n, n, r_h, r_w, C]
    if hi == lo:  # Pure depth-to-space.
        phases = y
    else:  # Phase r's outputs start at row offset_r - lo of the shared convolution.
        rows = [y[:, off - lo : off - lo + m] for off in offsets]  # each [B, m, n, r_h, r_w, C]
        phases = jnp.stack(
            [rows[rh][:, :, :, rh] for rh in range(stride)], 3
        )  # [B, m, n, r_h, r_w, C]
        phases = jnp.stack(
            [phases[:, :, off - lo : off - lo + m, :, rw] for rw, off in enumerate(offsets)], 4
        )
    # [B, m, m, r_h, r_w, C] -> [B, m, r_h, m, r_w, C] -> [B, m * s, m * s, C]
    y = phases.transpose(0, 1, 3, 2, 4, 5).reshape(b, m * stride, m * stride, cout)
    return y[:, :out_len, :out_len]


def conv_transpose_gemm(x: Array, kernel: Array, stride: int, padding: int) -> Array:
    """PyTorch's ConvTranspose2d(k, stride, padding) as the adjoint of the matching convolution
    (the definition of a transposed convolution), computed with the matrix-product path. Same
    values and gradients as `conv_transpose_direct`. Falls back to the sub-pixel form when the
    kernel size is not a multiple of the stride."""
    k, pads, out_hw = conv_transpose_geometry(x, kernel, stride, padding)
    if k % stride or padding > k - 1:
        return conv_transpose_subpixel(x, kernel, stride, padding)
    return conv_adjoint_gemm(x, kernel.transpose(0, 1, 3, 2), stride, pads, out_hw)


def conv_transpose_winograd(x: Array, kernel: Array, stride: int, padding: int) -> Array:
    """PyTorch's ConvTranspose2d(k, stride, padding) for k = 2 or 3 x stride as the adjoint of the
    matching convolution, by Winograd F(2x2, rxr). Same values and gradients as
    `conv_transpose_direct` to float32 rounding. Other kernel sizes (or padding > k - 1) use
    `conv_transpose_gemm`."""
    k = kernel.shape[0]
    if not winograd_applies(k, stride) or padding > k - 1:
        return conv_transpose_gemm(x, kernel, stride, padding)
    return conv_adjoint_winograd(x, kernel, stride, padding)


def default_conv_transpose_impl() -> str:
    """The default implementation: "winograd" on CPU (per layer: `conv_transpose_winograd` where the
    kernel is 2 x stride and both channel counts reach WINOGRAD_MIN_CHANNELS, else "gemm"; see
    docs/performance.md); "direct" on GPU/TPU, where cuDNN/XLA have native transposed-convolution
    gradients."""
    return "winograd" if jax.default_backend() == "cpu" else "direct"


def conv_transpose(
    x: Array, kernel: Array, stride: int, padding: int, *, impl: ConvTransposeImpl = "auto"
) -> Array:
    """Dispatches to the chosen transposed-convolution implementation."""
    if impl == "auto":
        impl = default_conv_transpose_impl()
        if impl == "winograd" and not auto_winograd(kernel.shape[0], stride, *kernel.shape[2:]):
            impl = "gemm"
    if impl == "direct":
        return conv_transpose_direct(x, kernel, stride, padding)
    if impl == "subpixel":
        return conv_transpose_subpixel(x, kernel, stride, padding)
    if impl == "gemm":
        return conv_transpose_gemm(x, kernel, stride, padding)
    if impl == "winograd":
        return conv_transpose_winograd(x, kernel, stride, padding)
    raise ConfigError(
        f"Unknown conv_transpose impl '{impl}'; use direct, subpixel, gemm, winograd or auto"
    )
