"""DCGAN (Radford et al. 2016) generator and discriminator for 28, 32, 64 (any 4..7 * 2^n) pixels.

The generator projects z to a start x start map (start = 7 for 28 px, 4 for 32 and 64 px) and
doubles the resolution with 4x4 stride-2 transposed convolutions (PyTorch padding 1) until it
reaches the target; the discriminator mirrors it with 4x4 stride-2 convolutions. Widths double
every layer away from the image, so DCGAN-64 with 64 base features is exactly the standard network
(512-256-128-64 generator maps, 64-128-256-512 discriminator maps, no bias before batch norm).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from ganjax.models.layers import BatchNorm, Conv, ConvTranspose, normal_init

Array = jax.Array


def start_resolution(resolution: int) -> tuple[int, int]:
    """Returns (start, num_doublings) with start in 4..7 and start * 2^num_doublings = resolution.

    Raises:
      ValueError: if no such factorization with at least one doubling exists.
    """
    n, r = 0, resolution
    while r % 2 == 0 and r > 7:
        r //= 2
        n += 1
    if not 4 <= r <= 7 or n < 1:
        raise ValueError(
            f"DCGAN resolution {resolution} is not start * 2^n with start in 4..7 and n >= 1; "
            "use 28, 32, 48, 56 or 64, for example."
        )
    return r, n


def _batch_norm(train: bool, init_std: float, activation: str = "none", leaky_slope: float = 0.2) -> BatchNorm:
    # PyTorch's default momentum 0.1 is Flax's 0.9; scale ~ N(1, init_std) as in Radford et al.
    # The activation runs in the same pass (see layers.batch_norm_act).
    return BatchNorm(
        use_running_average=not train,
        momentum=0.9,
        epsilon=1e-5,
        activation=activation,
        leaky_slope=leaky_slope,
        scale_init=lambda k, s, d=jnp.float32: 1.0 + init_std * jax.random.normal(k, s, d),
    )


class DCGANGenerator(nn.Module):
    """z [B, nz] -> image [B, R, R, C] in [-1, 1]."""

    resolution: int
    channels: int = 3
    base_features: int = 64
    init_std: float = 0.02
    conv_transpose_impl: str = "auto"

    @nn.compact
    def __call__(self, z: Array, train: bool = True) -> Array:
        start, n_up = start_resolution(self.resolution)
        features = self.base_features * 2 ** (n_up - 1)
        # Equivalent to PyTorch's ConvTranspose2d(nz, features, start, 1, 0) on a 1x1 input.
        x = nn.Dense(start * start * features, use_bias=False, kernel_init=normal_init(self.init_std))(z)
        x = x.reshape((z.shape[0], start, start, features))  # [B, s, s, F]
        x = _batch_norm(train, self.init_std, "relu")(x)
        for _ in range(n_up - 1):
            features //= 2
            x = ConvTranspose(
                features, kernel_init=normal_init(self.init_std), impl=self.conv_transpose_impl
            )(x)
            x = _batch_norm(train, self.init_std, "relu")(x)
        x = ConvTranspose(
            self.channels, kernel_init=normal_init(self.init_std), impl=self.conv_transpose_impl
        )(x)
        return jnp.tanh(x)  # [B, R, R, C]


class DCGANDiscriminator(nn.Module):
    """image [B, R, R, C] -> one real/fake logit per image [B].

    With `return_features=True` it also returns the flattened last feature map, the layer that
    feature matching compares.
    """

    resolution: int
    base_features: int = 64
    init_std: float = 0.02
    leaky_slope: float = 0.2
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: Array, train: bool = True, return_features: bool = False):
        _, n_down = start_resolution(self.resolution)
        features = self.base_features
        for i in range(n_down):
            x = Conv(
                features, kernel_size=4, stride=2, padding=1, kernel_init=normal_init(self.init_std), impl=self.conv_impl
            )(x)
            if i > 0:  # Radford et al.: no batch norm on the discriminator's input layer.
                x = _batch_norm(train, self.init_std, "leaky_relu", self.leaky_slope)(x)
            else:
                x = nn.leaky_relu(x, self.leaky_slope)
            features *= 2
        h = x.reshape((x.shape[0], -1))
        # Equivalent to PyTorch's final Conv2d(8 * ndf, 1, 4, 1, 0) on the 4x4 map.
        logits = nn.Dense(1, use_bias=False, kernel_init=normal_init(self.init_std))(h)[:, 0]
        return (logits, h) if return_features else logits
