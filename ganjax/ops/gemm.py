"""Convolutions as im2col matrix products, with hand-written gradients (the CPU fast path).

Holds the im2col geometry and copy (`gemm_geometry`, `im2col`), `conv_gemm` (a convolution whose
kernel size is a multiple of its stride, as one matrix product, with a custom VJP), and its adjoint
`conv_adjoint_gemm` (the transposed convolution, with a custom VJP that runs `conv_gemm`'s forward
pass). The geometry helpers (`gemm_geometry`, `pad_config`, `regroup_kernel`,
`conv_transpose_geometry`) are shared with `ganjax.ops.winograd`, which works on the same
space-to-depth grid; `im2col` also gives `ganjax.ops.conv.conv_valid` its kernel gradient. The
PyTorch-style wrapper with its fallback is `ganjax.ops.transposed_conv.conv_transpose_gemm`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

Array = jax.Array

# --- Convolutions as matrix products (the CPU fast path) ---------------------------------------
#
# A stride-s convolution whose kernel size k is a multiple of s has windows made of k/s contiguous
# runs of s pixels per row, so its im2col matrix is one cheap copy (`im2col`), and the
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
    """ "gather" or "scatter" for `_gemm_adjoint` (see GATHER_BELOW_CHANNELS); elems are the sizes
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


def regroup_kernel(kernel: Array, s: int) -> Array:
    """[k, k, Cin, Cout] -> [k/s, k/s, s*s*Cin, Cout], matching depth_to_space's (p, q, c) order."""
    k, _, cin, cout = kernel.shape
    kb = k // s
    return (
        kernel.reshape(kb, s, kb, s, cin, cout)
        .transpose(0, 2, 1, 3, 4, 5)
        .reshape(kb, kb, s * s * cin, cout)
    )


def gemm_geometry(in_hw: tuple[int, int], k: int, s: int, pads) -> tuple[tuple, tuple[int, int]]:
    """Exact (low, high) padding per axis (high may be negative: rows no window reaches are
    cropped) so that the padded size is (out - 1) * s + k, a multiple of s; and (Ho, Wo)."""
    exact, out = [], []
    for n, (lo, hi) in zip(in_hw, pads):
        o = (n + lo + hi - k) // s + 1
        if o < 1:
            raise ValueError(
                f"convolution input {n} with padding ({lo}, {hi}) is smaller than kernel {k}"
            )
        exact.append((lo, (o - 1) * s + k - n - lo))
        out.append(o)
    return tuple(exact), tuple(out)


def pad_config(pads):
    (lo, hi), (lo_w, hi_w) = pads
    return ((0, 0, 0), (lo, hi, 0), (lo_w, hi_w, 0), (0, 0, 0))


def im2col(xp: Array, k: int, s: int, ho: int, wo: int) -> Array:
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
        return _stack_taps(
            [[rows(a)[:, :, j : j + s * (wo - 1) + 1 : s] for j in range(k)] for a in range(k)]
        )
    x2 = xp.reshape(b, hp, wp // s, s * c)
    return _stack_taps(
        [[x2[:, a : a + s * (ho - 1) + 1 : s, j : j + wo] for j in range(k // s)] for a in range(k)]
    )


def _gemm_forward(x: Array, kernel: Array, s: int, pads) -> tuple[Array, Array]:
    """y = conv(x): returns y [B, Ho, Wo, Cout] and the im2col matrix (kept for the kernel gradient;
    it may have rows for one more output row, see below)."""
    k, _, cin, cout = kernel.shape
    pads, (ho, wo) = gemm_geometry(x.shape[1:3], k, s, pads)
    # A stride-1 "SAME" convolution's centre window is the input itself. XLA:CPU then reads that
    # window straight from the input's producer, and fuses that producer (batch norm, dropout's
    # random bits) into the im2col copy: 4-10x slower copies, measured on ssl_svhn's layers. One
    # extra output row, computed and dropped, makes every window touch the padding.
    extra = int(s == 1 and k > 1 and (ho, wo) == tuple(x.shape[1:3]))
    (lo, hi), w_pads = pads
    xp = lax.pad(x, jnp.zeros((), x.dtype), pad_config(((lo, hi + extra), w_pads)))
    patches = im2col(xp, k, s, ho + extra, wo)
    y = jnp.dot(patches, kernel.reshape(k * k * cin, cout), preferred_element_type=jnp.float32)
    y = y.astype(x.dtype).reshape(x.shape[0], ho + extra, wo, cout)
    return (y[:, :ho] if extra else y), patches


def _gemm_adjoint(g: Array, kernel: Array, s: int, pads, in_hw: tuple[int, int]) -> Array:
    """The transpose of `_gemm_forward` in x: [B, Ho, Wo, Cout] -> [B, H, W, Cin]."""
    k, _, cin, cout = kernel.shape
    kb = k // s
    pads, (ho, wo) = gemm_geometry(in_hw, k, s, pads)
    b = g.shape[0]
    hs, ws = ho + kb - 1, wo + kb - 1
    regrouped = regroup_kernel(kernel, s)  # [kb, kb, s*s*cin, cout]
    if (
        _adjoint_form(
            kb,
            cout,
            gather_elems=hs * ws * kb * kb * cout,
            scatter_elems=ho * wo * kb * kb * s * s * cin,
        )
        == "gather"
    ):
        # Gather: full correlation of g with the flipped kernel, on the space-to-depth grid.
        gp = jnp.pad(g, ((0, 0), (kb - 1, kb - 1), (kb - 1, kb - 1), (0, 0)))
        flipped = regrouped[::-1, ::-1].transpose(0, 1, 3, 2).reshape(kb * kb * cout, s * s * cin)
        xs = jnp.dot(im2col(gp, kb, 1, hs, ws), flipped, preferred_element_type=jnp.float32)
        xs = xs.astype(g.dtype).reshape(b, hs, ws, s * s * cin)
    else:
        # Scatter: every output pixel's contribution to its kb x kb input block, then summed.
        # Contracting the kernel matrix's Cout axis in place: no transposed copy of the kernel.
        z = (
            lax.dot_general(
                g.reshape(-1, cout),
                regrouped.reshape(kb * kb * s * s * cin, cout),
                (((1,), (1,)), ((), ())),
                preferred_element_type=jnp.float32,
            )
            .astype(g.dtype)
            .reshape(b, ho, wo, kb, kb, s * s * cin)
        )
        xs = sum(
            jnp.pad(z[:, :, :, a, c], ((0, 0), (a, kb - 1 - a), (c, kb - 1 - c), (0, 0)))
            for a in range(kb)
            for c in range(kb)
        )
    (lo, hi), (lo_w, hi_w) = pads
    return lax.pad(
        depth_to_space(xs, s), jnp.zeros((), g.dtype), pad_config(((-lo, -hi), (-lo_w, -hi_w)))
    )


def _gemm_kernel_grad(patches: Array, g: Array, kernel_shape) -> Array:
    """dL/dkernel = patches^T @ g (patches from `_gemm_forward`, in the kernel's own order; g gets
    zero rows for any extra output row the patches have)."""
    b, ho, wo, cout = g.shape
    extra = patches.shape[0] // (b * wo) - ho
    if extra:
        g = jnp.pad(g, ((0, 0), (0, extra), (0, 0), (0, 0)))
    return jnp.dot(patches.T, g.reshape(-1, cout), preferred_element_type=jnp.float32).reshape(
        kernel_shape
    )


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
def conv_adjoint_gemm(y: Array, kernel: Array, stride: int, pads, out_hw) -> Array:
    """The adjoint (transpose) of `conv_gemm(., kernel, stride, pads)` on inputs of size out_hw."""
    return _gemm_adjoint(y, kernel, stride, pads, out_hw)


def _conv_adjoint_gemm_fwd(y, kernel, stride, pads, out_hw):
    return _gemm_adjoint(y, kernel, stride, pads, out_hw), (y, kernel)


def _conv_adjoint_gemm_bwd(stride, pads, out_hw, residuals, g):
    y, kernel = residuals
    dy, patches = _gemm_forward(g, kernel, stride, pads)
    return dy, _gemm_kernel_grad(patches, y, kernel.shape).astype(kernel.dtype)


conv_adjoint_gemm.defvjp(_conv_adjoint_gemm_fwd, _conv_adjoint_gemm_bwd)


def conv_transpose_geometry(x, kernel, stride, padding):
    """(k, the matching convolution's ((lo, hi), (lo, hi)) padding, PyTorch ConvTranspose2d's
    output size) for a transposed convolution of x by kernel."""
    k = kernel.shape[0]
    return (
        k,
        ((padding, padding),) * 2,
        tuple((n - 1) * stride - 2 * padding + k for n in x.shape[1:3]),
    )
