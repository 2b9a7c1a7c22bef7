"""The VAE-GAN (ganjax/methods/vae_gan.py): its losses against numpy, which gradient reaches which
network, D's feature layers, and its config errors. Resume exactness and 1-vs-4 devices come from
the loop's shared parametrized tests (tests/train_test.py), as for every registered method."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import fashion_mnist_vaegan
from ganjax import methods
from ganjax.methods import vae_gan
from ganjax.methods.base import Data
from ganjax.models.dcgan import DCGANDiscriminator
from ganjax.models.encoder import DCGANEncoder, reparameterize
from ganjax.objectives import losses


def test_kl_matches_numpy_closed_form_and_monte_carlo():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(4, 3)).astype(np.float32)
    logvar = rng.normal(scale=0.5, size=(4, 3)).astype(np.float32)
    got = float(losses.kl_normal(mean=jnp.asarray(mean), logvar=jnp.asarray(logvar)))
    var = np.exp(logvar.astype(np.float64))
    # KL(N(m, s^2) || N(0, 1)) = log(1 / s) + (s^2 + m^2) / 2 - 1/2 per dimension.
    closed = np.sum(-0.5 * np.log(var) + (var + mean**2) / 2 - 0.5, axis=1).mean()
    assert got == pytest.approx(closed, rel=1e-5)
    # Monte Carlo: E_q[log q(z) - log p(z)] with 400,000 draws per row.
    z = mean[..., None] + np.sqrt(var)[..., None] * rng.normal(size=(4, 3, 400_000))
    log_q = -0.5 * ((z - mean[..., None]) ** 2 / var[..., None] + np.log(var)[..., None])
    log_p = -0.5 * z**2
    mc = (log_q - log_p).mean(-1).sum(1).mean()
    assert got == pytest.approx(mc, abs=0.02)


def test_reparameterization_samples_and_gradients():
    mean = jnp.array([[1.5, -2.0]])
    logvar = jnp.array([[np.log(0.25), np.log(4.0)]])
    key = jax.random.PRNGKey(3)
    z = np.asarray(
        jax.vmap(lambda k: reparameterize(k, mean, logvar)[0])(jax.random.split(key, 200_000))
    )
    np.testing.assert_allclose(z.mean(0), [1.5, -2.0], atol=0.02)
    np.testing.assert_allclose(z.std(0), [0.5, 2.0], rtol=0.01)
    # dz/dmean = 1 and dz/dlogvar = eps * exp(logvar / 2) / 2, with eps = (z - mean) / std.
    zz = reparameterize(key, mean, logvar)
    eps = (np.asarray(zz) - np.asarray(mean)) / np.exp(0.5 * np.asarray(logvar))
    g_mean, g_logvar = jax.grad(lambda m, lv: reparameterize(key, m, lv).sum(), (0, 1))(
        mean, logvar
    )
    np.testing.assert_allclose(g_mean, np.ones((1, 2)))
    np.testing.assert_allclose(g_logvar, eps * np.exp(0.5 * np.asarray(logvar)) / 2, rtol=1e-5)


def test_gaussian_reconstruction_matches_numpy():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    got = float(losses.gaussian_reconstruction(target=jnp.asarray(a), recon=jnp.asarray(b)))
    want = np.mean([0.5 * np.sum((a[i] - b[i]) ** 2) for i in range(3)])
    assert got == pytest.approx(want, rel=1e-5)


def test_discriminator_feature_layers():
    d = DCGANDiscriminator(resolution=32, base_features=4)
    x = jnp.zeros((2, 32, 32, 1))
    variables = d.init(jax.random.PRNGKey(0), x, train=False)

    def feature_shape(layer):
        out = d.apply(variables, x, train=False, return_features=True, feature_layer=layer)
        return out[1].shape

    shapes = {layer: feature_shape(layer) for layer in (1, 2, 3, -1, -2)}
    assert shapes == {
        1: (2, 16 * 16 * 4),
        2: (2, 8 * 8 * 8),
        3: (2, 4 * 4 * 16),
        -1: (2, 4 * 4 * 16),
        -2: (2, 8 * 8 * 8),
    }
    with pytest.raises(ValueError, match="has 3 convolution blocks"):
        d.apply(variables, x, train=False, return_features=True, feature_layer=4)


def test_encoder_starts_at_the_prior():
    enc = DCGANEncoder(resolution=28, latent_dim=5, base_features=4)
    x = jax.random.uniform(jax.random.PRNGKey(0), (3, 28, 28, 1), minval=-1, maxval=1)
    variables = enc.init(jax.random.PRNGKey(1), x, train=False)
    mean, logvar = enc.apply(variables, x, train=False)
    assert mean.shape == logvar.shape == (3, 5)
    np.testing.assert_array_equal(mean, 0.0)  # q(z | x) = N(0, I) before training.
    np.testing.assert_array_equal(logvar, 0.0)


def _grads(**overrides):
    """{E, G, D: gradient leaves} of one step from the same state, batch and key.

    The encoder's head starts at zero (q(z | x) = N(0, I), where the KL's gradient is exactly 0),
    so the state's encoder parameters are moved off it first. Raw gradients, not Adam-updated
    parameters, are compared: Adam's first update is sign-like and hides a change of scale.
    """
    c = fashion_mnist_vaegan.get_config("tiny")
    for k, v in overrides.items():
        group, key = k.split(".")
        c[group][key] = v
    m = methods.get_method(c)
    state = m.create_state(Data((28, 28, 1), {}), jax.random.PRNGKey(0), 10, 10)
    leaves, treedef = jax.tree.flatten(state[vae_gan.E].params)
    keys = jax.random.split(jax.random.PRNGKey(5), len(leaves))
    moved = [p + 0.05 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)]
    enc = state[vae_gan.E].replace(params=jax.tree.unflatten(treedef, moved))
    state = state.with_nets(**{vae_gan.E: enc})
    images = np.random.default_rng(0).integers(0, 256, (1, 16, 28, 28, 1), dtype=np.uint8)
    grads, _, _ = jax.jit(m.gradients)(state, {"image": jnp.asarray(images)}, jax.random.PRNGKey(1))
    return {n: jax.tree.leaves(grads[n]) for n in (vae_gan.E, vae_gan.G, vae_gan.D)}


def _same(a, b):
    return all(np.allclose(x, y, rtol=1e-5, atol=1e-7) for x, y in zip(a, b))


def test_each_loss_reaches_only_the_networks_the_paper_says():
    """Larsen et al.: E <- KL + L_llike; G <- gamma L_llike - L_GAN; D <- L_GAN only."""
    base = _grads()
    e, g, d = vae_gan.E, vae_gan.G, vae_gan.D
    # The reconstruction loss's weight in G's objective changes G's gradient, not D's or E's.
    more_recon = _grads(**{"loss.gamma": 10.0})
    assert not _same(base[g], more_recon[g])
    assert _same(base[d], more_recon[d])
    assert _same(base[e], more_recon[e])
    # The KL weight changes only E's gradient, and linearly: E's gradient is
    # kl_weight * dKL + dL_llike.
    no_kl, double_kl = _grads(**{"loss.kl_weight": 0.0}), _grads(**{"loss.kl_weight": 2.0})
    assert not _same(base[e], no_kl[e])
    assert _same(base[g], no_kl[g])
    assert _same(base[d], no_kl[d])
    for b, n, dd in zip(base[e], no_kl[e], double_kl[e]):
        np.testing.assert_allclose(dd - n, 2 * (b - n), rtol=1e-3, atol=1e-6)
    # Reconstructing in pixels instead of D's features changes E's and G's gradients (the
    # reconstruction loss reaches both) and leaves D's alone (it is not part of D's loss).
    pixel = _grads(**{"loss.recon_layer": 0})
    assert not _same(base[e], pixel[e])
    assert not _same(base[g], pixel[g])
    assert _same(base[d], pixel[d])
    # A different GAN loss changes D's and G's gradients, never E's: L_GAN does not reach E.
    lsgan = _grads(**{"loss.type": "least_squares"})
    assert _same(base[e], lsgan[e])
    assert not _same(base[d], lsgan[d])
    assert not _same(base[g], lsgan[g])


def test_reconstruction_error_matches_numpy(mnist_dir):
    c = fashion_mnist_vaegan.get_config("tiny")
    m = methods.get_method(c)
    state = m.create_state(Data((28, 28, 1), {}), jax.random.PRNGKey(0), 10, 10)
    images = np.random.default_rng(2).integers(0, 256, (10, 28, 28, 1), dtype=np.uint8)
    rec = np.asarray(vae_gan.reconstruct(state, jnp.asarray(images, jnp.float32) / 127.5 - 1))
    want = np.mean(((rec + 1) / 2 - images / 255.0) ** 2)
    got = vae_gan.reconstruction_error(state, images, batch_size=4)  # Uneven last batch.
    assert got == pytest.approx(want, rel=1e-5)


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("model.latent_dist", "uniform", "latent_dist='normal'"),
        ("data.augment", "color", "augment is not supported"),
        ("model.name", "mlp", "model.name='dcgan'"),
        ("train.d_steps", 2, "d_steps=1"),
    ],
)
def test_bad_settings_are_clear_errors(key, value, match):
    c = fashion_mnist_vaegan.get_config("tiny")
    group, name = key.split(".")
    c[group][name] = value
    with pytest.raises(ValueError, match=match):
        methods.get_method(c)
