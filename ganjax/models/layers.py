"""Shared layers: convolutions and PyTorch-compatible transposed convolutions with fast CPU paths,
and weight initializers.

`ConvTranspose` follows PyTorch's `ConvTranspose2d(kernel, stride, padding)` arithmetic
(output = (in - 1) * stride - 2 * padding + kernel), so DCGAN layer shapes are exact at every
resolution and the networks compare one-to-one with the PyTorch reference.
"""

from __future__ import annotations

import functools
from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

Array = jax.Array
ConvTransposeImpl = Literal["auto", "direct", "subpixel", "gemm", "winograd"]

_DN = ("NHWC", "HWIO", "NHWC")


def normal_init(std: float):
    """N(0, std^2) initializer (Radford et al. use std 0.02)."""
    return nn.initializers.normal(stddev=std)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv_valid(x: Array, kernel: Array, stride: int = 1) -> Array:
    """VALID convolution (NHWC, HWIO) whose kernel gradient is one im2col matrix product.

    Same values and gradients as `lax.conv_general_dilated(x, kernel, (stride, stride), "VALID")`.
    XLA:CPU's own kernel gradient runs at 4-60 GFLOP/s on GAN layer shapes (large maps, few
    channels); patches^T @ output_grad runs near matmul speed. The input gradient is XLA's.
    """
    return lax.conv_general_dilated(x, kernel, (stride, stride), "VALID", dimension_numbers=_DN)


def _conv_valid_fwd(x, kernel, stride):
    return conv_valid(x, kernel, stride), (x, kernel)


def _conv_valid_bwd(stride, residuals, g):
    x, kernel = residuals
    kh, kw, cin, cout = kernel.shape
    _, ho, wo, _ = g.shape
    _, x_vjp = jax.vjp(
        lambda x: lax.conv_general_dilated(x, kernel, (stride, stride), "VALID", dimension_numbers=_DN), x
    )
    (dx,) = x_vjp(g)
    # im2col: [B * Ho * Wo, kh * kw * cin], column order (i, j, c) to match the HWIO kernel.
    patches = _patches(x, kh, stride, ho, wo)
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


ConvImpl = Literal["auto", "gemm", "winograd", "lax"]


def conv_padded(x: Array, kernel: Array, stride: int, padding: int | str, *, impl: ConvImpl = "auto") -> Array:
    """2-D convolution (PyTorch int padding, or "SAME"/"VALID"), on each backend's fast path.

    impl "auto" on CPU: `conv_winograd` where it applies (kernel = 2 or 3 x stride: DCGAN's 4x4
    stride-2 layers and 3x3 stride-1 ones, with at least WINOGRAD_MIN_CHANNELS channels in and
    out), else `conv_gemm` (im2col + one matrix product, custom gradients) when the kernel size is
    a multiple of the stride, else explicit padding + `conv_valid`. On GPU/TPU: lax's convolution (cuDNN / the TPU convolution
    units), whose gradients are fast there. "gemm" and "winograd" force that path where it applies
    (falling back as above); "lax" is lax's convolution everywhere.
    """
    if impl not in ("auto", "gemm", "winograd", "lax"):
        raise ValueError(f"Unknown conv impl '{impl}'; use auto, gemm, winograd or lax")
    k, _, cin, cout = kernel.shape
    pads = (resolve_padding(padding, k, stride, x.shape[1]), resolve_padding(padding, k, stride, x.shape[2]))
    if impl == "lax" or (impl == "auto" and jax.default_backend() != "cpu"):
        return lax.conv_general_dilated(x, kernel, (stride, stride), pads, dimension_numbers=_DN)
    if impl == "winograd" and winograd_applies(k, stride) or impl == "auto" and _auto_winograd(k, stride, cin, cout):
        return conv_winograd(x, kernel, stride, pads)
    if k % stride == 0:
        return conv_gemm(x, kernel, stride, pads)
    (lo, hi), (lo_w, hi_w) = pads
    if lo or hi or lo_w or hi_w:
        x = jnp.pad(x, ((0, 0), (lo, hi), (lo_w, hi_w), (0, 0)))
    return conv_valid(x, kernel, stride)


# --- Convolutions as matrix products (the CPU fast path) ---------------------------------------
#
# A stride-s convolution whose kernel size k is a multiple of s has windows made of k/s contiguous
# runs of s pixels per row, so its im2col matrix is one cheap copy (`_patches`), and the
# convolution is one large matrix product at XLA:CPU's matmul speed (200-290 GFLOP/s here, against
# 60-150 GFLOP/s for XLA:CPU's convolutions on GAN layer shapes). The backward pass is written out
# (custom VJP) so that every product keeps a shape that runs fast: the kernel gradient reuses the
# forward im2col matrix, and the input gradient (the transposed convolution) works on the
# space-to-depth grid, where the map is a stride-1 convolution with a k/s x k/s kernel: either a
# "gather" (im2col of the padded output gradient, one product with the flipped kernel,
# depth-to-space) or a "scatter" (one product, then the k/s x k/s shifted partial sums added up),
# whichever has the better-shaped product. A transposed convolution (PyTorch's ConvTranspose2d) is
# the same linear map's adjoint, so it reuses both pieces.

# The input gradient / transposed convolution uses the gather form below this many channels on the
# small side (a scatter product with few input channels runs at a third of the matmul peak), unless
# the gather's im2col matrix would be the larger intermediate (a last generator layer with 1-3
# output channels: scatter there).
GATHER_BELOW_CHANNELS = 256


def _adjoint_form(kb: int, cout: int, *, gather_elems: int, scatter_elems: int) -> str:
    """"gather" or "scatter" for `_gemm_adjoint` (see GATHER_BELOW_CHANNELS); elems are the sizes
    per image of the two forms' intermediate matrices."""
    if kb > 1 and cout < GATHER_BELOW_CHANNELS and gather_elems <= scatter_elems:
        return "gather"
    return "scatter"


def depth_to_space(x: Array, block: int) -> Array:
    """[B, H, W, block * block * C] -> [B, H * block, W * block, C], channel order (p, q, c)."""
    b, h, w, c = x.shape
    x = x.reshape(b, h, w, block, block, c // (block * block))
    return x.transpose(0, 1, 3, 2, 4, 5).reshape(b, h * block, w * block, c // (block * block))


def _stack_taps(taps: list[list[Array]]) -> Array:
    """im2col from window slices taps[a][b] (each [B, Ho, Wo, C]) -> [B * Ho * Wo, A * Bn * C],
    columns in (a, b, c) order. Stacked in two levels: XLA:CPU fuses a concatenate of at most 8
    operands into one copy loop, but copies more operands one by one and then concatenates them
    unfused (3x3 windows: 4.9 vs 2.1 ms for a 16x16x64 input at batch 64)."""
    rows = [jnp.stack(row, axis=3) if len(row) > 1 else row[0][:, :, :, None] for row in taps]
    out = jnp.stack(rows, axis=3) if len(rows) > 1 else rows[0][:, :, :, None]
    return out.reshape(-1, out.shape[3] * out.shape[4] * out.shape[5])


def _regroup(kernel: Array, s: int) -> Array:
    """[k, k, Cin, Cout] -> [k/s, k/s, s*s*Cin, Cout], matching depth_to_space's (p, q, c) order."""
    k, _, cin, cout = kernel.shape
    kb = k // s
    return kernel.reshape(kb, s, kb, s, cin, cout).transpose(0, 2, 1, 3, 4, 5).reshape(kb, kb, s * s * cin, cout)


def _gemm_geometry(in_hw: tuple[int, int], k: int, s: int, pads) -> tuple[tuple, tuple[int, int]]:
    """Exact (low, high) padding per axis (high may be negative: rows no window reaches are
    cropped) so that the padded size is (out - 1) * s + k, a multiple of s; and (Ho, Wo)."""
    exact, out = [], []
    for n, (lo, hi) in zip(in_hw, pads):
        o = (n + lo + hi - k) // s + 1
        if o < 1:
            raise ValueError(f"convolution input {n} with padding ({lo}, {hi}) is smaller than kernel {k}")
        exact.append((lo, (o - 1) * s + k - n - lo))
        out.append(o)
    return tuple(exact), tuple(out)


def _pad_config(pads):
    (lo, hi), (lo_w, hi_w) = pads
    return ((0, 0, 0), (lo, hi, 0), (lo_w, hi_w, 0), (0, 0, 0))


def _patches(xp: Array, k: int, s: int, ho: int, wo: int) -> Array:
    """im2col of a stride-s k x k window on a padded input [B, >=(ho-1)s+k, >=(wo-1)s+k, C]
    -> [B * ho * wo, k * k * C], columns in the kernel's own (row, column, channel) order.

    When k % s == 0 and the width is a multiple of s, width pairs are merged into channels
    ([B, H, W/s, s*C], a free reshape), so a window row is k/s contiguous runs of s*C values and
    the copy moves long runs. (A space-to-depth transpose first, then stride-1 windows, costs
    XLA:CPU twice as long: 10.9 vs 5.4 ms for a 32x32x64 input at batch 64.) Otherwise one strided
    slice per kernel tap."""
    b, hp, wp, c = xp.shape
    if k % s or wp % s:
        rows = lambda a: xp[:, a : a + s * (ho - 1) + 1 : s]
        return _stack_taps([[rows(a)[:, :, j : j + s * (wo - 1) + 1 : s] for j in range(k)] for a in range(k)])
    x2 = xp.reshape(b, hp, wp // s, s * c)
    return _stack_taps([[x2[:, a : a + s * (ho - 1) + 1 : s, j : j + wo] for j in range(k // s)] for a in range(k)])


def _gemm_forward(x: Array, kernel: Array, s: int, pads) -> tuple[Array, Array]:
    """y = conv(x): returns y [B, Ho, Wo, Cout] and the im2col matrix (kept for the kernel gradient;
    it may have rows for one more output row, see below)."""
    k, _, cin, cout = kernel.shape
    pads, (ho, wo) = _gemm_geometry(x.shape[1:3], k, s, pads)
    # A stride-1 "SAME" convolution's centre window is the input itself. XLA:CPU then reads that
    # window straight from the input's producer, and fuses that producer (batch norm, dropout's
    # random bits) into the im2col copy: 4-10x slower copies, measured on ssl_svhn's layers. One
    # extra output row, computed and dropped, makes every window touch the padding.
    extra = int(s == 1 and k > 1 and (ho, wo) == tuple(x.shape[1:3]))
    (lo, hi), w_pads = pads
    xp = lax.pad(x, jnp.zeros((), x.dtype), _pad_config(((lo, hi + extra), w_pads)))
    patches = _patches(xp, k, s, ho + extra, wo)
    y = jnp.dot(patches, kernel.reshape(k * k * cin, cout), preferred_element_type=jnp.float32)
    y = y.astype(x.dtype).reshape(x.shape[0], ho + extra, wo, cout)
    return (y[:, :ho] if extra else y), patches


def _gemm_adjoint(g: Array, kernel: Array, s: int, pads, in_hw: tuple[int, int]) -> Array:
    """The transpose of `_gemm_forward` in x: [B, Ho, Wo, Cout] -> [B, H, W, Cin]."""
    k, _, cin, cout = kernel.shape
    kb = k // s
    pads, (ho, wo) = _gemm_geometry(in_hw, k, s, pads)
    b = g.shape[0]
    hs, ws = ho + kb - 1, wo + kb - 1
    regrouped = _regroup(kernel, s)  # [kb, kb, s*s*cin, cout]
    if _adjoint_form(kb, cout, gather_elems=hs * ws * kb * kb * cout, scatter_elems=ho * wo * kb * kb * s * s * cin) == "gather":
        # Gather: full correlation of g with the flipped kernel, on the space-to-depth grid.
        gp = jnp.pad(g, ((0, 0), (kb - 1, kb - 1), (kb - 1, kb - 1), (0, 0)))
        flipped = regrouped[::-1, ::-1].transpose(0, 1, 3, 2).reshape(kb * kb * cout, s * s * cin)
        xs = jnp.dot(_patches(gp, kb, 1, hs, ws), flipped, preferred_element_type=jnp.float32)
        xs = xs.astype(g.dtype).reshape(b, hs, ws, s * s * cin)
    else:
        # Scatter: every output pixel's contribution to its kb x kb input block, then summed.
        # Contracting the kernel matrix's Cout axis in place: no transposed copy of the kernel.
        z = lax.dot_general(
            g.reshape(-1, cout), regrouped.reshape(kb * kb * s * s * cin, cout), (((1,), (1,)), ((), ())),
            preferred_element_type=jnp.float32,
        ).astype(g.dtype).reshape(b, ho, wo, kb, kb, s * s * cin)
        xs = sum(
            jnp.pad(z[:, :, :, a, c], ((0, 0), (a, kb - 1 - a), (c, kb - 1 - c), (0, 0)))
            for a in range(kb)
            for c in range(kb)
        )
    (lo, hi), (lo_w, hi_w) = pads
    return lax.pad(depth_to_space(xs, s), jnp.zeros((), g.dtype), _pad_config(((-lo, -hi), (-lo_w, -hi_w))))


def _gemm_kernel_grad(patches: Array, g: Array, kernel_shape) -> Array:
    """dL/dkernel = patches^T @ g (patches from `_gemm_forward`, in the kernel's own order; g gets
    zero rows for any extra output row the patches have)."""
    b, ho, wo, cout = g.shape
    extra = patches.shape[0] // (b * wo) - ho
    if extra:
        g = jnp.pad(g, ((0, 0), (0, extra), (0, 0), (0, 0)))
    return jnp.dot(patches.T, g.reshape(-1, cout), preferred_element_type=jnp.float32).reshape(kernel_shape)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv_gemm(x: Array, kernel: Array, stride: int, pads) -> Array:
    """Convolution (NHWC, HWIO, kernel size a multiple of `stride`, explicit ((lo, hi), (lo, hi))
    zero padding) as space-to-depth + im2col + one matrix product; see the section comment.
    Same values and gradients as `lax.conv_general_dilated(x, kernel, (stride,) * 2, pads)`."""
    return _gemm_forward(x, kernel, stride, pads)[0]


def _conv_gemm_fwd(x, kernel, stride, pads):
    y, patches = _gemm_forward(x, kernel, stride, pads)
    return y, (patches, kernel, x.shape[1:3])


def _conv_gemm_bwd(stride, pads, residuals, g):
    patches, kernel, in_hw = residuals
    dx = _gemm_adjoint(g, kernel, stride, pads, in_hw)
    return dx, _gemm_kernel_grad(patches, g, kernel.shape).astype(kernel.dtype)


conv_gemm.defvjp(_conv_gemm_fwd, _conv_gemm_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv_adjoint_gemm(y: Array, kernel: Array, stride: int, pads, out_hw) -> Array:
    """The adjoint (transpose) of `conv_gemm(., kernel, stride, pads)` on inputs of size out_hw."""
    return _gemm_adjoint(y, kernel, stride, pads, out_hw)


def _conv_adjoint_gemm_fwd(y, kernel, stride, pads, out_hw):
    return _gemm_adjoint(y, kernel, stride, pads, out_hw), (y, kernel)


def _conv_adjoint_gemm_bwd(stride, pads, out_hw, residuals, g):
    y, kernel = residuals
    dy, patches = _gemm_forward(g, kernel, stride, pads)
    return dy, _gemm_kernel_grad(patches, y, kernel.shape).astype(kernel.dtype)


_conv_adjoint_gemm.defvjp(_conv_adjoint_gemm_fwd, _conv_adjoint_gemm_bwd)


def _conv_transpose_geometry(x, kernel, stride, padding):
    """(k, the matching convolution's ((lo, hi), (lo, hi)) padding, PyTorch ConvTranspose2d's output size)."""
    k = kernel.shape[0]
    return k, ((padding, padding),) * 2, tuple((n - 1) * stride - 2 * padding + k for n in x.shape[1:3])


def conv_transpose_gemm(x: Array, kernel: Array, stride: int, padding: int) -> Array:
    """PyTorch's ConvTranspose2d(k, stride, padding) as the adjoint of the matching convolution
    (the definition of a transposed convolution), computed with the matrix-product path. Same
    values and gradients as `conv_transpose_direct`. Falls back to the sub-pixel form when the
    kernel size is not a multiple of the stride."""
    k, pads, out_hw = _conv_transpose_geometry(x, kernel, stride, padding)
    if k % stride or padding > k - 1:
        return conv_transpose_subpixel(x, kernel, stride, padding)
    return _conv_adjoint_gemm(x, kernel.transpose(0, 1, 3, 2), stride, pads, out_hw)


# --- Winograd F(2, r) on the space-to-depth grid (the CPU default for DCGAN and 3x3 layers) ------
#
# A convolution whose kernel size k is r times its stride s is, on the space-to-depth grid, a
# stride-1 convolution with an r x r kernel over s*s*Cin channels (s = 1: the grid is the image).
# Winograd's minimal filtering F(2, r) gives two outputs of an r-tap filter from r + 1 products
# instead of 2r. For r = 2 (DCGAN's 4x4 stride-2 layers):
#   y0 = d0 w0 + d1 w1 = m0 + m1,   y1 = d1 w0 + d2 w1 = m1 + m2,
#   m0 = (d0 - d1) w0,   m1 = d1 (w0 + w1),   m2 = (d2 - d1) w1;
# for r = 3 (3x3 stride-1 layers) the classic F(2, 3) of Lavin & Gray (2016). Nested over rows and
# columns, every 2x2 tile of outputs takes (r+1)^2 products instead of 4r^2: 9/16 of the direct
# method's multiply-adds for r = 2 and 16/36 for r = 3, in the forward pass, the input gradient and
# the kernel gradient alike, as (r+1)^2 batched matrix products [B*T*U, s*s*Cin] x [s*s*Cin, Cout]
# over the T x U tile grid (an odd output size computes one extra row/column and drops it). The
# input and output transforms are sums and differences only, the kernel transform also halves
# (exact in floating point), so results match the direct convolution to float32 rounding (tested
# at 1e-5). On the 2-core CPU, dcgan64 went from ~82 to ~100 images/s (docs/performance.md). The
# same pieces give the transposed convolution (the adjoint), with its kernel kept in its own layout
# so that no gradient needs a transposed copy.

# Per r: (input transform BT: V_i = sum_a BT[i][a] d_a, kernel transform G: U_i = sum_a G[i][a] w_a,
# output transform AT: y_j = sum_i AT[j][i] m_i), for correlation (the convolution of deep learning).
_WINOGRAD = {
    2: (((1, -1, 0), (0, 1, 0), (0, -1, 1)), ((1, 0), (1, 1), (0, 1)), ((1, 1, 0), (0, 1, 1))),
    3: (
        ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1)),
        ((1, 0, 0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0, 0, 1)),
        ((1, 1, 1, 0), (0, 1, -1, -1)),
    ),
}

# "auto" uses Winograd only where both channel counts reach this (an RGB input or output layer
# has little product work to save, and its transforms would cost more than they save: measured
# slower on dcgan28 and dcgan64).
WINOGRAD_MIN_CHANNELS = 16


def winograd_applies(k: int, stride: int) -> bool:
    """Whether `conv_winograd` / `conv_transpose_winograd` handle this kernel size and stride."""
    return k % stride == 0 and k // stride in _WINOGRAD


def _auto_winograd(k: int, stride: int, cin: int, cout: int) -> bool:
    """Whether impl "auto" takes Winograd on CPU (see WINOGRAD_MIN_CHANNELS)."""
    return winograd_applies(k, stride) and min(cin, cout) >= WINOGRAD_MIN_CHANNELS


def _lincomb(coefs, terms) -> Array:
    """sum_i coefs[i] * terms[i], with +-1 as adds and subtractions and zeros skipped."""
    out = None
    for c, t in zip(coefs, terms):
        if c:
            t = t if abs(c) == 1 else t * abs(c)
            out = (t if c > 0 else -t) if out is None else (out + t if c > 0 else out - t)
    return out


def _stack_tiles(terms: list[Array]) -> Array:
    """[n*n, ...] from n*n arrays, stacked in two levels (see `_stack_taps` on XLA:CPU's
    concatenates)."""
    n = int(round(len(terms) ** 0.5))
    return jnp.stack([jnp.stack(terms[n * i : n * i + n]) for i in range(n)]).reshape(n * n, *terms[0].shape)


def _winograd_geometry(in_hw: tuple[int, int], k: int, s: int, pads):
    """(padding to exactly (2T + r - 1)s per axis, (Ho, Wo), (T, U) 2x2 output tiles)."""
    exact, out = _gemm_geometry(in_hw, k, s, pads)
    tiles = tuple(-(-o // 2) for o in out)
    ext = tuple((lo, (2 * t + k // s - 1) * s - n - lo) for (lo, _), n, t in zip(exact, in_hw, tiles))
    return ext, out, tiles


def _winograd_input(xp: Array, r: int, s: int, t: int, u: int) -> Array:
    """Input transform: xp [B, (2t+r-1)s, (2u+r-1)s, C] -> V [(r+1)^2, B*t*u, s*s*C] (columns
    (p, q, c), as `_regroup`). Reads the padded input through free reshapes: width pairs merged
    into channels (the space-to-depth column), and rows split into (tile, tile row, s), so each of
    a tile's (r+1) x (r+1) input blocks is a plain slice."""
    b, hp, wp, c = xp.shape
    bt = _WINOGRAD[r][0]
    x2 = xp.reshape(b, hp, wp // s, s * c)
    x2 = jnp.pad(x2, ((0, 0), (0, (2 * t + 2) * s - hp), (0, 2 * u + 2 - wp // s), (0, 0)))
    y = x2.reshape(b, t + 1, 2, s, u + 1, 2, s * c)
    d = lambda a, e: y[:, a // 2 : a // 2 + t, a % 2, :, e // 2 : e // 2 + u, e % 2]  # [B, t, s, u, sC]
    rows = [[_lincomb(bt[i], [d(a, e) for a in range(r + 1)]) for e in range(r + 1)] for i in range(r + 1)]
    v = [_lincomb(bt[j], rows[i]).transpose(0, 1, 3, 2, 4) for i in range(r + 1) for j in range(r + 1)]
    return _stack_tiles(v).reshape((r + 1) ** 2, b * t * u, s * s * c)


def _winograd_input_t(dv: Array, r: int, s: int, t: int, u: int, c: int) -> Array:
    """The transpose of `_winograd_input`: dV [(r+1)^2, B*t*u, s*s*C] -> [B, (2t+r-1)s,
    (2u+r-1)s, C]. Tiles overlap by r - 1 grid rows/columns, so each output is the sum of the tile
    blocks that read it."""
    n, bt = r + 1, _WINOGRAD[r][0]
    b = dv.shape[1] // (t * u)
    d = dv.reshape(n, n, b, t, u, s, s * c)
    cols = lambda i, e: _lincomb([bt[j][e] for j in range(n)], [d[i, j] for j in range(n)])
    block = lambda a, e: _lincomb([bt[i][a] for i in range(n)], [cols(i, e) for i in range(n)])
    placed = lambda a, e: jnp.pad(block(a, e), ((0, 0), (a // 2, 1 - a // 2), (e // 2, 1 - e // 2), (0, 0), (0, 0)))
    def parity_sum(pa: int, pe: int) -> Array:  # All blocks landing on this row/column parity.
        terms = [placed(a, e) for a in range(pa, n, 2) for e in range(pe, n, 2)]
        return sum(terms[1:], terms[0])

    parity = [[parity_sum(pa, pe) for pe in range(2)] for pa in range(2)]  # -> [B, t+1, u+1, s, sC]
    full = jnp.stack([jnp.stack(parity[pa], 3) for pa in range(2)], 2)  # [B, t+1, 2, u+1, 2, s, sC]
    full = full.transpose(0, 1, 2, 5, 3, 4, 6).reshape(b, (2 * t + 2) * s, 2 * u + 2, s * c)
    hp, wp = 2 * t + r - 1, 2 * u + r - 1
    return full[:, : hp * s, :wp].reshape(b, hp * s, wp * s, c)


def _winograd_output(m: Array, r: int, b: int, t: int, u: int) -> Array:
    """Output transform: M [(r+1)^2, B*t*u, N] -> y [B, 2t, 2u, N]."""
    n, at = r + 1, _WINOGRAD[r][2]
    m = m.reshape(n, n, b, t, u, m.shape[-1])
    rows = [[_lincomb(at[p], [m[i, j] for i in range(n)]) for j in range(n)] for p in range(2)]
    y = [jnp.stack([_lincomb(at[q], rows[p]) for q in range(2)], 3) for p in range(2)]
    return jnp.stack(y, 2).reshape(b, 2 * t, 2 * u, m.shape[-1])  # [B, t, 2, u, 2, N] -> rows, cols


def _winograd_output_t(g: Array, r: int, t: int, u: int) -> Array:
    """The transpose of `_winograd_output`: g [B, 2t, 2u, N] -> dM [(r+1)^2, B*t*u, N]."""
    n, at = r + 1, _WINOGRAD[r][2]
    b, c = g.shape[0], g.shape[-1]
    g = g.reshape(b, t, 2, u, 2, c)
    rows = [[_lincomb([at[q][j] for q in range(2)], [g[:, :, p, :, q] for q in range(2)]) for j in range(n)] for p in range(2)]
    dm = [_lincomb([at[p][i] for p in range(2)], [rows[p][j] for p in range(2)]) for i in range(n) for j in range(n)]
    return _stack_tiles(dm).reshape(n * n, b * t * u, c)


def _winograd_kernel(w: Array) -> Array:
    """Kernel transform of r x r blocks: w [r, r, X, Y] -> [(r+1)^2, X, Y]."""
    r = w.shape[0]
    gk = _WINOGRAD[r][1]
    rows = [[_lincomb(gk[i], [w[a, e] for a in range(r)]) for e in range(r)] for i in range(r + 1)]
    return jnp.stack([_lincomb(gk[j], rows[i]) for i in range(r + 1) for j in range(r + 1)])


def _conv_kernel_u(kernel: Array, s: int) -> Array:
    """Convolution kernel [rs, rs, Cin, Cout] -> U [(r+1)^2, s*s*Cin, Cout]."""
    return _winograd_kernel(_regroup(kernel, s))


def _conv_transpose_kernel_u(kernel: Array, s: int) -> Array:
    """Transposed-convolution kernel [rs, rs, Cin, Cout] (the adjoint of a convolution from Cout to
    Cin channels) -> U^T [(r+1)^2, Cin, s*s*Cout], without transposing the kernel's channel axes."""
    k, _, cin, cout = kernel.shape
    r = k // s
    w = kernel.reshape(r, s, r, s, cin, cout).transpose(0, 2, 4, 1, 3, 5).reshape(r, r, cin, s * s * cout)
    return _winograd_kernel(w)


def _kernel_grad(u_fn, du: Array, kernel_shape) -> Array:
    """dL/dkernel from dL/dU through the (linear) kernel transform u_fn."""
    return jax.linear_transpose(u_fn, jax.ShapeDtypeStruct(kernel_shape, du.dtype))(du)[0]


def _bmm(a: Array, b: Array, contract: tuple[int, int]) -> Array:
    """(r+1)^2 matrix products at once: [n, ., .] x [n, ., .] contracting axes `contract`."""
    return lax.dot_general(a, b, (((contract[0],), (contract[1],)), ((0,), (0,))), preferred_element_type=jnp.float32)


def _winograd_forward(x: Array, u: Array, s: int, pads, k: int, u_transposed: bool) -> tuple[Array, Array]:
    """y = conv(x) from the transformed kernel (U [n, C', N], or U^T [n, N, C'] when u_transposed);
    also returns V, the transformed input (kept for the kernel gradient)."""
    b, r = x.shape[0], k // s
    ext, (ho, wo), (t, tu) = _winograd_geometry(x.shape[1:3], k, s, pads)
    v = _winograd_input(lax.pad(x, jnp.zeros((), x.dtype), _pad_config(ext)), r, s, t, tu)
    m = _bmm(v, u, (2, 2) if u_transposed else (2, 1)).astype(x.dtype)
    return _winograd_output(m, r, b, t, tu)[:, :ho, :wo], v


def _winograd_adjoint(g: Array, u: Array, s: int, pads, k: int, cin: int, in_hw, u_transposed: bool) -> tuple[Array, Array]:
    """The transpose of `_winograd_forward` in x: g [B, Ho, Wo, N] -> [B, H, W, Cin]; also returns
    dM, the transformed g (kept for the kernel gradient)."""
    r = k // s
    ext, (ho, wo), (t, tu) = _winograd_geometry(in_hw, k, s, pads)
    dm = _winograd_output_t(jnp.pad(g, ((0, 0), (0, 2 * t - ho), (0, 2 * tu - wo), (0, 0))), r, t, tu)
    dv = _bmm(dm, u, (2, 1) if u_transposed else (2, 2)).astype(g.dtype)
    (lo, hi), (lo_w, hi_w) = ext
    xp = _winograd_input_t(dv, r, s, t, tu, cin)
    return lax.pad(xp, jnp.zeros((), g.dtype), _pad_config(((-lo, -hi), (-lo_w, -hi_w)))), dm


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv_winograd(x: Array, kernel: Array, stride: int, pads) -> Array:
    """Convolution with a kernel of r = 2 or 3 times the stride (NHWC, HWIO, explicit
    ((lo, hi), (lo, hi)) zero padding) by Winograd F(2x2, rxr) on the space-to-depth grid; see the
    section comment. Same values and gradients as `lax.conv_general_dilated(x, kernel,
    (stride,) * 2, pads)` to float32 rounding."""
    if not winograd_applies(kernel.shape[0], stride):
        raise ValueError(f"conv_winograd needs kernel size 2 or 3 x stride, got {kernel.shape[0]} and stride {stride}")
    return _winograd_forward(x, _conv_kernel_u(kernel, stride), stride, pads, kernel.shape[0], False)[0]


def _conv_winograd_fwd(x, kernel, stride, pads):
    u = _conv_kernel_u(kernel, stride)
    y, v = _winograd_forward(x, u, stride, pads, kernel.shape[0], False)
    return y, (v, u, kernel.shape, x.shape[1:3])


def _conv_winograd_bwd(stride, pads, residuals, g):
    v, u, kernel_shape, in_hw = residuals
    dx, dm = _winograd_adjoint(g, u, stride, pads, kernel_shape[0], kernel_shape[2], in_hw, False)
    du = _bmm(v, dm, (1, 1))  # [n, C', N]
    return dx, _kernel_grad(lambda w: _conv_kernel_u(w, stride), du, kernel_shape).astype(u.dtype)


conv_winograd.defvjp(_conv_winograd_fwd, _conv_winograd_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv_transpose_winograd(x: Array, kernel: Array, stride: int, padding: int) -> Array:
    return _conv_transpose_winograd_fwd(x, kernel, stride, padding)[0]


def _conv_transpose_winograd_fwd(x, kernel, stride, padding):
    k, pads, out_hw = _conv_transpose_geometry(x, kernel, stride, padding)
    ut = _conv_transpose_kernel_u(kernel, stride)
    y, dm = _winograd_adjoint(x, ut, stride, pads, k, kernel.shape[3], out_hw, True)
    return y, (dm, ut, kernel.shape)


def _conv_transpose_winograd_bwd(stride, padding, residuals, g):
    dm, ut, kernel_shape = residuals
    dx, vg = _winograd_forward(g, ut, stride, ((padding, padding),) * 2, kernel_shape[0], True)
    dut = _bmm(dm, vg, (1, 1))  # [n, Cin, C']
    return dx, _kernel_grad(lambda w: _conv_transpose_kernel_u(w, stride), dut, kernel_shape).astype(ut.dtype)


_conv_transpose_winograd.defvjp(_conv_transpose_winograd_fwd, _conv_transpose_winograd_bwd)


def conv_transpose_winograd(x: Array, kernel: Array, stride: int, padding: int) -> Array:
    """PyTorch's ConvTranspose2d(k, stride, padding) for k = 2 or 3 x stride as the adjoint of the
    matching convolution, by Winograd F(2x2, rxr). Same values and gradients as
    `conv_transpose_direct` to float32 rounding. Other kernel sizes (or padding > k - 1) use
    `conv_transpose_gemm`."""
    k = kernel.shape[0]
    if not winograd_applies(k, stride) or padding > k - 1:
        return conv_transpose_gemm(x, kernel, stride, padding)
    return _conv_transpose_winograd(x, kernel, stride, padding)


class Conv(nn.Module):
    """2-D convolution (square kernel; int, "SAME" or "VALID" padding) on the fast-gradient path."""

    features: int
    kernel_size: int = 4
    stride: int = 2
    padding: int | str = 1
    use_bias: bool = False
    kernel_init: nn.initializers.Initializer = normal_init(0.02)
    impl: ConvImpl = "auto"  # See `conv_padded`.

    @nn.compact
    def __call__(self, x: Array) -> Array:
        k = self.kernel_size
        kernel = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features))
        y = conv_padded(x, kernel.astype(x.dtype), self.stride, self.padding, impl=self.impl)
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,)).astype(x.dtype)
        return y


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
        dimension_numbers=_DN,
    )


class ConvTranspose(nn.Module):
    """PyTorch-style 2-D transposed convolution with a square kernel.

    Attributes:
      features: output channels.
      kernel_size: square kernel size K.
      stride: upsampling factor.
      padding: PyTorch's `padding` argument.
      use_bias: add a bias (off before batch norm).
      kernel_init: kernel initializer.
      impl: "direct" (input-dilated convolution), "subpixel" (stride^2 small convolutions and a
        depth-to-space interleave), "gemm" (the adjoint of the matching convolution as matrix
        products), "winograd" (that adjoint by Winograd F(2x2, 2x2); the fastest on CPU for 4x4
        stride-2 layers) or "auto" (the fastest for the current backend and layer). All give the
        same outputs and gradients to float32 rounding.
    """

    features: int
    kernel_size: int = 4
    stride: int = 2
    padding: int = 1
    use_bias: bool = False
    kernel_init: nn.initializers.Initializer = normal_init(0.02)
    impl: ConvTransposeImpl = "auto"

    @nn.compact
    def __call__(self, x: Array) -> Array:
        k = self.kernel_size
        kernel = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features))
        kernel = kernel.astype(x.dtype)
        y = conv_transpose(x, kernel, self.stride, self.padding, impl=self.impl)
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,)).astype(x.dtype)
        return y


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
    input-dilated, padded form's kernel gradient is pathologically slow on XLA:CPU). For a 4x4 stride-2
    kernel with padding 1, each phase uses 2x2 taps, so the work is (n + 1)^2 / n^2 of the minimum.
    Falls back to the direct form when the output length is not a multiple of the stride.
    """
    b, h, w, cin = x.shape
    k, cout = kernel.shape[0], kernel.shape[3]
    if h != w or stride == 1:
        return conv_transpose_direct(x, kernel, stride, padding)
    out_len, width, plans = _phase_plan(k, stride, padding, h)
    if out_len % stride:
        return conv_transpose_direct(x, kernel, stride, padding)
    m = out_len // stride
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
    x = jnp.pad(x, ((0, 0), (max(pad_lo, 0), max(pad_hi, 0)), (max(pad_lo, 0), max(pad_hi, 0)), (0, 0)))
    y = conv_valid(x, sub, 1)[:, :n_conv, :n_conv]
    y = y.reshape(b, n_conv, n_conv, stride, stride, cout)  # [B, n, n, r_h, r_w, C]
    if hi == lo:  # Pure depth-to-space.
        phases = y
    else:  # Phase r's outputs start at row offset_r - lo of the shared convolution.
        rows = [y[:, off - lo : off - lo + m] for off in offsets]  # each [B, m, n, r_h, r_w, C]
        phases = jnp.stack([rows[rh][:, :, :, rh] for rh in range(stride)], 3)  # [B, m, n, r_h, r_w, C]
        phases = jnp.stack([phases[:, :, off - lo : off - lo + m, :, rw] for rw, off in enumerate(offsets)], 4)
    # [B, m, m, r_h, r_w, C] -> [B, m, r_h, m, r_w, C] -> [B, m * s, m * s, C]
    return phases.transpose(0, 1, 3, 2, 4, 5).reshape(b, out_len, out_len, cout)


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
        if impl == "winograd" and not _auto_winograd(kernel.shape[0], stride, *kernel.shape[2:]):
            impl = "gemm"
    if impl == "direct":
        return conv_transpose_direct(x, kernel, stride, padding)
    if impl == "subpixel":
        return conv_transpose_subpixel(x, kernel, stride, padding)
    if impl == "gemm":
        return conv_transpose_gemm(x, kernel, stride, padding)
    if impl == "winograd":
        return conv_transpose_winograd(x, kernel, stride, padding)
    raise ValueError(f"Unknown conv_transpose impl '{impl}'; use direct, subpixel, gemm, winograd or auto")


# --- Batch norm + activation --------------------------------------------------------------------
#
# Training-mode batch norm followed by its activation, with the backward pass written out. The
# forward pass is one reduction (mean, mean of squares) and one elementwise pass that writes only
# the activation; the backward pass recomputes the normalized values from the layer input, so no
# centered or pre-activation copy is kept between the passes. Autodiff through flax's BatchNorm
# and a separate activation kept both (one more full-size write and read per layer on the forward
# pass and another on the backward pass).

Activation = Literal["none", "relu", "leaky_relu"]


def _activate(u: Array, activation: str, slope: float) -> Array:
    if activation == "relu":
        return jnp.maximum(u, 0)
    if activation == "leaky_relu":
        return jnp.where(u >= 0, u, slope * u)  # As flax's nn.leaky_relu.
    return u


def _activation_grad(u: Array, g: Array, activation: str, slope: float) -> Array:
    if activation == "relu":
        return jnp.where(u > 0, g, 0)  # As jax.nn.relu's gradient (0 at 0).
    if activation == "leaky_relu":
        return jnp.where(u >= 0, g, slope * g)
    return g


def _moments(x: Array) -> tuple[Array, Array]:
    """Per-channel mean and biased variance over all but the last axis (E[x^2] - E[x]^2, as
    flax's BatchNorm with its default fast variance)."""
    axes = tuple(range(x.ndim - 1))
    mean = jnp.mean(x, axes, dtype=jnp.float32)
    mean2 = jnp.mean(jnp.square(x.astype(jnp.float32)), axes)
    return mean, jnp.maximum(0.0, mean2 - mean * mean)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5))
def batch_norm_act(x: Array, scale: Array, bias: Array, epsilon: float, activation: str, slope: float):
    """act((x - mean) / sqrt(var + epsilon) * scale + bias) with the batch's per-channel mean and
    biased variance (over all but the last axis). Returns (output, mean, var); gradients flow
    through all three. Same values and gradients as flax's BatchNorm(use_running_average=False)
    followed by the activation."""
    return _batch_norm_act_fwd(x, scale, bias, epsilon, activation, slope)[0]


def _batch_norm_act_fwd(x, scale, bias, epsilon, activation, slope):
    mean, var = _moments(x)
    inv = lax.rsqrt(var + epsilon)
    a = scale * inv
    out = _activate(x * a + (bias - mean * a), activation, slope).astype(x.dtype)
    return (out, mean, var), (x, scale, bias, mean, inv)


def _batch_norm_act_bwd(epsilon, activation, slope, residuals, cotangents):
    x, scale, bias, mean, inv = residuals
    g_out, g_mean, g_var = cotangents
    axes = tuple(range(x.ndim - 1))
    n = x.size // x.shape[-1]
    a = scale * inv
    xhat = (x - mean) * inv
    g = _activation_grad(xhat * scale + bias, g_out, activation, slope)
    sum_g = jnp.sum(g, axes, dtype=jnp.float32)
    sum_gx = jnp.sum(g * xhat, axes, dtype=jnp.float32)
    dx = a * (g - sum_g / n - xhat * (sum_gx / n)) + (g_mean + 2.0 * g_var * (x - mean)) / n
    return dx.astype(x.dtype), sum_gx.astype(scale.dtype), sum_g.astype(bias.dtype)


batch_norm_act.defvjp(_batch_norm_act_fwd, _batch_norm_act_bwd)


class BatchNorm(nn.Module):
    """flax's `nn.BatchNorm` over the last axis (same variables, names and running-average update)
    with an optional activation applied in the same pass (`batch_norm_act`)."""

    use_running_average: bool = False
    momentum: float = 0.99
    epsilon: float = 1e-5
    activation: Activation = "none"
    leaky_slope: float = 0.2
    scale_init: nn.initializers.Initializer = nn.initializers.ones
    bias_init: nn.initializers.Initializer = nn.initializers.zeros

    @nn.compact
    def __call__(self, x: Array) -> Array:
        if self.activation not in ("none", "relu", "leaky_relu"):
            raise ValueError(f"BatchNorm activation must be 'none', 'relu' or 'leaky_relu', not {self.activation!r}")
        c = x.shape[-1]
        ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((c,), jnp.float32))
        ra_var = self.variable("batch_stats", "var", lambda: jnp.ones((c,), jnp.float32))
        scale = self.param("scale", self.scale_init, (c,), jnp.float32)
        bias = self.param("bias", self.bias_init, (c,), jnp.float32)
        if self.use_running_average:
            a = scale * lax.rsqrt(ra_var.value + self.epsilon)
            return _activate(x * a + (bias - ra_mean.value * a), self.activation, self.leaky_slope).astype(x.dtype)
        out, mean, var = batch_norm_act(x, scale, bias, self.epsilon, self.activation, self.leaky_slope)
        if not self.is_initializing():
            ra_mean.value = self.momentum * ra_mean.value + (1.0 - self.momentum) * lax.stop_gradient(mean)
            ra_var.value = self.momentum * ra_var.value + (1.0 - self.momentum) * lax.stop_gradient(var)
        return out
