"""Weight normalization (Salimans & Kingma 2016) with data-dependent init, and Gaussian noise.

A weight-normalized layer computes t = x . v / ||v|| (per output unit), then g * t + b. Called
inside `Module.init` on a real data batch, it sets g = init_scale / std(t) and b = -mean(t) * g, so
every pre-activation starts with zero mean and (init_scale) unit variance on that batch; this is
the initialization of Salimans et al.'s semi-supervised GAN code. `train_scale=False` freezes g at
that value (their MNIST discriminator's hidden layers).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from ganjax.ops import conv_padded

Array = jax.Array


def _data_dependent_affine(
    module: nn.Module,
    t: Array,
    features: int,
    init_scale: float,
    train_scale: bool,
    data_init: bool = True,
):
    """Creates (or reads) g and b; on init, from the statistics of t over all but its last axis
    (or g = init_scale, b = 0 without `data_init`)."""
    if not data_init:
        g = module.param("g", nn.initializers.constant(init_scale), (features,))
        b = module.param("b", nn.initializers.zeros, (features,))
        return t * (g if train_scale else lax.stop_gradient(g)) + b
    if module.is_initializing():
        axes = tuple(range(t.ndim - 1))
        mean, std = t.mean(axes), jnp.sqrt(t.var(axes) + 1e-8)
        g_init, b_init = init_scale / std, -mean * init_scale / std
    else:
        g_init = b_init = jnp.zeros((features,), t.dtype)  # Never used outside init.
    g = module.param("g", lambda _: g_init)
    b = module.param("b", lambda _: b_init)
    if not train_scale:
        g = lax.stop_gradient(g)
    return t * g + b


class WNDense(nn.Module):
    """Weight-normalized dense layer; `data_init=False` gives plain weight norm (scale starts at
    init_scale, bias at 0), as the paper's MNIST generator output layer."""

    features: int
    init_scale: float = 1.0
    train_scale: bool = True
    data_init: bool = True
    v_std: float = 0.1

    @nn.compact
    def __call__(self, x: Array) -> Array:
        v = self.param("v", nn.initializers.normal(self.v_std), (x.shape[-1], self.features))
        t = x @ (v / jnp.sqrt(jnp.sum(jnp.square(v), axis=0, keepdims=True) + 1e-6))
        return _data_dependent_affine(
            self, t, self.features, self.init_scale, self.train_scale, self.data_init
        )


class WNConv(nn.Module):
    """Weight-normalized 2-D convolution (square kernel, "SAME" or "VALID", stride)."""

    features: int
    kernel_size: int = 3
    stride: int = 1
    padding: str = "SAME"
    init_scale: float = 1.0
    train_scale: bool = True

    @nn.compact
    def __call__(self, x: Array) -> Array:
        k = self.kernel_size
        v = self.param("v", nn.initializers.normal(0.05), (k, k, x.shape[-1], self.features))
        w = v / jnp.linalg.norm(v.reshape(-1, self.features), axis=0)
        t = conv_padded(x, w, self.stride, self.padding)
        return _data_dependent_affine(self, t, self.features, self.init_scale, self.train_scale)


class GaussianNoise(nn.Module):
    """Adds N(0, std^2) noise in training (rng stream "noise"); identity at test time."""

    std: float

    @nn.compact
    def __call__(self, x: Array, train: bool) -> Array:
        if not train or self.std == 0:
            return x
        return x + self.std * jax.random.normal(self.make_rng("noise"), x.shape, x.dtype)
