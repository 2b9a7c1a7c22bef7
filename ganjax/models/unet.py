"""pix2pix's U-Net generator (Isola et al. 2017), layer for layer the authors' `UnetGenerator`.

An encoder of `num_downs` 4x4 stride-2 convolutions (PyTorch padding 1) halves the map down to
H / 2^num_downs; a decoder of 4x4 stride-2 transposed convolutions doubles it back, and every
decoder block after the first reads the concatenation [encoder features, decoder features] of its
level (the skip connections). Widths follow the authors: level i of the encoder has
ngf * min(2^i, 8) channels, so num_downs = 8 with ngf = 64 is their `unet_256`
(64-128-256-512-512-512-512-512, 54.4 M parameters) and num_downs = 7 their `unet_128`.

Per level, as in `UnetSkipConnectionBlock`:
  * encoder: LeakyReLU(0.2) -> conv -> norm; the outermost conv sees the raw image and has no
    norm, the innermost (bottleneck) conv has no norm either;
  * decoder: ReLU -> transposed conv -> norm [-> dropout 0.5]; the outermost has a bias, no
    norm, and tanh.
  * Dropout (flax `nn.Dropout`, RNG stream "dropout") follows the `num_dropout_blocks` decoder
    blocks just above the innermost one: the authors' num_downs - 5 (three for unet_256). It is
    pix2pix's only noise source. The paper keeps dropout and batch statistics on at test time;
    call with `train=True` (and discard the updated batch statistics) to do that.

The authors' LeakyReLU is in-place, so their skip connections carry LeakyReLU(encoder
features); here the encoder's norm and LeakyReLU run fused and the skip carries the same values.
(Only ReLU(skip) reaches the next layer, and ReLU(LeakyReLU(x)) = ReLU(x), so either is exact.)

Input sizes. Every level halves H and W exactly, so both must be multiples of 2^num_downs: 256
px takes 8 downsamplings (1x1 bottleneck), 64 px up to 6, 32 px up to 5. 28 px = 4 * 7 takes at
most 2 (a 7x7 bottleneck); for a deeper U-Net on 28 px set `pad_to_fit`, which reflect-pads the
input to the next multiple of 2^num_downs (28 -> 32 for 5 levels, 2 pixels per side) and crops
the output back to the input size.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from ganjax.errors import ConfigError
from ganjax.models.instance_norm import check_norm, conv_uses_bias, norm_act
from ganjax.models.layers import Conv, ConvTranspose, normal_init

Array = jax.Array


def unet_widths(num_downs: int, ngf: int) -> list[int]:
    """Channels of the encoder's levels 0..num_downs-1: ngf * min(2^i, 8) (the authors')."""
    return [ngf * min(2**i, 8) for i in range(num_downs)]


def fit_padding(size: int, multiple: int) -> tuple[int, int]:
    """(low, high) padding that brings `size` up to a multiple of `multiple`, split evenly."""
    total = -size % multiple
    return total // 2, total - total // 2


class UNetGenerator(nn.Module):
    """image [B, H, W, Cin] -> image [B, H, W, out_channels] in [-1, 1].

    Attributes:
      out_channels: output channels (3 for RGB).
      num_downs: stride-2 levels, at least 2 (8 for 256 px, 7 for 128 px; see the module
        docstring for small images).
      ngf: channels of the first (outermost) convolution.
      norm: "batch" (pix2pix's default), "instance" or "none". Convolutions carry a bias except
        before batch norm (`conv_uses_bias`); the outermost transposed convolution always does.
      use_dropout: dropout in the decoder blocks near the bottleneck (pix2pix: on).
      dropout_rate: their drop probability (0.5).
      num_dropout_blocks: how many decoder blocks, counted up from the one above the
        innermost, get dropout; None means the authors' num_downs - 5 (at least 0). It must
        leave out the innermost and the outermost block (at most num_downs - 2).
      pad_to_fit: reflect-pad inputs whose size is not a multiple of 2^num_downs up to one, and
        crop the output back (otherwise such inputs raise ValueError).
      leaky_slope: the encoder's LeakyReLU slope.
      init_std: std of the N(0, std^2) weight init (the authors' init_type 'normal', gain 0.02).
      conv_impl: `ganjax.ops.conv_padded` implementation of the encoder's convolutions.
      conv_transpose_impl: `ganjax.ops.conv_transpose` implementation of the decoder's.
    """

    out_channels: int = 3
    num_downs: int = 8
    ngf: int = 64
    norm: str = "batch"
    use_dropout: bool = True
    dropout_rate: float = 0.5
    num_dropout_blocks: int | None = None
    pad_to_fit: bool = False
    leaky_slope: float = 0.2
    init_std: float = 0.02
    conv_impl: str = "auto"
    conv_transpose_impl: str = "auto"

    def _dropout_levels(self) -> set[int]:
        n = self.num_downs
        k = max(n - 5, 0) if self.num_dropout_blocks is None else self.num_dropout_blocks
        if not 0 <= k <= n - 2:
            raise ConfigError(
                f"num_dropout_blocks={k}: a {n}-level U-Net has {n - 2} decoder blocks between "
                "the innermost and the outermost one"
            )
        return set(range(n - 1 - k, n - 1)) if self.use_dropout else set()

    @nn.compact
    def __call__(self, x: Array, train: bool = True) -> Array:
        n = self.num_downs
        if n < 2:
            raise ConfigError(f"num_downs must be at least 2, got {n}")
        check_norm(self.norm)
        dropout_levels = self._dropout_levels()
        _, h, w, _ = x.shape
        multiple = 2**n
        pads = fit_padding(h, multiple), fit_padding(w, multiple)
        if pads != ((0, 0), (0, 0)):
            if not self.pad_to_fit:
                raise ConfigError(
                    f"A {n}-level U-Net needs H and W divisible by {multiple}, got {h}x{w}; use "
                    "fewer levels or pad_to_fit=True"
                )
            x = jnp.pad(x, ((0, 0), *pads, (0, 0)), mode="reflect")  # [B, H', W', Cin]
        use_bias = conv_uses_bias(self.norm)
        widths = unet_widths(n, self.ngf)
        init = normal_init(self.init_std)

        # 4x4 stride-2 layers with PyTorch padding 1: exact halving / doubling of even sizes.
        down = functools.partial(
            Conv, kernel_size=4, stride=2, padding=1, kernel_init=init, impl=self.conv_impl
        )
        up = functools.partial(
            ConvTranspose,
            kernel_size=4,
            stride=2,
            padding=1,
            kernel_init=init,
            impl=self.conv_transpose_impl,
        )
        norm = functools.partial(norm_act, norm=self.norm, train=train, init_std=self.init_std)

        # Encoder. skips[i] = LeakyReLU(level i's normalized output), [B, H / 2^(i+1), ., w_i].
        x = down(widths[0], use_bias=use_bias, name="down_0")(x)
        skips = [nn.leaky_relu(x, self.leaky_slope)]
        for i in range(1, n - 1):
            y = down(widths[i], use_bias=use_bias, name=f"down_{i}")(skips[-1])
            y = norm(
                y, name=f"down_norm_{i}", activation="leaky_relu", leaky_slope=self.leaky_slope
            )
            skips.append(y)
        y = down(widths[n - 1], use_bias=use_bias, name=f"down_{n - 1}")(skips[-1])
        # y: the bottleneck, [B, H / 2^n, W / 2^n, w_{n-1}].
        # Decoder: level i maps back to level i - 1's resolution and width, then concatenates
        # that level's skip (first, as the authors' torch.cat([x, model(x)], 1)).
        for i in range(n - 1, 0, -1):
            y = up(widths[i - 1], use_bias=use_bias, name=f"up_{i}")(nn.relu(y))
            y = norm(y, name=f"up_norm_{i}")
            if i in dropout_levels:
                y = nn.Dropout(self.dropout_rate, deterministic=not train)(y)
            y = jnp.concatenate([skips[i - 1], y], axis=-1)  # [B, ., ., 2 * w_{i-1}]
        y = up(self.out_channels, use_bias=True, name="up_0")(nn.relu(y))
        y = jnp.tanh(y)  # [B, H', W', out_channels]
        (top, _), (left, _) = pads
        return y[:, top : top + h, left : left + w]  # [B, H, W, out_channels]
