"""DiffAugment against independent numpy versions of the reference's ops.

The numpy functions below are written from mit-han-lab/data-efficient-gans'
DiffAugment_pytorch.py (transposed to NHWC); they never call ganjax.objectives.augment.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import test_util

from ganjax.objectives import augment

# (B, H, W): square even (shift 2, cutout 8), odd x non-square (shift 1, cutouts 5 and 4).
SHAPES = [(4, 16, 16), (3, 9, 7)]


def _images(b: int, h: int, w: int, c: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (b, h, w, c)).astype(np.float32)


# ---------------------------------------------------------------- numpy references (NHWC)


def np_brightness(x, r):
    return x.astype(np.float64) + np.asarray(r, np.float64)[:, None, None, None]


def np_saturation(x, r):
    x = x.astype(np.float64)
    mean = x.mean(axis=3, keepdims=True)  # The reference's dim=1 (channels) in NCHW.
    return (x - mean) * np.asarray(r, np.float64)[:, None, None, None] + mean


def np_contrast(x, r):
    x = x.astype(np.float64)
    out = np.empty_like(x)
    for b in range(x.shape[0]):
        mean = x[b].mean()  # The reference's dim=[1, 2, 3]: C, H, W of one sample.
        out[b] = (x[b] - mean) * r[b] + mean
    return out


def np_translation(x, shift_h, shift_w):
    """The reference's gather: pad one zero pixel, clamp indices i + shift + 1 to [0, size + 1]."""
    b_, h, w, _ = x.shape
    x_pad = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.empty_like(x)
    for b in range(b_):
        for i in range(h):
            for j in range(w):
                gi = min(max(i + int(shift_h[b]) + 1, 0), h + 1)
                gj = min(max(j + int(shift_w[b]) + 1, 0), w + 1)
                out[b, i, j] = x_pad[b, gi, gj]
    return out


def np_cutout_mask(b_, h, w, offset_h, offset_w, ratio=0.5):
    """The reference's mask: ones, then zero the clamped grid of cutout_size around the offset."""
    size_h, size_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    mask = np.ones((b_, h, w), np.float32)
    for b in range(b_):
        for gi in range(size_h):
            for gj in range(size_w):
                i = min(max(gi + int(offset_h[b]) - size_h // 2, 0), h - 1)
                j = min(max(gj + int(offset_w[b]) - size_w // 2, 0), w - 1)
                mask[b, i, j] = 0
    return mask


def np_cutout(x, offset_h, offset_w):
    return x * np_cutout_mask(*x.shape[:3], offset_h, offset_w)[..., None]


def np_translation_vjp(w, shift_h, shift_w):
    """d sum(translation(x) * w) / dx: w[b, i, j] goes back to x[b, i + s_h, j + s_w]."""
    b_, h, wd, _ = w.shape
    g = np.zeros_like(w)
    for b in range(b_):
        for i in range(h):
            for j in range(wd):
                si, sj = i + int(shift_h[b]), j + int(shift_w[b])
                if 0 <= si < h and 0 <= sj < wd:
                    g[b, si, sj] += w[b, i, j]
    return g


# ---------------------------------------------------------------- parse_policy


def test_parse_policy():
    assert augment.parse_policy("color,translation,cutout") == ("color", "translation", "cutout")
    assert augment.parse_policy("translation, cutout") == ("translation", "cutout")
    assert augment.parse_policy("") == ()
    assert augment.parse_policy("  ") == ()
    assert augment.POLICIES == ("color", "translation", "cutout")


@pytest.mark.parametrize("policy", ["color,flip", "Color", "color,,cutout"])
def test_parse_policy_rejects_unknown_names(policy):
    with pytest.raises(ValueError, match=r"config\.data\.augment") as err:
        augment.parse_policy(policy)
    for name in augment.POLICIES:
        assert name in str(err.value)


def test_diff_augment_rejects_unknown_tuple_names():
    with pytest.raises(ValueError, match=r"config\.data\.augment"):
        augment.diff_augment(jnp.zeros((1, 4, 4, 1)), jax.random.PRNGKey(0), ("rotate",))


# ---------------------------------------------------------------- ops vs numpy


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("shape", SHAPES)
def test_color_ops_match_numpy(shape, c):
    b = shape[0]
    x = _images(*shape, c)
    rng = np.random.default_rng(1)
    r_b = rng.uniform(-0.5, 0.5, b).astype(np.float32)
    r_s = rng.uniform(0, 2, b).astype(np.float32)
    r_c = rng.uniform(0.5, 1.5, b).astype(np.float32)
    for fn, np_fn, r in [
        (augment.brightness, np_brightness, r_b),
        (augment.saturation, np_saturation, r_s),
        (augment.contrast, np_contrast, r_c),
    ]:
        out = fn(jnp.asarray(x), jnp.asarray(r))
        assert out.shape == x.shape and out.dtype == jnp.float32
        np.testing.assert_allclose(out, np_fn(x, r), atol=1e-5, err_msg=fn.__name__)
    if c == 1:  # One channel: saturation is the identity.
        np.testing.assert_allclose(augment.saturation(jnp.asarray(x), r_s), x, atol=1e-6)
    else:  # The ops do change the images.
        assert not np.allclose(augment.saturation(jnp.asarray(x), r_s), x, atol=1e-3)
    assert not np.allclose(augment.contrast(jnp.asarray(x), r_c), x, atol=1e-3)


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("shape", SHAPES)
def test_translation_matches_numpy_including_edge_shifts(shape, c):
    b, h, w = shape
    x = _images(*shape, c)
    mh, mw = augment.max_shift(h), augment.max_shift(w)
    assert (mh, mw) == (int(h * 0.125 + 0.5), int(w * 0.125 + 0.5))
    cases = [
        (np.array([mh, -mh, 0, mh][:b]), np.array([-mw, mw, mw, 0][:b])),  # Extremes.
        (np.array([mh, -mh, 1, -1][:b]), np.array([mw, -mw, -1, 1][:b])),
        (np.zeros(b, int), np.zeros(b, int)),  # Identity.
        (np.array([h, -h, 0, 3][:b]), np.array([0, 0, w, -w][:b])),  # Whole image shifted out.
    ]
    for shift_h, shift_w in cases:
        out = augment.translation(jnp.asarray(x), jnp.asarray(shift_h), jnp.asarray(shift_w))
        assert out.shape == x.shape and out.dtype == jnp.float32
        np.testing.assert_array_equal(out, np_translation(x, shift_h, shift_w))
    # Zero fill: shifting by +mh empties the last mh rows.
    out = augment.translation(jnp.asarray(x), jnp.full(b, mh), jnp.zeros(b, int))
    assert np.all(np.asarray(out)[:, h - mh :] == 0)
    np.testing.assert_array_equal(np.asarray(out)[:, : h - mh], x[:, mh:])


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("shape", SHAPES)
def test_cutout_matches_numpy_including_borders(shape, c):
    b, h, w = shape
    x = _images(*shape, c)
    sh, sw = augment.cutout_size(h), augment.cutout_size(w)
    assert (sh, sw) == (int(h * 0.5 + 0.5), int(w * 0.5 + 0.5))
    top_h, top_w = h - sh % 2, w - sw % 2  # The largest offsets the reference draws.
    cases = [
        (np.array([0, top_h, 0, top_h][:b]), np.array([0, top_w, top_w, 0][:b])),  # Corners.
        (np.array([sh // 2, 1, top_h - 1, h // 2][:b]), np.array([1, sw // 2, w // 2, 2][:b])),
    ]
    for offset_h, offset_w in cases:
        out = augment.cutout(jnp.asarray(x), jnp.asarray(offset_h), jnp.asarray(offset_w))
        assert out.shape == x.shape and out.dtype == jnp.float32
        np.testing.assert_array_equal(out, np_cutout(x, offset_h, offset_w))


def test_cutout_zeroes_exactly_size_squared_pixels_inside_and_fewer_at_borders():
    b, h, w, c = 4, 16, 16, 3
    s = augment.cutout_size(h)
    assert s == 8
    ones = jnp.ones((b, h, w, c))
    # Interior: the whole s x s square fits (offset - s // 2 >= 0 and offset + s - s // 2 <= h).
    offset_h, offset_w = jnp.array([4, 12, 8, 5]), jnp.array([4, 12, 6, 11])
    zeros = np.sum(np.asarray(augment.cutout(ones, offset_h, offset_w)) == 0, axis=(1, 2))
    np.testing.assert_array_equal(zeros, np.full((b, c), s * s))
    # At the borders the square is clipped: offset 0 keeps s // 2 rows, offset 16 keeps s // 2.
    offset_h, offset_w = jnp.array([0, 16, 0, 8]), jnp.array([8, 8, 0, 16])
    zeros = np.sum(np.asarray(augment.cutout(ones, offset_h, offset_w)) == 0, axis=(1, 2, 3)) // c
    np.testing.assert_array_equal(zeros, [4 * 8, 4 * 8, 4 * 4, 8 * 4])


# ---------------------------------------------------------------- sampling


def test_sampled_parameters_stay_in_the_reference_ranges():
    key = jax.random.PRNGKey(0)
    n = 4000
    for h, w in [(16, 16), (32, 28), (9, 7)]:
        mh, mw = int(h * 0.125 + 0.5), int(w * 0.125 + 0.5)
        shift_h, shift_w = map(np.asarray, augment.sample_translation(key, n, h, w))
        assert set(np.unique(shift_h)) == set(range(-mh, mh + 1))  # In range, every value hit.
        assert set(np.unique(shift_w)) == set(range(-mw, mw + 1))
        sh, sw = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)
        offset_h, offset_w = map(np.asarray, augment.sample_cutout(key, n, h, w))
        assert set(np.unique(offset_h)) == set(range(h + (1 - sh % 2)))
        assert set(np.unique(offset_w)) == set(range(w + (1 - sw % 2)))
    r_b, r_s, r_c = map(np.asarray, augment.sample_color(key, n))
    for r, lo, hi in [(r_b, -0.5, 0.5), (r_s, 0.0, 2.0), (r_c, 0.5, 1.5)]:
        assert r.shape == (n,) and r.min() >= lo and r.max() < hi
        assert r.min() < lo + 0.01 and r.max() > hi - 0.01  # Spans the range.
        assert abs(r.mean() - (lo + hi) / 2) < 0.03 * (hi - lo)
    assert len(np.unique(r_b)) > n // 2  # Per-sample, not one value for the batch.


# ---------------------------------------------------------------- diff_augment


def _np_diff_augment(x, key, ops):
    """Composes the numpy ops with the parameters diff_augment draws (documented key split)."""
    b, h, w, _ = x.shape
    out = x.astype(np.float64)
    for name, k in zip(ops, jax.random.split(key, len(ops))):
        if name == "color":
            r_b, r_s, r_c = map(np.asarray, augment.sample_color(k, b))
            out = np_contrast(np_saturation(np_brightness(out, r_b), r_s), r_c)
        elif name == "translation":
            out = np_translation(out, *map(np.asarray, augment.sample_translation(k, b, h, w)))
        else:
            out = np_cutout(out, *map(np.asarray, augment.sample_cutout(k, b, h, w)))
    return out


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("policy", ["color,translation,cutout", "translation", "cutout,color"])
def test_diff_augment_matches_numpy_composition(policy, c):
    x = _images(6, 16, 12, c)
    key = jax.random.PRNGKey(3)
    out = augment.diff_augment(jnp.asarray(x), key, policy)
    assert out.shape == x.shape and out.dtype == jnp.float32
    expected = _np_diff_augment(x, key, augment.parse_policy(policy))
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert not np.allclose(out, x, atol=1e-3)


def test_diff_augment_translation_and_cutout_visibly_act():
    x = jnp.ones((64, 16, 16, 1))
    out = np.asarray(augment.diff_augment(x, jax.random.PRNGKey(0), "cutout"))
    zeros = np.sum(out == 0, axis=(1, 2, 3))
    assert zeros.max() == 64 and zeros.min() > 0  # An 8 x 8 square, clipped at the borders.
    out = np.asarray(augment.diff_augment(x, jax.random.PRNGKey(0), "translation"))
    zeros = np.sum(out == 0, axis=(1, 2, 3))
    assert zeros.max() > 0 and zeros.max() <= 16 * 16 - 14 * 14  # At most 2 rows/cols shifted.


def test_same_key_same_output_different_key_different_output():
    x = jnp.asarray(_images(4, 16, 16, 3))
    policy = "color,translation,cutout"
    a = augment.diff_augment(x, jax.random.PRNGKey(7), policy)
    b = augment.diff_augment(x, jax.random.PRNGKey(7), policy)
    c = augment.diff_augment(x, jax.random.PRNGKey(8), policy)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    jitted = jax.jit(augment.diff_augment, static_argnames="policy")
    np.testing.assert_allclose(jitted(x, jax.random.PRNGKey(7), policy), a, atol=1e-6)
    np.testing.assert_allclose(
        jitted(x, jax.random.PRNGKey(7), ("color", "translation", "cutout")), a, atol=1e-6
    )


def test_empty_policy_is_identity():
    x = jnp.asarray(_images(2, 8, 8, 3))
    for policy in ["", ()]:
        np.testing.assert_array_equal(augment.diff_augment(x, jax.random.PRNGKey(0), policy), x)


def test_dtype_is_preserved():
    x = jnp.asarray(_images(2, 8, 8, 3)).astype(jnp.bfloat16)
    out = augment.diff_augment(x, jax.random.PRNGKey(0), "color,translation,cutout")
    assert out.dtype == jnp.bfloat16 and out.shape == x.shape


# ---------------------------------------------------------------- gradients


@pytest.mark.parametrize("c", [1, 3])
def test_translation_gradient_is_the_shifted_weights(c):
    b, h, w = 4, 16, 16
    x = jnp.asarray(_images(b, h, w, c))
    wts = _images(b, h, w, c, seed=5)
    shift_h, shift_w = np.array([2, -2, 0, 1]), np.array([-2, 2, 1, 0])

    def loss(x):
        return jnp.sum(augment.translation(x, jnp.asarray(shift_h), jnp.asarray(shift_w)) * wts)

    g = jax.grad(loss)(x)
    np.testing.assert_allclose(g, np_translation_vjp(wts, shift_h, shift_w), atol=1e-6)
    assert np.all(np.asarray(g)[0, :2] == 0)  # Rows 0-1 of sample 0 were shifted out.


def test_cutout_gradient_is_the_masked_weights():
    b, h, w, c = 4, 9, 7, 3
    x = jnp.asarray(_images(b, h, w, c))
    wts = _images(b, h, w, c, seed=5)
    offset_h, offset_w = np.array([0, 8, 4, 2]), np.array([7, 0, 3, 5])
    g = jax.grad(
        lambda x: jnp.sum(augment.cutout(x, jnp.asarray(offset_h), jnp.asarray(offset_w)) * wts)
    )(x)
    mask = np_cutout_mask(b, h, w, offset_h, offset_w)[..., None]
    np.testing.assert_allclose(g, wts * mask, atol=1e-6)


def test_diff_augment_gradient_translation_cutout_matches_numpy():
    b, h, w, c = 6, 16, 16, 3
    key = jax.random.PRNGKey(11)
    x = jnp.asarray(_images(b, h, w, c))
    wts = _images(b, h, w, c, seed=5)
    g = jax.grad(lambda x: jnp.sum(augment.diff_augment(x, key, "translation,cutout") * wts))(x)
    k_t, k_c = jax.random.split(key, 2)
    shifts = map(np.asarray, augment.sample_translation(k_t, b, h, w))
    offsets = map(np.asarray, augment.sample_cutout(k_c, b, h, w))
    mask = np_cutout_mask(b, h, w, *offsets)[..., None]
    np.testing.assert_allclose(g, np_translation_vjp(wts * mask, *shifts), atol=1e-6)


def test_diff_augment_gradient_matches_finite_differences():
    b, h, w, c = 3, 8, 8, 3
    key = jax.random.PRNGKey(4)
    policy = "color,translation,cutout"
    x = jnp.asarray(_images(b, h, w, c))
    wts = jnp.asarray(_images(b, h, w, c, seed=5))

    def loss(x):
        return jnp.sum(augment.diff_augment(x, key, policy) * wts)

    loss = jax.jit(loss)
    test_util.check_grads(loss, (x,), order=1, modes=("rev",))
    g = np.asarray(jax.jit(jax.grad(loss))(x))
    assert np.abs(g).max() > 0.1
    # For fixed random parameters the augmentation is affine in x, so central differences are
    # exact up to float rounding even with a large step.
    eps = 0.25
    rng = np.random.default_rng(0)
    for idx in zip(*(rng.integers(0, n, 8) for n in x.shape)):
        e = jnp.zeros_like(x).at[idx].set(eps)
        fd = (float(loss(x + e)) - float(loss(x - e))) / (2 * eps)
        assert fd == pytest.approx(float(g[idx]), abs=2e-3), idx
