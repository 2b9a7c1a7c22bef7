"""Discriminator regularizers: against finite differences, and double backprop through ganjax's
custom-VJP convolutions against XLA's and against stock Flax layers."""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganjax.models.dcgan import DCGANDiscriminator
from ganjax.objectives import regularizers

B, H, W, C, K = 3, 4, 4, 2, 5  # A tiny image batch; K hidden units of the smooth test D.
N = H * W * C


def _smooth_problem(seed: int = 0):
    """(real, fake, A, v) for d(x)_b = v . tanh(flatten(x_b) @ A): smooth, no batch coupling."""
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(B, H, W, C)).astype(np.float32)
    fake = rng.normal(size=(B, H, W, C)).astype(np.float32)
    a = (rng.normal(size=(N, K)) / 2).astype(np.float32)
    v = rng.normal(size=(K,)).astype(np.float32)
    return real, fake, a, v


def _d_jax(a, v):
    return lambda x: jnp.tanh(x.reshape(x.shape[0], -1) @ a) @ v


def _d_np(x, a, v):
    return np.tanh(x.reshape(x.shape[0], -1) @ a) @ v


def _fd_input_grads(x, a, v, h=1e-5):
    """Per-sample input gradients [B, N] of _d_np by central differences in float64 (samples are
    independent, so one perturbed coordinate per pass serves the whole batch)."""
    x = x.astype(np.float64).reshape(x.shape[0], -1)
    a, v = a.astype(np.float64), v.astype(np.float64)
    g = np.zeros_like(x)
    for i in range(x.shape[1]):
        e = np.zeros(x.shape[1])
        e[i] = h
        g[:, i] = (_d_np(x + e, a, v) - _d_np(x - e, a, v)) / (2 * h)
    return g


def _analytic_input_grads(x, a, v):
    """The same gradients in closed form (float64): A (v * (1 - tanh^2))."""
    t = np.tanh(x.reshape(x.shape[0], -1) @ a)
    return (v * (1 - t**2)) @ a.T


def _eps(key):
    """The documented interpolation draw of `gradient_penalty`."""
    return np.asarray(jax.random.uniform(key, (B, 1, 1, 1)), np.float64)


def test_analytic_helper_matches_finite_differences():
    real, _, a, v = _smooth_problem()
    fd = _fd_input_grads(real, a, v)
    exact = _analytic_input_grads(
        real.astype(np.float64), a.astype(np.float64), v.astype(np.float64)
    )
    np.testing.assert_allclose(fd, exact, rtol=1e-7, atol=1e-9)


def test_r1_matches_finite_difference_gradient_norms():
    real, _, a, v = _smooth_problem()
    penalty, stats = regularizers.r1_penalty(_d_jax(a, v), jnp.asarray(real))
    norms = np.linalg.norm(_fd_input_grads(real, a, v), axis=1)
    assert norms.min() > 0.5  # Not a degenerate test point.
    assert float(penalty) == pytest.approx(np.mean(norms**2), rel=1e-5)
    assert float(stats["grad_norm"]) == pytest.approx(np.mean(norms), rel=1e-5)


@pytest.mark.parametrize("target", [1.0, 0.0, 3.0])
def test_gradient_penalty_matches_finite_differences(target):
    real, fake, a, v = _smooth_problem()
    key = jax.random.key(7)
    penalty, stats = regularizers.gradient_penalty(
        _d_jax(a, v), jnp.asarray(real), jnp.asarray(fake), key, target=target
    )
    eps = _eps(key)
    assert eps.std() > 0.05  # Distinct weights per sample: a wrong draw would be caught.
    x_hat = eps * real + (1 - eps) * fake
    norms = np.linalg.norm(_fd_input_grads(x_hat, a, v), axis=1)
    assert float(penalty) == pytest.approx(np.mean((norms - target) ** 2), rel=1e-5)
    assert float(stats["grad_norm"]) == pytest.approx(np.mean(norms), rel=1e-5)


def test_gradient_penalty_uses_the_documented_draw_not_another():
    real, fake, a, v = _smooth_problem()
    key = jax.random.key(7)
    penalty, _ = regularizers.gradient_penalty(
        _d_jax(a, v), jnp.asarray(real), jnp.asarray(fake), key
    )
    for other in (jax.random.key(8), jax.random.split(key)[0]):
        eps = _eps(other)
        x_hat = eps * real + (1 - eps) * fake
        norms = np.linalg.norm(_fd_input_grads(x_hat, a, v), axis=1)
        assert abs(float(penalty) - np.mean((norms - 1) ** 2)) > 1e-3 * float(penalty)


def test_penalty_gradients_wrt_d_params_match_finite_differences():
    """Double backprop: d(penalty)/dA against central differences of the closed-form penalty."""
    real, fake, a, v = _smooth_problem()
    key = jax.random.key(3)
    eps = _eps(key)
    x_hat = eps * real + (1 - eps) * fake
    r64, xh64, v64 = real.astype(np.float64), x_hat.astype(np.float64), v.astype(np.float64)

    def gp_np(a64):
        n = np.linalg.norm(_analytic_input_grads(xh64, a64, v64), axis=1)
        return np.mean((n - 1) ** 2)

    def r1_np(a64):
        return np.mean(np.sum(_analytic_input_grads(r64, a64, v64) ** 2, axis=1))

    gp_grad = jax.grad(
        lambda a: regularizers.gradient_penalty(
            _d_jax(a, v), jnp.asarray(real), jnp.asarray(fake), key
        )[0]
    )(jnp.asarray(a))
    r1_grad = jax.grad(lambda a: regularizers.r1_penalty(_d_jax(a, v), jnp.asarray(real))[0])(
        jnp.asarray(a)
    )
    direction = np.random.default_rng(1).normal(size=a.shape)
    h = 1e-5
    for fn, grad in ((gp_np, gp_grad), (r1_np, r1_grad)):
        fd = (fn(a + h * direction) - fn(a - h * direction)) / (2 * h)
        assert abs(fd) > 1e-2
        assert float(jnp.vdot(grad, direction)) == pytest.approx(fd, rel=1e-4)


def test_norm_gradient_is_finite_at_zero_input_gradient():
    """A D whose input gradient vanishes (scale 0): sqrt(0) would give a NaN gradient."""
    real, fake, a, v = _smooth_problem()

    def gp(scale):
        d_fn = lambda x: scale * _d_jax(a, v)(x)
        return regularizers.gradient_penalty(
            d_fn, jnp.asarray(real), jnp.asarray(fake), jax.random.key(0)
        )[0]

    value, grad = jax.value_and_grad(gp)(0.0)
    assert float(value) == pytest.approx(1.0, abs=1e-5)  # (0 - 1)^2
    assert np.isfinite(float(grad))


def test_r2_is_r1_on_the_fakes():
    real, fake, a, v = _smooth_problem()
    d_fn = _d_jax(a, v)
    r2, r2_stats = regularizers.r2_penalty(d_fn, jnp.asarray(fake))
    r1_fake, r1_stats = regularizers.r1_penalty(d_fn, jnp.asarray(fake))
    r1_real, _ = regularizers.r1_penalty(d_fn, jnp.asarray(real))
    assert float(r2) == float(r1_fake)
    assert float(r2_stats["grad_norm"]) == float(r1_stats["grad_norm"])
    assert abs(float(r2) - float(r1_real)) > 1e-3  # It does look at its argument.
    norms = np.linalg.norm(_fd_input_grads(fake, a, v), axis=1)
    assert float(r2) == pytest.approx(np.mean(norms**2), rel=1e-5)


def test_wrong_logit_shape_is_rejected():
    real, _, a, v = _smooth_problem()
    with pytest.raises(ValueError, match="logits of shape"):
        regularizers.r1_penalty(lambda x: _d_jax(a, v)(x)[:, None], jnp.asarray(real))


# --- Lazy regularization --------------------------------------------------------------------------


def test_lazy_application_every_4():
    real, _, a, v = _smooth_problem()
    x = jnp.asarray(real)

    def loss(a, step):
        return regularizers.apply_lazily(step, 4, lambda: regularizers.r1_penalty(_d_jax(a, v), x))

    step_fn = jax.jit(jax.value_and_grad(loss, has_aux=True))
    (p, p_stats), g = jax.value_and_grad(
        lambda a: regularizers.r1_penalty(_d_jax(a, v), x), has_aux=True
    )(jnp.asarray(a))
    assert float(p) > 0 and float(jnp.abs(g).max()) > 0
    for step in range(9):
        (value, stats), grad = step_fn(jnp.asarray(a), jnp.asarray(step))
        if step % 4 == 0:
            assert float(value) == pytest.approx(4 * float(p), rel=1e-6), step
            np.testing.assert_allclose(grad, 4 * g, rtol=1e-5, atol=1e-6 * float(jnp.abs(g).max()))
            assert float(stats["grad_norm"]) == pytest.approx(float(p_stats["grad_norm"]), rel=1e-6)
        else:
            assert float(value) == 0.0, step
            assert float(jnp.abs(grad).max()) == 0.0, step
            assert float(stats["grad_norm"]) == 0.0, step
    # The skipped steps do none of the penalty's work: it sits in a cond branch.
    assert "cond" in str(jax.make_jaxpr(loss)(jnp.asarray(a), jnp.asarray(1)))


def test_lazy_every_1_and_bad_intervals():
    real, _, a, v = _smooth_problem()
    fn = lambda: regularizers.r1_penalty(_d_jax(a, v), jnp.asarray(real))
    assert float(regularizers.apply_lazily(3, 1, fn)[0]) == float(fn()[0])
    for bad in (0, -2, 2.0, True):
        with pytest.raises(ValueError, match="every"):
            regularizers.apply_lazily(0, bad, fn)


# --- Double backprop through DCGAN's discriminator -----------------------------------------------

RES, BASE, BATCH = 28, 8, 8


class _FlaxReferenceD(nn.Module):
    """DCGANDiscriminator(resolution=28) from stock Flax layers (nn.Conv, nn.BatchNorm): the same
    variable names and function, differentiated only by JAX's own rules."""

    base_features: int

    @nn.compact
    def __call__(self, x, train: bool = True):
        f = self.base_features
        x = nn.Conv(f, (4, 4), (2, 2), padding=((1, 1), (1, 1)), use_bias=False)(x)
        x = nn.leaky_relu(x, 0.2)
        x = nn.Conv(2 * f, (4, 4), (2, 2), padding=((1, 1), (1, 1)), use_bias=False)(x)
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)(x)
        x = nn.leaky_relu(x, 0.2)
        return nn.Dense(1, use_bias=False)(x.reshape(x.shape[0], -1))[:, 0]


@functools.cache
def _dcgan_setup():
    k_real, k_fake, k_init = jax.random.split(jax.random.key(0), 3)
    real = jax.random.uniform(k_real, (BATCH, RES, RES, 1), minval=-1, maxval=1)
    fake = jnp.tanh(jax.random.normal(k_fake, (BATCH, RES, RES, 1)))
    d = DCGANDiscriminator(resolution=RES, base_features=BASE, conv_impl="lax")
    variables = d.init(k_init, real)
    # Non-trivial running statistics for the train=False case: one training-mode pass's update.
    _, updates = d.apply(variables, real, train=True, mutable=["batch_stats"])
    return real, fake, variables["params"], updates["batch_stats"]


@functools.cache
def _dcgan_penalty_grads(impl: str, penalty: str, train: bool):
    """jax.grad w.r.t. D's params of the penalty, with `impl` ("reference": _FlaxReferenceD)."""
    real, fake, params, stats = _dcgan_setup()
    if impl == "reference":
        module = _FlaxReferenceD(BASE)
    else:
        module = DCGANDiscriminator(resolution=RES, base_features=BASE, conv_impl=impl)

    def loss(params):
        variables = {"params": params, "batch_stats": stats}
        if train:  # Batch statistics; the running-average update is discarded.
            d_fn = lambda x: module.apply(variables, x, train=True, mutable=["batch_stats"])[0]
        else:
            d_fn = lambda x: module.apply(variables, x, train=False)
        if penalty == "r1":
            return regularizers.r1_penalty(d_fn, real)[0]
        return regularizers.gradient_penalty(d_fn, real, fake, jax.random.key(5))[0]

    return jax.jit(jax.value_and_grad(loss))(params)


def _assert_trees_close(actual, expected, rtol):
    """Per leaf: ||a - e|| <= rtol * (||e|| + 1e-3 * ||all of e||) (some leaves are exactly 0:
    the input gradient of a leaky-ReLU net is piecewise constant in the last batch-norm bias)."""
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    total = float(jnp.sqrt(sum(jnp.sum(e**2) for e in jax.tree.leaves(expected))))
    assert total > 0
    for (path, e), a in zip(jax.tree_util.tree_leaves_with_path(expected), jax.tree.leaves(actual)):
        err = float(jnp.linalg.norm((a - e).ravel()))
        bound = rtol * (float(jnp.linalg.norm(e.ravel())) + 1e-3 * total)
        assert err <= bound, f"{jax.tree_util.keystr(path)}: |diff| {err:.3g} > {bound:.3g}"


@pytest.mark.parametrize("train", [True, False], ids=["batch_stats", "running_average"])
@pytest.mark.parametrize("penalty", ["r1", "gp"])
@pytest.mark.parametrize("impl", ["winograd", "gemm"])
def test_double_backprop_custom_convolutions_match_lax(impl, penalty, train):
    value_lax, grads_lax = _dcgan_penalty_grads("lax", penalty, train)
    value, grads = _dcgan_penalty_grads(impl, penalty, train)
    assert float(value) == pytest.approx(float(value_lax), rel=1e-4)
    _assert_trees_close(grads, grads_lax, rtol=1e-4)


@pytest.mark.parametrize("train", [True, False], ids=["batch_stats", "running_average"])
@pytest.mark.parametrize("penalty", ["r1", "gp"])
def test_double_backprop_lax_path_matches_stock_flax(penalty, train):
    """The lax path still runs ganjax's custom-VJP batch norm; stock Flax checks it too."""
    value_ref, grads_ref = _dcgan_penalty_grads("reference", penalty, train)
    value, grads = _dcgan_penalty_grads("lax", penalty, train)
    assert float(value) == pytest.approx(float(value_ref), rel=1e-4)
    _assert_trees_close(grads, grads_ref, rtol=1e-4)
