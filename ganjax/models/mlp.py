"""The MLP GAN: one hidden layer each, leaky ReLU, tanh image output (the seeds' MNIST GAN)."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array


class MLPGenerator(nn.Module):
    """z -> Dense(hidden) -> leaky ReLU -> Dense(H*W*C) -> tanh -> [B, H, W, C] in [-1, 1]."""

    image_shape: tuple[int, int, int]
    hidden: int = 128
    leaky_slope: float = 0.01

    @nn.compact
    def __call__(self, z: Array, train: bool = True) -> Array:
        del train  # No batch norm or dropout.
        x = nn.leaky_relu(nn.Dense(self.hidden, name="hidden")(z), self.leaky_slope)
        x = nn.Dense(math.prod(self.image_shape), name="out")(x)
        return jnp.tanh(x).reshape((z.shape[0], *self.image_shape))


class MLPDiscriminator(nn.Module):
    """[B, H, W, C] -> Dense(hidden) -> leaky ReLU -> Dense(1): one real/fake logit per image."""

    hidden: int = 128
    leaky_slope: float = 0.01

    @nn.compact
    def __call__(self, x: Array, train: bool = True, return_features: bool = False):
        del train
        x = x.reshape((x.shape[0], -1))
        h = nn.leaky_relu(nn.Dense(self.hidden, name="hidden")(x), self.leaky_slope)
        logits = nn.Dense(1, name="out")(h)[:, 0]  # [B]
        return (logits, h) if return_features else logits
