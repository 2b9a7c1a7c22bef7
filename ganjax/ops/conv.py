"""2-D convolution entry points: `conv_padded` (padding arithmetic and the per-backend choice of
implementation) and `conv_valid` (a VALID convolution with an im2col kernel gradient).

`conv_padded` is what `ganjax.models.layers.Conv` and the weight-normalized convolutions call.
impl "auto" picks, per layer, Winograd (`ganjax.ops.winograd`), im2col matrix products
(`ganjax.ops.gemm`) or `conv_valid` on CPU, and lax's convolution on GPU/TPU;
`auto_winograd` is the same rule for `ganjax.ops.transposed_conv`.
"""

from __future__ import annotations

import functools
from typing import Literal

import jax
import jax.numpy as jnp
from jax import lax

from ganjax.errors import ConfigError
from ganjax.ops.gemm import conv_gemm, im2col
from ganjax.ops.shift_add import conv_shift_add, shift_add_applies
from ganjax.ops.winograd import conv_winograd, winograd_applies

Array = jax.Array
ConvImpl = Literal["auto", "gemm", "winograd", "shift_add", "lax"]

# lax dimension numbers: NHWC images, HWIO kernels.
DN = ("NHWC", "HWIO", "NHWC")


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv_valid(x: Array, kernel: Array, stride: int = 1) -> Array:
    """VALID convolution (NHWC, HWIO) whose kernel gradient is one im2col matrix product.

    Same values and gradients as `lax.conv_general_dilated(x, kernel, (stride, stride), "VALID")`.
    XLA:CPU's own kernel gradient runs at 4-60 GFLOP/s on GAN layer shapes (large maps, few
    channels); patches^T @ output_grad runs near matmul speed. The input gradient is XLA's.
    """
    return lax.conv_general_dilated(x, kernel, (stride, stride), "VALID", dimension_numbers=DN)


def _conv_valid_fwd(x, kernel, stride):
    return conv_valid(x, kernel, stride), (x, kernel)


def _conv_valid_bwd(stride, residuals, g):
    x, kernel = residuals
    kh, kw, cin, cout = kernel.shape
    _, ho, wo, _ = g.shape
    _, x_vjp = jax.vjp(
        lambda x: lax.conv_general_dilated(
            x, kernel, (stride, stride), "VALID", dimension_numbers=DN
        ),
        x,
    )
    (dx,) = x_vjp(g)
    # im2col: [B * Ho * Wo, kh * kw * cin], column order (i, j, c) to match the HWIO kernel.
    patches = im2col(x, kh, stride, ho, wo)
    dk = jnp.dot(patches.T, g.reshape(-1, cout), preferred_element_type=jnp.float32)
    return dx, dk.reshape(kh, kw, cin, cout).astype(kernel.dtype)


conv_valid.defvjp(_conv_valid_fwd, _conv_valid_bwd)


def resolve_padding(padding: int | str, k: int, stride: int, size: int) -> tuple[int, int]:
    """(low, high) zero padding: an int is PyTorch's symmetric padding; "SAME" is TensorFlow's
    (output ceil(size / stride), the odd pixel on the high side); "VALID" is none."""
    if isinstance(padding, int):
        return padding, padding
    if padding == "VALID":
        return 0, 0
    if padding == "SAME":
        out = -(-size // stride)
        total = max((out - 1) * stride + k - size, 0)
        return total // 2, total - total // 2
    raise ValueError(f"padding must be an int, 'SAME' or 'VALID', not {padding!r}")


# "auto" uses Winograd only where both channel counts reach this (an RGB input or output layer
# has little product work to save, and its transforms would cost more than they save: measured
# slower on dcgan28 and dcgan64).
WINOGRAD_MIN_CHANNELS = 16


# "auto" uses `conv_shift_add` for stride-1 layers with at most this many output channels (and
# more input ones): image and score layers, whose im2col matrix is k * k * Cin / Cout times the
# output (CycleGAN's 64 -> 3 7x7 layer at 256 px: forward + backward 0.40 s by im2col, 0.05 s).
SHIFT_ADD_MAX_CHANNELS = 8


def auto_winograd(k: int, stride: int, cin: int, cout: int) -> bool:
    """Whether impl "auto" takes Winograd on CPU (see WINOGRAD_MIN_CHANNELS)."""
    return winograd_applies(k, stride) and min(cin, cout) >= WINOGRAD_MIN_CHANNELS


def conv_padded(
    x: Array, kernel: Array, stride: int, padding: int | str, *, impl: ConvImpl = "auto"
) -> Array:
    """2-D convolution (PyTorch int padding, or "SAME"/"VALID"), on each backend's fast path.

    impl "auto" on CPU: `conv_winograd` where it applies (kernel = 2 or 3 x stride: DCGAN's 4x4
    stride-2 layers and 3x3 stride-1 ones, with at least WINOGRAD_MIN_CHANNELS channels in and
    out), else `conv_shift_add` for stride-1 layers with few output channels (at most
    SHIFT_ADD_MAX_CHANNELS, fewer than the input's), else `conv_gemm` (im2col + one matrix
    product, custom gradients) when the kernel size is a multiple of the stride, else explicit
    padding + `conv_valid`. On GPU/TPU: lax's convolution
    (cuDNN / the TPU convolution units), whose gradients are fast there. "gemm" and "winograd"
    force that path where it applies (falling back as above); "shift_add" forces
    `conv_shift_add` (any layer); "lax" is lax's convolution everywhere.
    """
    if impl not in ("auto", "gemm", "winograd", "shift_add", "lax"):
        raise ConfigError(f"Unknown conv impl '{impl}'; use auto, gemm, winograd, shift_add or lax")
    k, _, cin, cout = kernel.shape
    pads = (
        resolve_padding(padding, k, stride, x.shape[1]),
        resolve_padding(padding, k, stride, x.shape[2]),
    )
    if impl == "lax" or (impl == "auto" and jax.default_backend() != "cpu"):
        return lax.conv_general_dilated(x, kernel, (stride, stride), pads, dimension_numbers=DN)
    if (
        impl == "winograd"
        and winograd_applies(k, stride)
        or impl == "auto"
        and auto_winograd(k, stride, cin, cout)
    ):
        return conv_winograd(x, kernel, stride, pads)
    if impl == "shift_add" or (
        impl == "auto" and stride == 1 and shift_add_applies(k, cin, cout, SHIFT_ADD_MAX_CHANNELS)
    ):
        return conv_shift_add(x, kernel, stride, pads)
    if k % stride == 0:
        return conv_gemm(x, kernel, stride, pads)
    (lo, hi), (lo_w, hi_w) = pads
    if lo or hi or lo_w or hi_w:
        x = jnp.pad(x, ((0, 0), (lo, hi), (lo_w, hi_w), (0, 0)))
    return conv_valid(x, kernel, stride)
