"""Spectral normalization and the normalization choice of the DCGAN discriminator."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from ganjax import models
from ganjax.models import dcgan
from ganjax.models.layers import BatchNorm, Conv, gan_batch_norm, normal_init
from ganjax.models.spectral_norm import SpectralNorm

# 32 px, 16 base features: three convolutions (3 -> 16 -> 32 -> 64 channels). On CPU, "auto"
# runs the first one as im2col products and the other two by Winograd, both with custom VJPs.
RES, FEATURES = 32, 16


def _images(batch=3, seed=1):
    return jax.random.normal(jax.random.key(seed), (batch, RES, RES, 3))


def _disc(**kwargs):
    return dcgan.DCGANDiscriminator(resolution=RES, base_features=FEATURES, **kwargs)


def _init(d, x):
    """Variables (eval-mode init, key 0), jitted: one program instead of one per op."""
    return jax.jit(lambda k, x: d.init(k, x, train=False))(jax.random.key(0), x)


def _train_apply(d, params, batch_stats, x):
    """The training forward pass as ganjax.training.train runs it: (logits, updated batch_stats)."""
    # Jitted: one program instead of one compilation per op.
    def apply(p, b, x):
        return d.apply({"params": p, "batch_stats": b}, x, train=True, mutable=["batch_stats"])

    logits, upd = jax.jit(apply)(params, batch_stats, x)
    return logits, upd.get("batch_stats", batch_stats)


def _top_singular_value(matrix):
    return float(np.linalg.svd(np.asarray(matrix, np.float64), compute_uv=False)[0])


def _sn_entries(batch_stats):
    """{layer name: (u, sigma)} from the SpectralNorm_<i> entries of a batch_stats tree."""
    out = {}
    for scope, entries in batch_stats.items():
        if scope.startswith("SpectralNorm_"):
            (layer,) = {name.split("/")[0] for name in entries}
            out[layer] = (entries[f"{layer}/kernel/u"], entries[f"{layer}/kernel/sigma"])
    return out


class _OriginalDCGANDiscriminator(nn.Module):
    """The discriminator as it was before `norm` and `spectral_norm` (kept verbatim)."""

    resolution: int
    base_features: int = 64
    init_std: float = 0.02
    leaky_slope: float = 0.2
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x, train: bool = True, return_features: bool = False):
        _, n_down = dcgan.start_resolution(self.resolution)
        features = self.base_features
        for i in range(n_down):
            x = Conv(
                features,
                kernel_size=4,
                stride=2,
                padding=1,
                kernel_init=normal_init(self.init_std),
                impl=self.conv_impl,
            )(x)
            if i > 0:
                x = gan_batch_norm(train, self.init_std, "leaky_relu", self.leaky_slope)(x)
            else:
                x = nn.leaky_relu(x, self.leaky_slope)
            features *= 2
        h = x.reshape((x.shape[0], -1))
        logits = nn.Dense(1, use_bias=False, kernel_init=normal_init(self.init_std))(h)[:, 0]
        return (logits, h) if return_features else logits


# --- Power iteration ---------------------------------------------------------------------------


def test_sigma_matches_svd_for_every_discriminator_layer():
    """100 training forward passes (one power iteration each) on fixed weights: every layer's
    sigma is the top singular value of its [H * W * Cin, Cout] kernel matrix."""
    d = _disc(spectral_norm=True, norm="none")
    x = _images()
    v = _init(d, x)

    @jax.jit
    def hundred_steps(batch_stats):
        step = lambda bs, _: (_train_apply(d, v["params"], bs, x)[1], None)
        return jax.lax.scan(step, batch_stats, None, length=100)[0]

    sn = _sn_entries(hundred_steps(v["batch_stats"]))
    assert sorted(sn) == ["Conv_0", "Conv_1", "Conv_2", "Dense_0"]
    for layer, (u, sigma) in sn.items():
        kernel = np.asarray(v["params"][layer]["kernel"])
        assert u.shape == (1, kernel.shape[-1])
        expected = _top_singular_value(kernel.reshape(-1, kernel.shape[-1]))
        np.testing.assert_allclose(float(sigma), expected, rtol=1e-4, err_msg=layer)


class _Wrapped(nn.Module):
    """One spectrally normalized layer (a Conv taking a whole k x k window to one pixel, or a
    Dense), so that its effective weight matrix can be read off its outputs."""

    kind: str

    @nn.compact
    def __call__(self, x, train: bool):
        if self.kind == "conv":
            layer = Conv(16, kernel_size=4, stride=1, padding="VALID", impl="auto")
        else:
            layer = nn.Dense(8, use_bias=False)
        return SpectralNorm(layer)(x, update_stats=train)


@pytest.mark.parametrize("kind", ["conv", "dense"])
def test_normalized_weight_has_unit_spectral_norm(kind):
    m = _Wrapped(kind)
    if kind == "conv":  # One-hot 4x4x8 images: output row i is row i of the [128, 16] matrix.
        probe = jnp.eye(128).reshape(128, 4, 4, 8)
        layer, shape = "Conv_0", (4, 4, 8, 16)
    else:
        probe = jnp.eye(32)
        layer, shape = "Dense_0", (32, 8)
    v = m.init(jax.random.key(0), probe, train=False)
    # A fixed kernel with weights of order 1 (sigma far from 1), replacing the initializer's.
    kernel = jax.random.normal(jax.random.key(3), shape)
    params = {layer: {"kernel": kernel}}
    bs = v["batch_stats"]
    for _ in range(100):
        _, upd = m.apply(
            {"params": params, "batch_stats": bs}, probe, True, mutable=["batch_stats"]
        )
        bs = upd["batch_stats"]
    matrix = np.asarray(kernel).reshape(-1, shape[-1])
    sigma = float(bs["SpectralNorm_0"][f"{layer}/kernel/sigma"])
    assert _top_singular_value(matrix) > 5.0  # So that normalization has something to do.
    np.testing.assert_allclose(sigma, _top_singular_value(matrix), rtol=1e-4)
    # The weight the layer actually applies, in both modes.
    for train in (True, False):
        effective = m.apply(
            {"params": params, "batch_stats": bs}, probe, train, mutable=["batch_stats"]
        )[0]
        effective = np.asarray(effective).reshape(matrix.shape)
        np.testing.assert_allclose(effective, matrix / sigma, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(_top_singular_value(effective), 1.0, rtol=1e-4)


def test_eval_keeps_u_and_sigma_train_updates_them():
    d = _disc(spectral_norm=True, norm="batch")
    x = _images()
    v = _init(d, x)
    before = _sn_entries(v["batch_stats"])
    logits_a, upd = jax.jit(lambda v, x: d.apply(v, x, train=False, mutable=["batch_stats"]))(v, x)
    logits_b = jax.jit(lambda v, x: d.apply(v, x, train=False))(v, x)
    np.testing.assert_array_equal(logits_a, logits_b)  # Deterministic given the stored u.
    for layer, (u, sigma) in _sn_entries(upd["batch_stats"]).items():
        np.testing.assert_array_equal(u, before[layer][0])
        np.testing.assert_array_equal(sigma, before[layer][1])
    _, bs = _train_apply(d, v["params"], v["batch_stats"], x)
    for layer, (u, sigma) in _sn_entries(bs).items():
        assert not np.allclose(u, before[layer][0]), layer
        assert float(sigma) != float(before[layer][1]), layer
        np.testing.assert_allclose(float(jnp.linalg.norm(u)), 1.0, rtol=1e-5)


class _OneDense(nn.Module):
    """A Dense layer, wrapped by `wrapper` unless None."""

    wrapper: type | None = None

    @nn.compact
    def __call__(self, x):
        layer = nn.Dense(16, kernel_init=normal_init(0.02))
        return layer(x) if self.wrapper is None else self.wrapper(layer)(x, update_stats=True)


def test_spectral_norm_keeps_initial_parameters():
    """Same parameter names and values with and without spectral normalization (flax's own
    nn.SpectralNorm stores W / sigma at init instead; see spectral_norm.py)."""
    x = _images()
    plain = _disc(norm="none").init(jax.random.key(0), x, train=False)["params"]
    with_sn = _disc(norm="none", spectral_norm=True).init(jax.random.key(0), x, train=False)
    jax.tree.map(np.testing.assert_array_equal, plain, with_sn["params"])

    init = lambda wrapper: _OneDense(wrapper).init(jax.random.key(0), jnp.ones((1, 64)))
    plain = init(None)["params"]["Dense_0"]["kernel"]
    np.testing.assert_array_equal(init(SpectralNorm)["params"]["Dense_0"]["kernel"], plain)
    # The flax quirk that SpectralNorm works around (if flax fixes it, SpectralNorm can go):
    # the stored kernel is the initializer's divided by a one-step sigma estimate.
    flax_kernel = init(nn.SpectralNorm)["params"]["Dense_0"]["kernel"]
    assert _top_singular_value(plain) < 0.5 and _top_singular_value(flax_kernel) > 0.99


# --- Normalization choice ----------------------------------------------------------------------


@pytest.mark.parametrize("explicit", [False, True])
def test_default_is_the_original_network(explicit):
    x = _images()
    kwargs = {"norm": "batch", "spectral_norm": False} if explicit else {}
    new, old = _disc(**kwargs), _OriginalDCGANDiscriminator(RES, base_features=FEATURES)
    vn, vo = new.init(jax.random.key(0), x, train=False), old.init(jax.random.key(0), x, False)
    assert jax.tree.structure(vn) == jax.tree.structure(vo)
    jax.tree.map(np.testing.assert_array_equal, vn, vo)
    for train in (False, True):
        out_n = new.apply(vn, x, train=train, return_features=True, mutable=["batch_stats"])
        out_o = old.apply(vo, x, train=train, return_features=True, mutable=["batch_stats"])
        jax.tree.map(np.testing.assert_array_equal, out_n, out_o)


def test_factory_passes_the_discriminator_options():
    fields = {"g_features": 8, "d_features": 8, "init_std": 0.02, "conv_transpose_impl": "auto"}
    cfg = ml_collections.ConfigDict({"name": "dcgan", **fields})
    _, d = models.create_models(cfg, (RES, RES, 3))
    assert (d.spectral_norm, d.norm) == (False, "batch")
    cfg.spectral_norm, cfg.d_norm = True, "layer"
    _, d = models.create_models(cfg, (RES, RES, 3))
    assert (d.spectral_norm, d.norm) == (True, "layer")


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_no_norm_has_no_batch_norm_state(spectral_norm):
    d = _disc(norm="none", spectral_norm=spectral_norm)
    v = _init(d, _images())
    assert sorted(v["params"]) == ["Conv_0", "Conv_1", "Conv_2", "Dense_0"]
    assert all("bias" in p for p in v["params"].values())  # The SNGAN / WGAN-GP critic's biases.
    stats = v.get("batch_stats", {})
    if spectral_norm:
        assert sorted(stats) == [f"SpectralNorm_{i}" for i in range(4)]
    else:
        assert not stats


def test_unknown_norm_is_rejected():
    with pytest.raises(ValueError, match="norm"):
        _disc(norm="instance").init(jax.random.key(0), _images(), train=False)


def test_layer_norm_normalizes_each_sample_over_hwc():
    d = _disc(norm="layer")
    x = _images()
    v = _init(d, x)
    assert "batch_stats" not in v and v["params"]["LayerNorm_0"]["scale"].shape == (2 * FEATURES,)
    _, state = d.apply(v, x, train=True, capture_intermediates=True, mutable=["intermediates"])
    inter = state["intermediates"]
    pre = np.asarray(inter["Conv_1"]["__call__"][0], np.float64)  # [B, 8, 8, 32]
    post = np.asarray(inter["LayerNorm_0"]["__call__"][0])
    mean = pre.mean(axis=(1, 2, 3), keepdims=True)
    var = pre.var(axis=(1, 2, 3), keepdims=True)
    # Scale 1 and offset 0 at init.
    np.testing.assert_allclose(post, (pre - mean) / np.sqrt(var + 1e-5), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("norm,independent", [("layer", True), ("none", True), ("batch", False)])
def test_samples_are_independent_without_batch_norm(norm, independent):
    """What a per-sample gradient penalty needs: in training mode, a sample's logit does not
    depend on the other samples of the batch (it does under batch norm)."""
    d = _disc(norm=norm, spectral_norm=True)
    x = _images()
    v = _init(d, x)
    logits, _ = _train_apply(d, v["params"], v["batch_stats"], x)
    other, _ = _train_apply(d, v["params"], v["batch_stats"], x.at[1:].set(3.0 * x[1:] + 0.5))
    assert np.allclose(logits[0], other[0], rtol=1e-5, atol=1e-6) == independent


# --- Gradients ---------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", ["batch", "none", "layer"])
def test_parameter_gradients_are_finite_with_spectral_norm(norm):
    d = _disc(norm=norm, spectral_norm=True)
    x = _images()
    v = _init(d, x)

    def loss(params):
        logits, bs = _train_apply(d, params, v["batch_stats"], x)
        return jnp.mean(jax.nn.softplus(-logits)), bs

    grads, bs = jax.jit(jax.grad(loss, has_aux=True))(v["params"])
    for path, g in jax.tree_util.tree_leaves_with_path(grads):
        assert bool(jnp.all(jnp.isfinite(g))), path
        assert float(jnp.max(jnp.abs(g))) > 0, path
    assert jax.tree.structure(bs) == jax.tree.structure(v["batch_stats"])


def _penalty_grad(d, variables, x):
    """grad over params of sum_i ||d logit_i / d x_i||^2 (R1 / WGAN-GP's penalty), in training
    mode with batch_stats threaded through as ganjax.training.train does."""

    def penalty(params):
        def total_logit(images):
            logits, bs = _train_apply(d, params, variables["batch_stats"], images)
            return jnp.sum(logits), bs

        input_grad, _ = jax.grad(total_logit, has_aux=True)(x)
        return jnp.sum(jnp.square(input_grad))

    return jax.jit(jax.grad(penalty))(variables["params"])


@pytest.mark.parametrize("norm", ["none", "layer", "batch"])
def test_second_derivative_through_custom_vjps(norm):
    """The penalty's parameter gradient is finite through ganjax's custom-VJP convolutions, and
    equal to the one through lax's convolution (no custom VJPs)."""
    x = _images()
    variables = _disc(norm=norm, spectral_norm=True).init(jax.random.key(0), x, train=False)
    if jax.default_backend() == "cpu":  # Elsewhere "auto" is lax's convolution.
        forward = lambda p: _disc(norm="none").apply({"params": p}, x)
        plain = _disc(norm="none").init(jax.random.key(0), x, train=False)["params"]
        assert str(jax.make_jaxpr(forward)(plain)).count("custom_vjp_call") == 3
    got = _penalty_grad(_disc(norm=norm, spectral_norm=True, conv_impl="auto"), variables, x)
    want = _penalty_grad(_disc(norm=norm, spectral_norm=True, conv_impl="lax"), variables, x)
    for (path, g), w in zip(jax.tree_util.tree_leaves_with_path(got), jax.tree.leaves(want)):
        assert bool(jnp.all(jnp.isfinite(g))), path
        scale = float(jnp.max(jnp.abs(w)))
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4 * scale, err_msg=str(path))
    assert float(jnp.max(jnp.abs(got["Conv_1"]["kernel"]))) > 0


def test_batch_norm_second_derivative_matches_formula():
    """The same check for the batch norm layer's custom VJP, against batch norm + LeakyReLU
    written out in jnp."""
    bn = BatchNorm(use_running_average=False, activation="leaky_relu", leaky_slope=0.2)
    x = jax.random.normal(jax.random.key(0), (4, 5, 5, 6))
    weights = jax.random.normal(jax.random.key(1), x.shape)
    stats = bn.init(jax.random.key(2), x)["batch_stats"]
    params = {
        "scale": 1.0 + 0.3 * jax.random.normal(jax.random.key(3), (6,)),
        "bias": 0.1 * jax.random.normal(jax.random.key(4), (6,)),
    }

    def layer(p, x):
        y, _ = bn.apply({"params": p, "batch_stats": stats}, x, mutable=["batch_stats"])
        return jnp.sum(y * weights)

    def formula(p, x):
        mean = x.mean((0, 1, 2))
        var = (x * x).mean((0, 1, 2)) - mean * mean
        y = (x - mean) * jax.lax.rsqrt(var + 1e-5) * p["scale"] + p["bias"]
        return jnp.sum(jnp.where(y >= 0, y, 0.2 * y) * weights)

    def penalty_grad(f):
        return jax.grad(lambda p: jnp.sum(jnp.square(jax.grad(f, argnums=1)(p, x))))(params)

    got, want = penalty_grad(layer), penalty_grad(formula)
    assert float(jnp.max(jnp.abs(want["scale"]))) > 0
    jax.tree.map(lambda g, w: np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5), got, want)
