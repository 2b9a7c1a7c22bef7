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

from ganjax.errors import ConfigError
from ganjax.models.layers import Conv, ConvTranspose, gan_batch_norm, normal_init
from ganjax.models.spectral_norm import SpectralNorm

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
        raise ConfigError(
            f"DCGAN resolution {resolution} is not start * 2^n with start in 4..7 and n >= 1; "
            "use 28, 32, 48, 56 or 64, for example."
        )
    return r, n


class DCGANGenerator(nn.Module):
    """z [B, nz] -> image [B, R, R, C] in [-1, 1].

    With `num_classes` > 0 it is class-conditional through conditional batch norm (de Vries et
    al. 2017): `__call__(z, labels)`, and every batch norm's output x_hat becomes
    x_hat * (1 + gamma[y]) + beta[y], with per-class gamma and beta initialized to 0 (so the
    network starts as the unconditional one).
    """

    resolution: int
    channels: int = 3
    base_features: int = 64
    init_std: float = 0.02
    conv_transpose_impl: str = "auto"
    num_classes: int = 0

    def _norm_relu(self, x: Array, labels: Array | None, train: bool) -> Array:
        if not self.num_classes:
            return gan_batch_norm(train, self.init_std, "relu")(x)
        x = gan_batch_norm(train, self.init_std)(x)
        c = x.shape[-1]
        gamma = nn.Embed(self.num_classes, c, embedding_init=nn.initializers.zeros)(labels)
        beta = nn.Embed(self.num_classes, c, embedding_init=nn.initializers.zeros)(labels)
        return nn.relu(x * (1.0 + gamma[:, None, None, :]) + beta[:, None, None, :])

    @nn.compact
    def __call__(self, z: Array, labels: Array | None = None, train: bool = True) -> Array:
        if self.num_classes and labels is None:
            raise ValueError("A class-conditional DCGANGenerator needs labels")
        start, n_up = start_resolution(self.resolution)
        features = self.base_features * 2 ** (n_up - 1)
        # Equivalent to PyTorch's ConvTranspose2d(nz, features, start, 1, 0) on a 1x1 input.
        x = nn.Dense(
            start * start * features, use_bias=False, kernel_init=normal_init(self.init_std)
        )(z)
        x = x.reshape((z.shape[0], start, start, features))  # [B, s, s, F]
        x = self._norm_relu(x, labels, train)
        for _ in range(n_up - 1):
            features //= 2
            x = ConvTranspose(
                features, kernel_init=normal_init(self.init_std), impl=self.conv_transpose_impl
            )(x)
            x = self._norm_relu(x, labels, train)
        x = ConvTranspose(
            self.channels, kernel_init=normal_init(self.init_std), impl=self.conv_transpose_impl
        )(x)
        return jnp.tanh(x)  # [B, R, R, C]


NORMS = ("batch", "none", "layer")


def _spectral(layer: nn.Module, x: Array, enabled: bool, train: bool) -> Array:
    """layer(x), with the layer's weights spectrally normalized when `enabled` (see
    DCGANDiscriminator). `SpectralNorm` flattens every weight of rank > 2 to
    [prod(leading dims), last dim], so a Conv's HWIO kernel is the [H * W * I, O] matrix of the
    paper, and it leaves 1-D weights (biases) alone."""
    if not enabled:
        return layer(x)
    return SpectralNorm(layer)(x, update_stats=train)


def conv_trunk(
    x: Array,
    n_down: int,
    base_features: int,
    train: bool,
    *,
    init_std: float,
    leaky_slope: float,
    conv_impl: str,
    norm: str = "batch",
    spectral_norm: bool = False,
    first_bias: bool = False,
) -> list[Array]:
    """The discriminator's (and the encoder's) trunk, called inside a compact module: `n_down`
    4x4 stride-2 convolutions, widths doubling from `base_features`, each followed by `norm`
    ("batch", "layer" or "none"; never on the input layer, as in Radford et al.) and leaky
    ReLU. Convolutions carry a bias when there is no batch norm after them, and the first one
    also with `first_bias`. Returns every block's output."""
    blocks = []
    features = base_features
    for i in range(n_down):
        conv = Conv(
            features,
            kernel_size=4,
            stride=2,
            padding=1,
            use_bias=norm != "batch" or (first_bias and i == 0),
            kernel_init=normal_init(init_std),
            impl=conv_impl,
        )
        x = _spectral(conv, x, spectral_norm, train)
        if i == 0:  # Radford et al.: no normalization on the discriminator's input layer.
            x = nn.leaky_relu(x, leaky_slope)
        elif norm == "batch":
            x = gan_batch_norm(train, init_std, "leaky_relu", leaky_slope)(x)
        elif norm == "layer":
            # Statistics per sample over (H, W, C); scale and offset per channel.
            x = nn.LayerNorm(epsilon=1e-5, reduction_axes=(1, 2, 3), feature_axes=-1)(x)
            x = nn.leaky_relu(x, leaky_slope)
        else:
            x = nn.leaky_relu(x, leaky_slope)
        blocks.append(x)
        features *= 2
    return blocks


class DCGANDiscriminator(nn.Module):
    """image [B, R, R, C] -> one real/fake logit per image [B].

    With `return_features=True` it also returns a flattened feature map: by default
    (`feature_layer=-1`) the last, the layer that feature matching compares; `feature_layer=l`
    (1-based, or negative from the end) the output of the l-th convolution block, the layer a
    VAE-GAN's reconstruction loss compares (Larsen et al. 2016's Dis_l). With
    `features_only=True` it returns only the last block's feature map [B, h, w, C], unflattened,
    and builds no logit layer: for a head of the caller's own (the projection discriminator's
    psi on sum-pooled features, ganjax/models/conditional.py).

    Attributes:
      resolution: input size R (see `start_resolution`).
      base_features: channels of the first convolution; they double every layer.
      init_std: std of the N(0, std^2) weight init (and of batch norm's N(1, std^2) scale).
      leaky_slope: LeakyReLU slope.
      conv_impl: convolution implementation, see `ganjax.ops.conv_padded`.
      spectral_norm: divide the weight of every Conv and of the final Dense by its largest
        singular value sigma (Miyato et al. 2018; a conv kernel is the [H * W * Cin, Cout]
        matrix), estimated by one power iteration per training forward pass (`train=True`) from
        a persistent vector u. u and the last sigma live in the "batch_stats" collection, under
        `SpectralNorm_<i>` with names "<layer>/kernel/u" and "<layer>/kernel/sigma", so training
        code that already threads `batch_stats` through every D forward pass
        (`mutable=["batch_stats"]`) updates and checkpoints them unchanged. They change only
        when `train=True`; with `train=False`, u is used as stored (sigma is the deterministic
        estimate one power-iteration step from it, not written back). Gradients see sigma as a
        function of the weight with u and v held fixed, as in the paper. Parameter names and
        initial values are those of the network without spectral normalization for the same
        key (`init` draws u from the "params" RNG in a scope of its own, and `SpectralNorm`
        avoids flax's write-back of normalized weights at init).
      norm: normalization after every convolution but the first: "batch" (Radford et al.'s
        batch norm; the default, exactly the original network), "none" (the SNGAN / WGAN-GP
        critic: no normalization), or "layer" (layer norm over H, W and C of each sample, with a
        per-channel scale and offset, which Gulrajani et al. recommend for a WGAN-GP critic, as
        a gradient penalty per sample is not well defined under batch norm). With "none" and
        "layer" every Conv and the final Dense also get a bias, as in those critics; with
        "batch" none has one (a bias before batch norm is redundant).
    """

    resolution: int
    base_features: int = 64
    init_std: float = 0.02
    leaky_slope: float = 0.2
    conv_impl: str = "auto"
    spectral_norm: bool = False
    norm: str = "batch"

    @nn.compact
    def __call__(
        self,
        x: Array,
        train: bool = True,
        return_features: bool = False,
        feature_layer: int = -1,
        features_only: bool = False,
    ):
        if self.norm not in NORMS:
            raise ConfigError(f"Unknown discriminator norm {self.norm!r}; use one of {NORMS}")
        _, n_down = start_resolution(self.resolution)
        layer = feature_layer if feature_layer < 0 else feature_layer - 1
        if not -n_down <= layer < n_down:
            raise ConfigError(
                f"feature_layer {feature_layer}: this {self.resolution} px discriminator has "
                f"{n_down} convolution blocks (use 1..{n_down}, or -1 for the last)"
            )
        use_bias = self.norm != "batch"
        blocks = conv_trunk(
            x,
            n_down,
            self.base_features,
            train,
            init_std=self.init_std,
            leaky_slope=self.leaky_slope,
            conv_impl=self.conv_impl,
            norm=self.norm,
            spectral_norm=self.spectral_norm,
        )
        x = blocks[-1]
        if features_only:
            return x  # [B, h, w, C]
        h = x.reshape((x.shape[0], -1))
        # Equivalent to PyTorch's final Conv2d(8 * ndf, 1, 4, 1, 0) on the 4x4 map.
        dense = nn.Dense(1, use_bias=use_bias, kernel_init=normal_init(self.init_std))
        logits = _spectral(dense, h, self.spectral_norm, train)[:, 0]
        if not return_features:
            return logits
        return logits, blocks[layer].reshape((x.shape[0], -1))
