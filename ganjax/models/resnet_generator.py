"""CycleGAN's ResNet generator (Zhu et al. 2017, after Johnson et al. 2016), layer for layer the
authors' `ResnetGenerator` / `ResnetBlock`.

  reflect-pad 3, 7x7 conv (ngf), norm, ReLU
  2 x [3x3 stride-2 conv, PyTorch padding 1 (2 ngf, 4 ngf), norm, ReLU]
  num_blocks x residual block at 4 ngf: x + [reflect-pad 1, 3x3 conv, norm, ReLU, (dropout),
               reflect-pad 1, 3x3 conv, norm]
  2 x [3x3 stride-2 transposed conv, padding 1, output_padding 1 (2 ngf, ngf), norm, ReLU]
  reflect-pad 3, 7x7 conv (out_channels, with bias), tanh

num_blocks = 9 is the authors' `resnet_9blocks` (256 px; 11.378 M parameters with ngf = 64 and
instance norm), 6 their `resnet_6blocks` (128 px). Sizes: the two stride-2 convolutions give
ceil(H / 2) then ceil(. / 2), and each transposed convolution exactly doubles, so the output has
the input's size exactly when H and W are multiples of 4 (28, 32, 64, 256 ...); other sizes
raise ValueError (the authors' network would silently return a larger image).

PyTorch's ConvTranspose2d(3, stride 2, padding 1, output_padding 1) is the padding-0 transposed
convolution (output 2n + 1) with its first row and column dropped: output_padding adds the row
and column on the high side that padding 1 would have cropped there. So the layer here is
`ganjax.models.layers.ConvTranspose(padding=0)` followed by that crop (same [3, 3, Cin, Cout]
kernel, exact PyTorch values).
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from ganjax.errors import ConfigError
from ganjax.models.instance_norm import check_norm, conv_uses_bias, norm_act, reflect_pad
from ganjax.models.layers import Conv, ConvTranspose, normal_init

Array = jax.Array


class ResnetBlock(nn.Module):
    """x + F(x), F = reflect-pad 1, 3x3 conv, norm, ReLU, [dropout], reflect-pad 1, 3x3 conv, norm.

    Attributes:
      norm: "batch", "instance" or "none" (see `ganjax.models.instance_norm.norm_act`).
      use_dropout: dropout between the two convolutions (the authors' --no_dropout is the
        CycleGAN default, so off).
      dropout_rate: its drop probability.
      init_std: std of the N(0, std^2) weight init.
      conv_impl: `ganjax.ops.conv_padded` implementation.
    """

    norm: str = "instance"
    use_dropout: bool = False
    dropout_rate: float = 0.5
    init_std: float = 0.02
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: Array, train: bool = True) -> Array:
        dim = x.shape[-1]
        conv = functools.partial(
            Conv,
            dim,
            kernel_size=3,
            stride=1,
            padding=0,  # After the reflection padding.
            use_bias=conv_uses_bias(self.norm),
            kernel_init=normal_init(self.init_std),
            impl=self.conv_impl,
        )
        norm = functools.partial(norm_act, norm=self.norm, train=train, init_std=self.init_std)
        y = conv(name="conv_0")(reflect_pad(x, 1))  # [B, H, W, dim]
        y = norm(y, name="norm_0", activation="relu")
        if self.use_dropout:
            y = nn.Dropout(self.dropout_rate, deterministic=not train)(y)
        y = norm(conv(name="conv_1")(reflect_pad(y, 1)), name="norm_1")
        return x + y


class ResNetGenerator(nn.Module):
    """image [B, H, W, Cin] -> image [B, H, W, out_channels] in [-1, 1] (H, W multiples of 4).

    Attributes:
      out_channels: output channels (3 for RGB).
      ngf: channels of the first convolution (4 ngf in the residual blocks).
      num_blocks: residual blocks (9 for 256 px, 6 for 128 px).
      norm: "instance" (the authors' CycleGAN default: no affine parameters, the sample's own
        statistics at test time too), "batch" or "none". Convolutions carry a bias except
        before batch norm (`conv_uses_bias`); the last 7x7 convolution always does.
      use_dropout: dropout inside the residual blocks.
      dropout_rate: its drop probability.
      init_std: std of the N(0, std^2) weight init (the authors' init_type 'normal', gain 0.02).
      conv_impl: `ganjax.ops.conv_padded` implementation of the convolutions.
      conv_transpose_impl: `ganjax.ops.conv_transpose` implementation of the upsampling layers.
    """

    out_channels: int = 3
    ngf: int = 64
    num_blocks: int = 9
    norm: str = "instance"
    use_dropout: bool = False
    dropout_rate: float = 0.5
    init_std: float = 0.02
    conv_impl: str = "auto"
    conv_transpose_impl: str = "auto"

    @nn.compact
    def __call__(self, x: Array, train: bool = True) -> Array:
        check_norm(self.norm)
        if self.num_blocks < 0:
            raise ConfigError(f"num_blocks must be >= 0, got {self.num_blocks}")
        if x.shape[1] % 4 or x.shape[2] % 4:
            # Two stride-2 layers round up and two upsamplings double: 30 px would come out 32.
            raise ConfigError(f"H and W must be multiples of 4, got {x.shape[1]}x{x.shape[2]}")
        use_bias = conv_uses_bias(self.norm)
        init = normal_init(self.init_std)
        conv = functools.partial(Conv, kernel_init=init, impl=self.conv_impl)
        norm = functools.partial(norm_act, norm=self.norm, train=train, init_std=self.init_std)

        x = conv(self.ngf, 7, 1, 0, use_bias=use_bias, name="conv_in")(reflect_pad(x, 3))
        x = norm(x, name="norm_in", activation="relu")  # [B, H, W, ngf]
        for i in range(2):
            x = conv(self.ngf * 2 ** (i + 1), 3, 2, 1, use_bias=use_bias, name=f"down_{i}")(x)
            x = norm(x, name=f"down_norm_{i}", activation="relu")
        # x: [B, H / 4, W / 4, 4 ngf]
        for b in range(self.num_blocks):
            x = ResnetBlock(
                norm=self.norm,
                use_dropout=self.use_dropout,
                dropout_rate=self.dropout_rate,
                init_std=self.init_std,
                conv_impl=self.conv_impl,
                name=f"block_{b}",
            )(x, train)
        for i in range(2):
            x = ConvTranspose(
                self.ngf * 2 ** (1 - i),
                kernel_size=3,
                stride=2,
                padding=0,
                use_bias=use_bias,
                kernel_init=init,
                impl=self.conv_transpose_impl,
                name=f"up_{i}",
            )(x)  # [B, 2 h + 1, 2 w + 1, C]
            # = ConvTranspose2d(3, 2, padding=1, output_padding=1): drop the first row / column.
            x = x[:, 1:, 1:]  # [B, 2 h, 2 w, C]
            x = norm(x, name=f"up_norm_{i}", activation="relu")
        x = conv(self.out_channels, 7, 1, 0, use_bias=True, name="conv_out")(reflect_pad(x, 3))
        return jnp.tanh(x)  # [B, H, W, out_channels]
