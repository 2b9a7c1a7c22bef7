"""Shapes of every model at every resolution, models independent of the convolution
implementation, and the Flax layers (`ganjax.models.layers.BatchNorm`). The kernels themselves are
tested in ops_test.py."""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from ganjax import models, ops
from ganjax.models import dcgan, layers


@pytest.mark.parametrize(
    "resolution,channels,start,n_up", [(28, 1, 7, 2), (32, 3, 4, 3), (64, 3, 4, 4)]
)
def test_dcgan_shapes(resolution, channels, start, n_up):
    assert dcgan.start_resolution(resolution) == (start, n_up)
    g = dcgan.DCGANGenerator(resolution=resolution, channels=channels, base_features=8)
    d = dcgan.DCGANDiscriminator(resolution=resolution, base_features=8)
    z = jnp.ones((3, 100))
    # Jitted: one program each instead of one compile per op (eager mode).
    gv = jax.jit(functools.partial(g.init, train=False))(jax.random.key(0), z)
    x = jax.jit(functools.partial(g.apply, train=False))(gv, z)
    assert x.shape == (3, resolution, resolution, channels)
    assert float(jnp.abs(x).max()) <= 1.0
    dv = jax.jit(functools.partial(d.init, train=False))(jax.random.key(1), x)
    logits, feats = jax.jit(functools.partial(d.apply, train=False, return_features=True))(dv, x)
    assert logits.shape == (3,)
    # The last feature map is start x start with base * 2^(n-1) channels.
    assert feats.shape == (3, start * start * 8 * 2 ** (n_up - 1))
    # Every generator layer doubles the map: one Dense projection + n_up transposed convs.
    kernels = [p["kernel"].shape for k, p in gv["params"].items() if k.startswith("ConvTranspose")]
    assert len(kernels) == n_up and kernels[-1] == (4, 4, 8, channels)


def test_dcgan64_matches_standard_widths():
    """DCGAN-64 with 64 base features is the standard Radford network (same parameter count)."""
    g = dcgan.DCGANGenerator(resolution=64, channels=3, base_features=64)
    d = dcgan.DCGANDiscriminator(resolution=64, base_features=64)
    gv = jax.eval_shape(lambda: g.init(jax.random.key(0), jnp.ones((1, 100)), train=False))
    dv = jax.eval_shape(lambda: d.init(jax.random.key(0), jnp.ones((1, 64, 64, 3)), train=False))
    count = lambda tree: sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))
    # PyTorch's DCGAN: G 3,576,704 params, D 2,765,568 params (conv weights + BN affine).
    assert count(gv["params"]) == 3_576_704
    assert count(dv["params"]) == 2_765_568


def test_bad_resolution():
    with pytest.raises(ValueError, match="resolution"):
        dcgan.start_resolution(30)


def test_mlp_shapes():
    g = models.mlp.MLPGenerator(image_shape=(28, 28, 1))
    d = models.mlp.MLPDiscriminator()
    z = jax.random.uniform(jax.random.key(0), (5, 100), minval=-1, maxval=1)
    gv = g.init(jax.random.key(1), z)
    x = g.apply(gv, z)
    assert x.shape == (5, 28, 28, 1) and float(jnp.abs(x).max()) <= 1.0
    assert gv["params"]["hidden"]["kernel"].shape == (100, 128)
    assert d.apply(d.init(jax.random.key(2), x), x).shape == (5,)


def test_registry_unknown_model():
    cfg = ml_collections.ConfigDict({"name": "stylegan9"})
    with pytest.raises(ValueError, match="Unknown model"):
        models.create_models(cfg, (28, 28, 1))


def test_latents():
    u = models.sample_latents(jax.random.key(0), 1000, 10, "uniform")
    assert float(u.min()) >= -1 and float(u.max()) <= 1 and abs(float(u.mean())) < 0.05
    n = models.sample_latents(jax.random.key(0), 1000, 10, "normal")
    assert abs(float(n.std()) - 1) < 0.05
    with pytest.raises(ValueError):
        models.sample_latents(jax.random.key(0), 2, 2, "cauchy")


def test_generator_output_independent_of_conv_transpose_impl():
    z = jax.random.normal(jax.random.key(0), (4, 100))
    outs = []
    for impl in ("direct", "subpixel", "gemm", "winograd", "auto"):
        g = dcgan.DCGANGenerator(
            resolution=32, channels=3, base_features=8, conv_transpose_impl=impl
        )
        variables = jax.jit(functools.partial(g.init, train=False))(jax.random.key(1), z)
        apply = functools.partial(g.apply, train=True, mutable=["batch_stats"])
        outs.append(jax.jit(apply)(variables, z)[0])  # Same parameters for every impl.
    for out in outs[1:]:
        np.testing.assert_allclose(out, outs[0], atol=1e-5)
    assert ops.default_conv_transpose_impl() == (
        "winograd" if jax.default_backend() == "cpu" else "direct"
    )


def test_discriminator_output_independent_of_conv_impl():
    x = jax.random.normal(jax.random.key(0), (4, 32, 32, 3))
    outs = []
    for impl in ("auto", "gemm", "winograd", "lax"):
        d = dcgan.DCGANDiscriminator(resolution=32, base_features=16, conv_impl=impl)
        variables = jax.jit(functools.partial(d.init, train=False))(jax.random.key(1), x)
        apply = functools.partial(d.apply, train=True, mutable=["batch_stats"])
        outs.append(jax.jit(apply)(variables, x)[0])
    for out in outs[1:]:
        np.testing.assert_allclose(out, outs[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("activation", ["none", "relu", "leaky_relu"])
@pytest.mark.parametrize("shape", [(8, 5, 5, 16), (6, 32)])
def test_batch_norm_act_matches_flax_batch_norm(activation, shape):
    """layers.BatchNorm (fused activation, written-out gradient) == flax BatchNorm + activation:
    same variable tree, outputs, running statistics, and gradients in x, scale and bias."""
    import flax.linen as nn

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=shape) * 3 + 1.5, jnp.float32)  # Off-center, as conv outputs.
    w = jnp.asarray(rng.normal(size=shape), jnp.float32)
    act = {"none": lambda u: u, "relu": jax.nn.relu, "leaky_relu": lambda u: nn.leaky_relu(u, 0.2)}[
        activation
    ]
    ref = nn.BatchNorm(use_running_average=False, momentum=0.9, epsilon=1e-5)
    new = layers.BatchNorm(
        use_running_average=False,
        momentum=0.9,
        epsilon=1e-5,
        activation=activation,
        leaky_slope=0.2,
    )
    ref_vars, new_vars = ref.init(jax.random.key(0), x), new.init(jax.random.key(0), x)
    assert jax.tree.structure(ref_vars) == jax.tree.structure(new_vars)
    c = shape[-1]
    variables = {
        "params": {
            "scale": jnp.asarray(rng.normal(size=c) + 1, jnp.float32),
            "bias": jnp.asarray(rng.normal(size=c), jnp.float32),
        },
        "batch_stats": {
            "mean": jnp.asarray(rng.normal(size=c), jnp.float32),
            "var": jnp.asarray(rng.uniform(0.5, 2, size=c), jnp.float32),
        },
    }

    def loss(module, activation_fn, variables, x):
        y, updates = module.apply(variables, x, mutable=["batch_stats"])
        return jnp.sum(activation_fn(y) * w), (y, updates["batch_stats"])

    (ref_loss, (ref_y, ref_stats)), ref_grads = jax.value_and_grad(
        functools.partial(loss, ref, act), (0, 1), has_aux=True
    )(variables, x)
    (new_loss, (new_y, new_stats)), new_grads = jax.value_and_grad(
        functools.partial(loss, new, lambda u: u), (0, 1), has_aux=True
    )(variables, x)
    np.testing.assert_allclose(new_y, act(ref_y), atol=1e-5)
    for a, b in zip(jax.tree.leaves(ref_stats), jax.tree.leaves(new_stats)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(
        jax.tree.leaves(ref_grads[0]["params"]), jax.tree.leaves(new_grads[0]["params"])
    ):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(new_grads[1], ref_grads[1], rtol=1e-4, atol=1e-4)
    # Evaluation mode uses the running statistics.
    ref_eval = act(nn.BatchNorm(use_running_average=True, epsilon=1e-5).apply(variables, x))
    new_eval = layers.BatchNorm(
        use_running_average=True, epsilon=1e-5, activation=activation, leaky_slope=0.2
    ).apply(variables, x)
    np.testing.assert_allclose(new_eval, ref_eval, atol=1e-5)


def test_batch_norm_rejects_unknown_activation():
    with pytest.raises(ValueError, match="activation"):
        layers.BatchNorm(activation="gelu").init(jax.random.key(0), jnp.ones((2, 3)))
