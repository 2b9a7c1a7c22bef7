"""Winograd F(2x2, rxr) convolutions and transposed convolutions on the space-to-depth grid.

Holds the Winograd transforms (input, output, kernel, and their transposes), `conv_winograd` (a
convolution whose kernel is 2 or 3 times its stride, with a custom VJP), and
`conv_adjoint_winograd` (the transposed convolution, the same pieces run backwards). The
im2col geometry comes from `ganjax.ops.gemm`; where "auto" picks Winograd is decided in
`ganjax.ops.conv` (`auto_winograd`).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from ganjax.ops.gemm import conv_transpose_geometry, gemm_geometry, pad_config, regroup_kernel

Array = jax.Array

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

# Per r: (input transform BT: V_i = sum_a BT[i][a] d_a, kernel transform G:
# U_i = sum_a G[i][a] w_a, output transform AT: y_j = sum_i AT[j][i] m_i), for correlation (the
# convolution of deep learning).
_WINOGRAD = {
    2: (((1, -1, 0), (0, 1, 0), (0, -1, 1)), ((1, 0), (1, 1), (0, 1)), ((1, 1, 0), (0, 1, 1))),
    3: (
        ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1)),
        ((1, 0, 0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0, 0, 1)),
        ((1, 1, 1, 0), (0, 1, -1, -1)),
    ),
}


def winograd_applies(k: int, stride: int) -> bool:
    """Whether `conv_winograd` / `conv_adjoint_winograd` handle this kernel size and stride."""
    return k % stride == 0 and k // stride in _WINOGRAD


def _lincomb(coefs, terms) -> Array:
    """sum_i coefs[i] * terms[i], with +-1 as adds and subtractions and zeros skipped."""
    out = None
    for c, t in zip(coefs, terms):
        if c:
            t = t if abs(c) == 1 else t * abs(c)
            out = (t if c > 0 else -t) if out is None else (out + t if c > 0 else out - t)
    return out


def _stack_tiles(terms: list[Array]) -> Array:
    """[n*n, ...] from n*n arrays, stacked in two levels (see `gemm._stack_taps` on
    XLA:CPU's concatenates)."""
    n = int(round(len(terms) ** 0.5))
    return jnp.stack([jnp.stack(terms[n * i : n * i + n]) for i in range(n)]).reshape(
        n * n, *terms[0].shape
    )


def _winograd_geometry(in_hw: tuple[int, int], k: int, s: int, pads):
    """(padding to exactly (2T + r - 1)s per axis, (Ho, Wo), (T, U) 2x2 output tiles)."""
    exact, out = gemm_geometry(in_hw, k, s, pads)
    tiles = tuple(-(-o // 2) for o in out)
    ext = tuple(
        (lo, (2 * t + k // s - 1) * s - n - lo) for (lo, _), n, t in zip(exact, in_hw, tiles)
    )
    return ext, out, tiles


def _winograd_input(xp: Array, r: int, s: int, t: int, u: int) -> Array:
    """Input transform: xp [B, (2t+r-1)s, (2u+r-1)s, C] -> V [(r+1)^2, B*t*u, s*s*C] (columns
    (p, q, c), as `regroup_kernel`). Reads the padded input through free reshapes: width pairs
    merged into channels (the space-to-depth column), and rows split into (tile, tile row, s), so
    each of a tile's (r+1) x (r+1) input blocks is a plain slice."""
    b, hp, wp, c = xp.shape
    bt = _WINOGRAD[r][0]
    x2 = xp.reshape(b, hp, wp // s, s * c)
    x2 = jnp.pad(x2, ((0, 0), (0, (2 * t + 2) * s - hp), (0, 2 * u + 2 - wp // s), (0, 0)))
    y = x2.reshape(b, t + 1, 2, s, u + 1, 2, s * c)
    d = lambda a, e: y[
        :, a // 2 : a // 2 + t, a % 2, :, e // 2 : e // 2 + u, e % 2
    ]  # [B, t, s, u, sC]
    rows = [
        [_lincomb(bt[i], [d(a, e) for a in range(r + 1)]) for e in range(r + 1)]
        for i in range(r + 1)
    ]
    v = [
        _lincomb(bt[j], rows[i]).transpose(0, 1, 3, 2, 4)
        for i in range(r + 1)
        for j in range(r + 1)
    ]
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
    placed = lambda a, e: jnp.pad(
        block(a, e), ((0, 0), (a // 2, 1 - a // 2), (e // 2, 1 - e // 2), (0, 0), (0, 0))
    )

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
    rows = [
        [
            _lincomb([at[q][j] for q in range(2)], [g[:, :, p, :, q] for q in range(2)])
            for j in range(n)
        ]
        for p in range(2)
    ]
    dm = [
        _lincomb([at[p][i] for p in range(2)], [rows[p][j] for p in range(2)])
        for i in range(n)
        for j in range(n)
    ]
    return _stack_tiles(dm).reshape(n * n, b * t * u, c)


def _winograd_kernel(w: Array) -> Array:
    """Kernel transform of r x r blocks: w [r, r, X, Y] -> [(r+1)^2, X, Y]."""
    r = w.shape[0]
    gk = _WINOGRAD[r][1]
    rows = [[_lincomb(gk[i], [w[a, e] for a in range(r)]) for e in range(r)] for i in range(r + 1)]
    return jnp.stack([_lincomb(gk[j], rows[i]) for i in range(r + 1) for j in range(r + 1)])


def _conv_kernel_u(kernel: Array, s: int) -> Array:
    """Convolution kernel [rs, rs, Cin, Cout] -> U [(r+1)^2, s*s*Cin, Cout]."""
    return _winograd_kernel(regroup_kernel(kernel, s))


def _conv_transpose_kernel_u(kernel: Array, s: int) -> Array:
    """Transposed-convolution kernel [rs, rs, Cin, Cout] (the adjoint of a convolution from Cout to
    Cin channels) -> U^T [(r+1)^2, Cin, s*s*Cout], without transposing the kernel's channel axes."""
    k, _, cin, cout = kernel.shape
    r = k // s
    w = (
        kernel.reshape(r, s, r, s, cin, cout)
        .transpose(0, 2, 4, 1, 3, 5)
        .reshape(r, r, cin, s * s * cout)
    )
    return _winograd_kernel(w)


def _kernel_grad(u_fn, du: Array, kernel_shape) -> Array:
    """dL/dkernel from dL/dU through the (linear) kernel transform u_fn."""
    return jax.linear_transpose(u_fn, jax.ShapeDtypeStruct(kernel_shape, du.dtype))(du)[0]


def _bmm(a: Array, b: Array, contract: tuple[int, int]) -> Array:
    """(r+1)^2 matrix products at once: [n, ., .] x [n, ., .] contracting axes `contract`."""
    return lax.dot_general(
        a, b, (((contract[0],), (contract[1],)), ((0,), (0,))), preferred_element_type=jnp.float32
    )


def _winograd_forward(
    x: Array, u: Array, s: int, pads, k: int, u_transposed: bool
) -> tuple[Array, Array]:
    """y = conv(x) from the transformed kernel (U [n, C', N], or U^T [n, N, C'] when u_transposed);
    also returns V, the transformed input (kept for the kernel gradient)."""
    b, r = x.shape[0], k // s
    ext, (ho, wo), (t, tu) = _winograd_geometry(x.shape[1:3], k, s, pads)
    v = _winograd_input(lax.pad(x, jnp.zeros((), x.dtype), pad_config(ext)), r, s, t, tu)
    m = _bmm(v, u, (2, 2) if u_transposed else (2, 1)).astype(x.dtype)
    return _winograd_output(m, r, b, t, tu)[:, :ho, :wo], v


def _winograd_adjoint(
    g: Array, u: Array, s: int, pads, k: int, cin: int, in_hw, u_transposed: bool
) -> tuple[Array, Array]:
    """The transpose of `_winograd_forward` in x: g [B, Ho, Wo, N] -> [B, H, W, Cin]; also returns
    dM, the transformed g (kept for the kernel gradient)."""
    r = k // s
    ext, (ho, wo), (t, tu) = _winograd_geometry(in_hw, k, s, pads)
    dm = _winograd_output_t(
        jnp.pad(g, ((0, 0), (0, 2 * t - ho), (0, 2 * tu - wo), (0, 0))), r, t, tu
    )
    dv = _bmm(dm, u, (2, 1) if u_transposed else (2, 2)).astype(g.dtype)
    (lo, hi), (lo_w, hi_w) = ext
    xp = _winograd_input_t(dv, r, s, t, tu, cin)
    return lax.pad(xp, jnp.zeros((), g.dtype), pad_config(((-lo, -hi), (-lo_w, -hi_w)))), dm


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv_winograd(x: Array, kernel: Array, stride: int, pads) -> Array:
    """Convolution with a kernel of r = 2 or 3 times the stride (NHWC, HWIO, explicit
    ((lo, hi), (lo, hi)) zero padding) by Winograd F(2x2, rxr) on the space-to-depth grid; see the
    section comment. Same values and gradients as `lax.conv_general_dilated(x, kernel,
    (stride,) * 2, pads)` to float32 rounding."""
    if not winograd_applies(kernel.shape[0], stride):
        raise ValueError(
            "conv_winograd needs kernel size 2 or 3 x stride, "
            f"got {kernel.shape[0]} and stride {stride}"
        )
    return _winograd_forward(
        x, _conv_kernel_u(kernel, stride), stride, pads, kernel.shape[0], False
    )[0]


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
def conv_adjoint_winograd(x: Array, kernel: Array, stride: int, padding: int) -> Array:
    """PyTorch's ConvTranspose2d(k, stride, padding) (kernel [k, k, Cin, Cout] in its own layout)
    as the adjoint of the matching convolution, by Winograd F(2x2, rxr); k must be 2 or 3 x stride
    and padding at most k - 1 (`ganjax.ops.transposed_conv.conv_transpose_winograd` checks and
    falls back). Its backward pass runs `_winograd_forward`, the convolution."""
    return _conv_adjoint_winograd_fwd(x, kernel, stride, padding)[0]


def _conv_adjoint_winograd_fwd(x, kernel, stride, padding):
    k, pads, out_hw = conv_transpose_geometry(x, kernel, stride, padding)
    ut = _conv_transpose_kernel_u(kernel, stride)
    y, dm = _winograd_adjoint(x, ut, stride, pads, k, kernel.shape[3], out_hw, True)
    return y, (dm, ut, kernel.shape)


def _conv_adjoint_winograd_bwd(stride, padding, residuals, g):
    dm, ut, kernel_shape = residuals
    dx, vg = _winograd_forward(g, ut, stride, ((padding, padding),) * 2, kernel_shape[0], True)
    dut = _bmm(dm, vg, (1, 1))  # [n, Cin, C']
    return dx, _kernel_grad(
        lambda w: _conv_transpose_kernel_u(w, stride), dut, kernel_shape
    ).astype(ut.dtype)


conv_adjoint_winograd.defvjp(_conv_adjoint_winograd_fwd, _conv_adjoint_winograd_bwd)
