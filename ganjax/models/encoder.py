"""The VAE-GAN's encoder (Larsen et al. 2016): image -> the mean and log-variance of q(z | x).

DCGAN-shaped: the discriminator's 4x4 stride-2 convolutions with batch norm and leaky ReLU (no
normalization on the input layer, as in Radford et al.), widths doubling from `base_features`,
then one dense layer to 2 * latent_dim numbers, split into mean and log-variance. The same
network serves as the post-hoc encoder of a trained generator (it then reads only the mean).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from ganjax.models.dcgan import conv_trunk, start_resolution

Array = jax.Array


class DCGANEncoder(nn.Module):
    """image [B, R, R, C] in [-1, 1] -> (mean [B, latent_dim], log-variance [B, latent_dim])."""

    resolution: int
    latent_dim: int
    base_features: int = 64
    init_std: float = 0.02
    leaky_slope: float = 0.2
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: Array, train: bool = True) -> tuple[Array, Array]:
        _, n_down = start_resolution(self.resolution)
        x = conv_trunk(
            x,
            n_down,
            self.base_features,
            train,
            init_std=self.init_std,
            leaky_slope=self.leaky_slope,
            conv_impl=self.conv_impl,
            first_bias=True,
        )[-1]
        h = x.reshape((x.shape[0], -1))
        # Zero-initialized head: q(z | x) starts as N(0, I) for every image, the prior.
        out = nn.Dense(2 * self.latent_dim, kernel_init=nn.initializers.zeros)(h)
        return out[:, : self.latent_dim], out[:, self.latent_dim :]


def reparameterize(key: Array, mean: Array, logvar: Array) -> Array:
    """z = mean + exp(logvar / 2) * eps, eps ~ N(0, I): a sample of q(z | x) that is
    differentiable in mean and logvar (Kingma and Welling 2014)."""
    eps = jax.random.normal(key, mean.shape, mean.dtype)
    return mean + jnp.exp(0.5 * logvar) * eps
