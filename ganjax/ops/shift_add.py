"""Convolutions with few output channels as one matrix product and a sum of shifted slices.

An image-producing layer (CycleGAN's last 7x7 convolution, 64 -> 3 channels) or a score layer
(PatchGAN's last 4x4 convolution, 512 -> 1) has windows k * k * Cin wide and only Cout outputs:
its im2col matrix is k * k * Cin / Cout times larger than the output (1,045x for CycleGAN's at 256
px: 822 MB per image) and the product [pixels, k k Cin] @ [k k Cin, Cout] is memory-bound.

Here every input pixel is multiplied once by all k * k taps at once:

  z = x @ W   ([B, Hp, Wp, Cin] @ [Cin, k * k * Cout], a well-shaped product)
  y[b, i, j, o] = sum over taps (p, q) of z[b, s i + p, s j + q, (p, q, o)]

The intermediate z is only k * k * Cout channels, and the tap sum is k * k shifted (strided) slices
added in one fused loop. The gradient is written out (custom VJP): the output gradient g is laid
into dz (tap (p, q)'s channel group = g shifted by (p, q)), and then dx = dz @ W^T and
dW = x^T @ dz, two products of the same good shape. At stride 1, dz is the im2col of g padded by
k - 1 with the taps reversed (`ganjax.ops.gemm.im2col`, one fused copy); other strides build it
from one interior-padded copy of g per tap. (XLA's own derivative of the tap sum, a chain of
padded adds, took 2.7 s for the forward and backward pass of CycleGAN's 7x7 layer at 256 px;
this takes 0.05 s.)
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from ganjax.ops.gemm import gemm_geometry, im2col

Array = jax.Array


def conv_shift_add(x: Array, kernel: Array, stride: int, pads) -> Array:
    """`lax.conv_general_dilated(x, kernel, (stride, stride), pads)` for NHWC / HWIO.

    Args:
      x: [B, H, W, Cin] input.
      kernel: [kh, kw, Cin, Cout].
      stride: the window stride (both axes).
      pads: ((low, high), (low, high)) zero padding of H and W.

    Returns:
      [B, Ho, Wo, Cout] with Ho = (H + low + high - kh) // stride + 1 (likewise Wo).
    """
    kh, kw, cin, cout = kernel.shape
    (lo_h, hi_h), (lo_w, hi_w) = pads
    if lo_h or hi_h or lo_w or hi_w:
        x = jnp.pad(x, ((0, 0), (lo_h, hi_h), (lo_w, hi_w), (0, 0)))
    _, h, w, _ = x.shape
    if h < kh or w < kw:
        raise ValueError(f"a {kh}x{kw} window does not fit the padded {h}x{w} input")
    # [Cin, kh * kw * Cout], columns in (p, q, o) order.
    taps = kernel.transpose(2, 0, 1, 3).reshape(cin, kh * kw * cout)
    return _shift_add_valid(x, taps, kh, kw, stride)


def _tap_sum(z: Array, kh: int, kw: int, stride: int) -> Array:
    """[B, H, W, kh * kw * C] -> [B, Ho, Wo, C]: sum over taps (p, q) of z's (p, q) channel
    group at rows s i + p and columns s j + q."""
    b, h, w, ch = z.shape
    c = ch // (kh * kw)
    (_, (ho,)), (_, (wo,)) = (
        gemm_geometry((n,), k, stride, ((0, 0),)) for n, k in ((h, kh), (w, kw))
    )
    y = None
    for p in range(kh):
        for q in range(kw):
            g = (p * kw + q) * c
            part = lax.slice(
                z,
                (0, p, q, g),
                (b, p + (ho - 1) * stride + 1, q + (wo - 1) * stride + 1, g + c),
                (1, stride, stride, 1),
            )
            y = part if y is None else y + part
    return y


def _tap_spread(g: Array, h: int, w: int, kh: int, kw: int, stride: int) -> Array:
    """The adjoint of `_tap_sum`: [B, Ho, Wo, C] -> [B, H, W, kh * kw * C]."""
    _, ho, wo, _ = g.shape
    zero = jnp.zeros((), g.dtype)
    parts = []
    for p in range(kh):
        for q in range(kw):
            hi_h, hi_w = h - p - (ho - 1) * stride - 1, w - q - (wo - 1) * stride - 1
            config = ((0, 0, 0), (p, hi_h, stride - 1), (q, hi_w, stride - 1), (0, 0, 0))
            parts.append(lax.pad(g, zero, config))
    return jnp.concatenate(parts, axis=-1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _shift_add_valid(x: Array, taps: Array, kh: int, kw: int, stride: int) -> Array:
    """VALID convolution of padded x [B, H, W, Cin] with taps [Cin, kh * kw * Cout]."""
    z = jnp.dot(x, taps, preferred_element_type=jnp.float32).astype(x.dtype)
    return _tap_sum(z, kh, kw, stride)


def _shift_add_fwd(x, taps, kh, kw, stride):
    return _shift_add_valid(x, taps, kh, kw, stride), (x, taps)


def _shift_add_bwd(kh, kw, stride, residuals, g):
    x, taps = residuals
    b, h, w, cin = x.shape
    cout = g.shape[-1]
    if stride == 1 and kh == kw:
        # dz's (p, q) group is g shifted by (p, q): the im2col of g padded by k - 1, with the
        # taps in reverse order; so use that im2col (one fused copy) with the flipped taps.
        gp = jnp.pad(g, ((0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1), (0, 0)))
        patches = im2col(gp, kh, 1, h, w)  # [B * H * W, k * k * Cout], (i, j, o) = (-p, -q, o)
        flip = lambda t: t.reshape(-1, kh, kw, cout)[:, ::-1, ::-1].reshape(-1, kh * kw * cout)
        dx = jnp.dot(patches, flip(taps).T, preferred_element_type=jnp.float32)
        dtaps = flip(jnp.dot(x.reshape(-1, cin).T, patches, preferred_element_type=jnp.float32))
        return dx.reshape(x.shape).astype(x.dtype), dtaps.astype(taps.dtype)
    dz = _tap_spread(g, h, w, kh, kw, stride)  # [B, H, W, kh * kw * Cout]
    dx = jnp.dot(dz, taps.T, preferred_element_type=jnp.float32).astype(x.dtype)
    dtaps = jnp.dot(
        x.reshape(-1, cin).T, dz.reshape(-1, dz.shape[-1]), preferred_element_type=jnp.float32
    )
    return dx, dtaps.astype(taps.dtype)


_shift_add_valid.defvjp(_shift_add_fwd, _shift_add_bwd)


def shift_add_applies(k: int, cin: int, cout: int, max_cout: int) -> bool:
    """Whether impl "auto" takes `conv_shift_add`: a spatial kernel, at most `max_cout` output
    channels and more input channels than output ones (else im2col's matrix is the smaller)."""
    return k > 1 and cout <= max_cout and cin > cout
