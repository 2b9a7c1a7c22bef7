"""The pix2pix / CycleGAN discriminators: PatchGAN, PixelGAN and ImageGAN (Isola et al. 2017).

`PatchGANDiscriminator` is the authors' `NLayerDiscriminator`: `n_layers` 4x4 stride-2
convolutions, then two 4x4 stride-1 ones, all with PyTorch padding 1, LeakyReLU(0.2), norm on
every convolution but the first and the last, widths ndf * min(2^i, 8), and a final 1-channel
convolution. It returns a map of logits, one per overlapping patch: with n_layers = 3 each sees a
70x70 patch (the paper's default "70x70 PatchGAN"; a 256 px input gives a 30x30 map), and in
general `receptive_field(n_layers)` = 9 * 2^n_layers - 2 pixels: 16 for n_layers = 1 (the
paper's 16x16 PatchGAN), 286 for n_layers = 5, the paper's "286x286 ImageGAN", whose
receptive field covers the whole (jittered, 286 px) training image. `image_gan_layers` picks
that depth for a given resolution.

`PixelGANDiscriminator` is the authors' `PixelDiscriminator`: 1x1 convolutions only, so every
output judges one pixel (a 1x1 receptive field).

pix2pix's discriminators are conditional: they see the input and the output image stacked on the
channel axis (`conditional_input`), 6 channels for RGB -> RGB.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from ganjax.errors import ConfigError
from ganjax.models.instance_norm import check_norm, conv_uses_bias, norm_act
from ganjax.models.layers import Conv, normal_init

Array = jax.Array


def receptive_field(n_layers: int) -> int:
    """Receptive field (pixels per side) of a PatchGAN with `n_layers` stride-2 convolutions.

    Backwards from one output: the two 4x4 stride-1 layers see 4 + 3 = 7 positions, and each 4x4
    stride-2 layer maps r positions to 2 r + 2, so r = 7 * 2^n + 2 (2^n - 1) = 9 * 2^n - 2.
    """
    return 9 * 2**n_layers - 2


def image_gan_layers(resolution: int) -> int:
    """The smallest n_layers whose receptive field covers a `resolution`-pixel image (the
    ImageGAN): 5 for 256 and 286 px (286 px field), 3 for 64 px, 2 for 28 and 32 px.

    Raises:
      ValueError: if that many stride-2 layers leave no output for this resolution.
    """
    n = 1
    while receptive_field(n) < resolution:
        n += 1
    if resolution // 2**n < 3:  # The two stride-1 4x4 layers need a 3x3 map.
        raise ConfigError(f"No PatchGAN covers a {resolution} px image and still has an output")
    return n


def conditional_input(source: Array, image: Array) -> Array:
    """pix2pix's discriminator input: [B, H, W, Cs + Ci], the source first (the authors'
    torch.cat((real_A, fake_B), 1))."""
    return jnp.concatenate([source, image], axis=-1)


def _layers(module, *, kernel_size: int, padding: int, train: bool):
    """The convolution and the norm + LeakyReLU partials both discriminators build their layers
    from, configured by the module's init_std, conv_impl, norm and leaky_slope."""
    conv = functools.partial(
        Conv,
        kernel_size=kernel_size,
        stride=1,
        padding=padding,
        kernel_init=normal_init(module.init_std),
        impl=module.conv_impl,
    )
    norm = functools.partial(
        norm_act,
        norm=module.norm,
        train=train,
        activation="leaky_relu",
        leaky_slope=module.leaky_slope,
        init_std=module.init_std,
    )
    return conv, norm


class PatchGANDiscriminator(nn.Module):
    """image [B, H, W, C] -> patch logits [B, H', W', 1] (H' = H / 2^n_layers - 2 for H a
    multiple of 2^n_layers; 30x30 for 256 px and n_layers = 3).

    Attributes:
      ndf: channels of the first convolution.
      n_layers: stride-2 convolutions (3: 70x70 PatchGAN; 1: 16x16; 5: 286x286 ImageGAN).
      norm: "batch" (the authors' default), "instance" or "none". The first and last
        convolutions have a bias and no norm; the others have a bias only without batch norm.
      leaky_slope: LeakyReLU slope.
      init_std: std of the N(0, std^2) weight init (the authors' init_type 'normal', gain 0.02).
      conv_impl: `ganjax.ops.conv_padded` implementation.
    """

    ndf: int = 64
    n_layers: int = 3
    norm: str = "batch"
    leaky_slope: float = 0.2
    init_std: float = 0.02
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: Array, train: bool = True) -> Array:
        check_norm(self.norm)
        if self.n_layers < 1:
            raise ConfigError(f"n_layers must be at least 1, got {self.n_layers}")
        use_bias = conv_uses_bias(self.norm)
        conv, norm = _layers(self, kernel_size=4, padding=1, train=train)
        x = nn.leaky_relu(
            conv(self.ndf, stride=2, use_bias=True, name="conv_0")(x), self.leaky_slope
        )
        # Layers 1..n_layers - 1 halve the map; layer n_layers keeps it (minus one pixel).
        for i in range(1, self.n_layers + 1):
            stride = 2 if i < self.n_layers else 1
            features = self.ndf * min(2**i, 8)
            x = conv(features, stride=stride, use_bias=use_bias, name=f"conv_{i}")(x)
            x = norm(x, name=f"norm_{i}")
        # [B, H', W', 1]: one logit per patch.
        return conv(1, stride=1, use_bias=True, name=f"conv_{self.n_layers + 1}")(x)


class PixelGANDiscriminator(nn.Module):
    """image [B, H, W, C] -> per-pixel logits [B, H, W, 1] (the authors' `PixelDiscriminator`).

    1x1 conv (ndf, bias), LeakyReLU, 1x1 conv (2 ndf), norm, LeakyReLU, 1x1 conv (1). As in the
    authors' code the last two convolutions carry a bias only without batch norm.

    Attributes:
      ndf: channels of the first convolution.
      norm: "batch", "instance" or "none".
      leaky_slope: LeakyReLU slope.
      init_std: std of the N(0, std^2) weight init.
      conv_impl: `ganjax.ops.conv_padded` implementation.
    """

    ndf: int = 64
    norm: str = "batch"
    leaky_slope: float = 0.2
    init_std: float = 0.02
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: Array, train: bool = True) -> Array:
        check_norm(self.norm)
        use_bias = conv_uses_bias(self.norm)
        conv, norm = _layers(self, kernel_size=1, padding=0, train=train)
        x = nn.leaky_relu(conv(self.ndf, use_bias=True, name="conv_0")(x), self.leaky_slope)
        x = conv(2 * self.ndf, use_bias=use_bias, name="conv_1")(x)
        x = norm(x, name="norm_1")
        return conv(1, use_bias=use_bias, name="conv_2")(x)  # [B, H, W, 1]
