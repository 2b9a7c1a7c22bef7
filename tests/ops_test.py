"""The kernels of `ganjax.ops` against references: the transposed convolutions against PyTorch's
arithmetic and each other, the convolutions (im2col products, Winograd) against lax's, with
gradients, the few-output-channel shift-add convolution, the impl dispatch, and the fused batch
norm's statistics gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganjax import ops
from ganjax.ops import conv, gemm


def _torch_conv_transpose_reference(x, w, stride, padding):
    """Scatter form of PyTorch's ConvTranspose2d, in numpy. x [B,H,W,Ci], w [K,K,Ci,Co]."""
    b, h, wd, _ = x.shape
    k = w.shape[0]
    full = np.zeros((b, (h - 1) * stride + k, (wd - 1) * stride + k, w.shape[3]))
    for i in range(h):
        for j in range(wd):
            full[:, i * stride : i * stride + k, j * stride : j * stride + k] += np.einsum(
                "bc,klcd->bkld", x[:, i, j], w
            )
    out_h = (h - 1) * stride - 2 * padding + k
    return full[:, padding : padding + out_h, padding : padding + out_h]


@pytest.mark.parametrize(
    "stride,padding,k,h", [(2, 1, 4, 5), (2, 0, 3, 4), (1, 0, 4, 1), (3, 1, 5, 3)]
)
def test_conv_transpose_direct_matches_pytorch_arithmetic(stride, padding, k, h):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, h, h, 3)).astype(np.float32)
    w = rng.normal(size=(k, k, 3, 4)).astype(np.float32)
    got = ops.conv_transpose_direct(jnp.asarray(x), jnp.asarray(w), stride, padding)
    np.testing.assert_allclose(
        got, _torch_conv_transpose_reference(x, w, stride, padding), rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize(
    "stride,padding,k,h,cin,cout",
    [
        (2, 1, 4, 4, 8, 5),
        (2, 1, 4, 7, 3, 1),
        (2, 0, 4, 3, 2, 3),
        (3, 1, 5, 3, 2, 2),
        (3, 0, 3, 4, 2, 2),
        (2, 0, 3, 4, 2, 2),  # Output 9: not a multiple of the stride (CycleGAN's layer).
        (2, 1, 3, 5, 3, 4),  # Output 9 again, with padding.
        (3, 1, 4, 3, 2, 2),  # Output 8 with stride 3.
        (1, 1, 3, 5, 4, 6),
        (2, 2, 4, 5, 3, 2),
    ],
)
@pytest.mark.parametrize("impl", ["subpixel", "gemm", "winograd"])
def test_fast_conv_transpose_equals_direct_with_gradients(impl, stride, padding, k, h, cin, cout):
    rng = np.random.default_rng(stride * 100 + k)
    x = jnp.asarray(rng.normal(size=(3, h, h, cin)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(k, k, cin, cout)), jnp.float32)
    # Jitted, as the models run them (eager mode compiles every op of these kernels per shape).
    direct = jax.jit(ops.conv_transpose_direct, static_argnums=(2, 3))(x, w, stride, padding)
    fast_fn = {
        "subpixel": ops.conv_transpose_subpixel,
        "gemm": ops.conv_transpose_gemm,
        "winograd": ops.conv_transpose_winograd,
    }[impl]
    fast = jax.jit(fast_fn, static_argnums=(2, 3))(x, w, stride, padding)
    np.testing.assert_allclose(fast, direct, rtol=1e-5, atol=1e-5)
    probe = jnp.asarray(rng.normal(size=direct.shape), jnp.float32)

    def grads(fn):
        return jax.jit(
            jax.grad(
                lambda x, w: jnp.sum(probe * jnp.tanh(fn(x, w, stride, padding))), argnums=(0, 1)
            )
        )(x, w)

    for g_fast, g_direct in zip(grads(fast_fn), grads(ops.conv_transpose_direct)):
        np.testing.assert_allclose(g_fast, g_direct, rtol=1e-4, atol=1e-4)


_LAX_DN = ("NHWC", "HWIO", "NHWC")


@pytest.mark.parametrize(
    "h,k,stride,padding",
    [
        (8, 4, 2, 1),
        (7, 4, 2, 1),
        (6, 3, 1, 1),
        (9, 3, 3, 0),
        (12, 4, 2, 0),
        (9, 4, 2, 0),
        (32, 4, 2, 1),
        (8, 3, 2, 1),
        (5, 1, 1, 0),
    ],
)
def test_fast_conv_equals_lax_conv_with_gradients(h, k, stride, padding):
    """conv_padded (the matrix-product path, or padding + conv_valid when k % stride != 0) ==
    lax's convolution, with gradients, including rows that no window reaches (9, 4, 2, 0)."""
    rng = np.random.default_rng(h * 10 + k)
    x = jnp.asarray(rng.normal(size=(2, h, h, 3)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(k, k, 3, 5)), jnp.float32)
    _assert_conv_matches_lax(
        lambda x, w: ops.conv_padded(x, w, stride, padding),
        x,
        w,
        stride,
        ((padding, padding),) * 2,
        rng,
    )


def _assert_conv_matches_lax(fast, x, kern, stride, pads, rng):
    """fast(x, kern) == lax's convolution in values (1e-5) and both gradients (1e-4), the latter
    through a random probe and a tanh so that every output element matters differently."""
    from jax import lax

    # Jitted, as the models run them: one program per check instead of one per op (eager mode
    # compiles every op of these many-op kernels for each new shape).
    ref = jax.jit(
        lambda x, kern: lax.conv_general_dilated(
            x, kern, (stride, stride), pads, dimension_numbers=_LAX_DN
        )
    )
    np.testing.assert_allclose(jax.jit(fast)(x, kern), ref(x, kern), rtol=1e-5, atol=1e-5)
    probe = jnp.asarray(rng.normal(size=ref(x, kern).shape), jnp.float32)
    grads = lambda f: jax.jit(
        jax.grad(lambda x, kern: jnp.sum(probe * jnp.tanh(f(x, kern))), argnums=(0, 1))
    )(x, kern)
    for a, b in zip(grads(fast), grads(ref)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "h,k,stride,padding,cin,cout",
    [
        (14, 7, 1, 0, 8, 3),  # CycleGAN's output layer (after reflection padding).
        (9, 4, 1, 1, 16, 1),  # PatchGAN's score layer.
        (11, 3, 2, 1, 6, 2),  # Strided: the interior-padded gradient path.
        (8, 4, 3, 2, 5, 3),
        (5, 2, 1, 0, 2, 4),  # More outputs than inputs (forced; auto would not take it).
    ],
)
def test_shift_add_conv_matches_lax_with_gradients(h, k, stride, padding, cin, cout):
    """conv_shift_add (one product, then the k x k shifted slices summed) == lax's convolution,
    with both gradients (its custom VJP: the im2col of the padded gradient at stride 1, one
    interior-padded copy per tap otherwise)."""
    rng = np.random.default_rng(h * 100 + k * 10 + stride)
    x = jnp.asarray(rng.normal(size=(2, h, h, cin)), jnp.float32)
    # Unit-variance outputs (He-style scale), so the 1e-5 tolerance is float32 rounding.
    w = jnp.asarray(rng.normal(size=(k, k, cin, cout)) / np.sqrt(k * k * cin), jnp.float32)
    pads = ((padding, padding),) * 2
    _assert_conv_matches_lax(
        lambda x, w: ops.conv_shift_add(x, w, stride, pads), x, w, stride, pads, rng
    )
    np.testing.assert_allclose(
        ops.conv_padded(x, w, stride, padding, impl="shift_add"),
        ops.conv_shift_add(x, w, stride, pads),
    )


def test_shift_add_rejects_a_window_larger_than_the_input():
    x = jnp.zeros((1, 3, 3, 4))
    with pytest.raises(ValueError, match="does not fit"):
        ops.conv_shift_add(x, jnp.zeros((5, 5, 4, 1)), 1, ((0, 0), (0, 0)))


@pytest.mark.parametrize("h,k,stride", [(32, 3, 2), (16, 3, 1), (7, 3, 2), (8, 4, 2)])
def test_same_padding_matches_lax(h, k, stride):
    from jax import lax

    rng = np.random.default_rng(h + k)
    x = jnp.asarray(rng.normal(size=(2, h, h, 3)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(k, k, 3, 4)), jnp.float32)
    ref = lax.conv_general_dilated(
        x, w, (stride, stride), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    np.testing.assert_allclose(ops.conv_padded(x, w, stride, "SAME"), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("form", ["gather", "scatter"])
@pytest.mark.parametrize("h,k,stride,padding", [(8, 4, 2, 1), (9, 4, 2, 0), (6, 3, 1, 1)])
def test_gemm_gather_and_scatter_gradients_match_lax(monkeypatch, form, h, k, stride, padding):
    """Both forms of the input gradient / transposed convolution give lax's numbers."""
    from jax import lax

    chosen = []
    monkeypatch.setattr(gemm, "_adjoint_form", lambda *a, **kw: chosen.append(form) or form)
    rng = np.random.default_rng(h * 7 + k)
    x = jnp.asarray(rng.normal(size=(2, h, h, 3)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(k, k, 3, 4)), jnp.float32)
    pads = ((padding, padding), (padding, padding))
    ref = lambda x, w: lax.conv_general_dilated(
        x, w, (stride, stride), pads, dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    fast = lambda x, w: ops.conv_gemm(x, w, stride, pads)
    probe = jnp.asarray(rng.normal(size=ref(x, w).shape), jnp.float32)
    grads = lambda f: jax.grad(lambda x, w: jnp.sum(probe * jnp.tanh(f(x, w))), argnums=(0, 1))(
        x, w
    )
    for a, b in zip(grads(fast), grads(ref)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    assert chosen  # The input gradient went through the patched choice.
    if padding <= k - 1 and k % stride == 0:  # The transposed convolution of the same geometry.
        y = jnp.asarray(rng.normal(size=(2, 4, 4, 4)), jnp.float32)
        wt = jnp.asarray(rng.normal(size=(k, k, 4, 3)), jnp.float32)
        np.testing.assert_allclose(
            ops.conv_transpose_gemm(y, wt, stride, padding),
            ops.conv_transpose_direct(y, wt, stride, padding),
            rtol=1e-5,
            atol=1e-5,
        )


def test_adjoint_form_choice():
    """Gather for few small-side channels; scatter for wide layers and tiny-output last layers."""
    # DCGAN-64 discriminator 32x32x64 -> 16x16x128 input gradient: gather.
    assert (
        gemm._adjoint_form(2, 128, gather_elems=17 * 17 * 4 * 128, scatter_elems=16 * 16 * 16 * 64)
        == "gather"
    )
    # DCGAN-64 generator 4x4x512 -> 8x8x256: scatter (512 channels).
    assert (
        gemm._adjoint_form(2, 512, gather_elems=5 * 5 * 4 * 512, scatter_elems=4 * 4 * 16 * 256)
        == "scatter"
    )
    # Last generator layer 32x32x64 -> 64x64x3: scatter (the gather's patches would be 6x larger).
    assert (
        gemm._adjoint_form(2, 64, gather_elems=33 * 33 * 4 * 64, scatter_elems=32 * 32 * 16 * 3)
        == "scatter"
    )


@pytest.mark.parametrize(
    "h,w,k,stride,padding,cin,cout",
    [
        (8, 8, 4, 2, 1, 16, 20),
        (7, 7, 4, 2, 1, 3, 5),
        (10, 9, 4, 2, 2, 4, 3),
        (9, 9, 2, 1, 0, 2, 3),
        (6, 6, 2, 1, 1, 3, 4),
        (16, 16, 6, 3, 1, 5, 4),
        (4, 4, 4, 2, 1, 8, 8),
        (12, 12, 4, 2, 0, 3, 2),
        (9, 9, 4, 2, 0, 2, 2),
        (8, 8, 3, 1, 1, 16, 16),
        (7, 9, 3, 1, 0, 3, 4),
        (5, 5, 3, 1, 1, 2, 3),
        (12, 11, 6, 2, 2, 3, 2),
        (3, 3, 3, 1, 0, 2, 2),
    ],
)
def test_winograd_conv_equals_lax_with_gradients(h, w, k, stride, padding, cin, cout):
    """conv_winograd == lax's convolution (values and both gradients) for kernel = 2 or 3 x stride:
    even and odd output sizes (the extra tile row/column), non-square inputs, strides 1-3, and rows
    no window reaches."""
    rng = np.random.default_rng(h * 31 + w * 7 + k + padding)
    x = jnp.asarray(rng.normal(size=(2, h, w, cin)), jnp.float32)
    kern = jnp.asarray(rng.normal(size=(k, k, cin, cout)), jnp.float32)
    pads = ((padding, padding), (padding, padding))
    _assert_conv_matches_lax(
        lambda x, kern: ops.conv_winograd(x, kern, stride, pads), x, kern, stride, pads, rng
    )


def test_winograd_second_order_gradients():
    """The transposed convolution's backward pass runs the Winograd convolution and vice versa, so
    a gradient of a gradient (e.g. a gradient penalty) goes through both directions."""
    rng = np.random.default_rng(5)
    x = jnp.asarray(rng.normal(size=(2, 5, 5, 16)), jnp.float32)
    kern = jnp.asarray(rng.normal(size=(4, 4, 16, 16)), jnp.float32)

    def penalty(fn):
        def loss(x, kern):
            gx = jax.grad(lambda x: jnp.sum(jnp.sin(fn(x, kern, 2, 1))))(x)
            return jnp.sum(gx**2)

        return jax.jit(jax.grad(loss, argnums=(0, 1)))(x, kern)

    for a, b in zip(penalty(ops.conv_transpose_winograd), penalty(ops.conv_transpose_direct)):
        # Values reach ~1e3 with cancellations, so the tolerance is relative to the largest.
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * float(jnp.max(jnp.abs(b))))


def test_auto_takes_shift_add_for_few_output_channels_at_stride_1(monkeypatch):
    """On CPU, auto takes conv_shift_add for stride-1 layers with <= SHIFT_ADD_MAX_CHANNELS
    outputs and more inputs (an RGB output layer, a score layer), and not otherwise."""
    calls = []
    original = conv.conv_shift_add
    monkeypatch.setattr(conv, "conv_shift_add", lambda *a: calls.append(a[1].shape) or original(*a))
    x = jnp.ones((1, 12, 12, 16))
    for shape, stride in [
        ((7, 7, 16, 3), 1),  # taken
        ((4, 4, 16, 1), 1),  # taken
        ((4, 4, 16, 3), 2),  # strided: no
        ((3, 3, 16, 16), 1),  # wide: Winograd
        ((1, 1, 16, 3), 1),  # 1x1: a plain product already
    ]:
        ops.conv_padded(x, jnp.ones(shape), stride, 1)
    ops.conv_padded(x[..., :2], jnp.ones((3, 3, 2, 3)), 1, 1)  # more outputs than inputs: no
    expected = [(7, 7, 16, 3), (4, 4, 16, 1)] if jax.default_backend() == "cpu" else []
    assert calls == expected
    assert conv.SHIFT_ADD_MAX_CHANNELS == 8


def test_conv_impl_dispatch(monkeypatch):
    """auto takes Winograd on CPU for 4x4 stride-2 layers with >= 16 channels in and out, im2col
    products otherwise; every impl gives the same numbers; an unknown impl is rejected."""
    from jax import lax

    calls = []
    original = conv.conv_winograd
    monkeypatch.setattr(conv, "conv_winograd", lambda *a: calls.append(a[1].shape) or original(*a))
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(2, 8, 8, 16)), jnp.float32)
    wide = jnp.asarray(rng.normal(size=(4, 4, 16, 16)), jnp.float32)
    narrow = jnp.asarray(rng.normal(size=(4, 4, 16, 3)), jnp.float32)
    outs = [
        ops.conv_padded(x, wide, 2, 1, impl=impl) for impl in ("auto", "gemm", "winograd", "lax")
    ]
    ops.conv_padded(x, narrow, 2, 1)
    ops.conv_padded(x, wide[:3, :3], 1, "SAME")  # 3x3 stride 1: F(2x2, 3x3).
    ops.conv_padded(x, wide[:3, :3], 2, 1)  # 3x3 stride 2: not a multiple, conv_valid.
    expected = (
        [(4, 4, 16, 16)] * 2 + [(3, 3, 16, 16)]
        if jax.default_backend() == "cpu"
        else [(4, 4, 16, 16)]
    )
    assert (
        calls == expected
    )  # auto (CPU) and winograd; not gemm, lax, the 3-channel layer or k % s != 0.
    ref = lax.conv_general_dilated(x, wide, (2, 2), [(1, 1), (1, 1)], dimension_numbers=_LAX_DN)
    for out in outs:
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="Unknown conv impl"):
        ops.conv_padded(x, wide, 2, 1, impl="fft")
    with pytest.raises(ValueError, match="kernel size 2 or 3 x stride"):
        ops.conv_winograd(x, jnp.zeros((3, 3, 16, 16)), 2, ((1, 1), (1, 1)))


def test_batch_norm_act_statistics_gradients():
    """The (mean, var) outputs of batch_norm_act carry their gradients too (they are the batch's
    statistics, used e.g. by a loss on them)."""
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(16, 8)) * 2 + 1, jnp.float32)
    s, b = jnp.ones(8) * 1.3, jnp.ones(8) * 0.1

    def reference(x):
        mean = x.mean(0)
        var = jnp.maximum(0.0, (x * x).mean(0) - mean * mean)
        y = jax.nn.relu((x - mean) * jax.lax.rsqrt(var + 1e-5) * s + b)
        return jnp.sum(y**2) + jnp.sum(mean * 2.0) + jnp.sum(var * 3.0)

    def fused(x):
        y, mean, var = ops.batch_norm_act(x, s, b, 1e-5, "relu", 0.0)
        return jnp.sum(y**2) + jnp.sum(mean * 2.0) + jnp.sum(var * 3.0)

    np.testing.assert_allclose(jax.grad(fused)(x), jax.grad(reference)(x), rtol=1e-4, atol=1e-5)
