"""Flax layers of the model definitions: convolutions, PyTorch-compatible transposed convolutions
and batch norm, on ganjax's fast CPU paths, and the weight initializer.

`ConvTranspose` follows PyTorch's `ConvTranspose2d(kernel, stride, padding)` arithmetic
(output = (in - 1) * stride - 2 * padding + kernel), so DCGAN layer shapes are exact at every
resolution and the networks compare one-to-one with the PyTorch reference. The kernels these
modules call (im2col, Winograd and sub-pixel convolutions, the fused batch norm + activation, all
with hand-written gradients) live in `ganjax.ops`.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from ganjax.ops import (
    Activation,
    ConvImpl,
    ConvTransposeImpl,
    activate,
    batch_norm_act,
    conv_padded,
    conv_transpose,
)

Array = jax.Array


def normal_init(std: float):
    """N(0, std^2) initializer (Radford et al. use std 0.02)."""
    return nn.initializers.normal(stddev=std)


class Conv(nn.Module):
    """2-D convolution (square kernel; int, "SAME" or "VALID" padding) on the fast-gradient path."""

    features: int
    kernel_size: int = 4
    stride: int = 2
    padding: int | str = 1
    use_bias: bool = False
    kernel_init: nn.initializers.Initializer = normal_init(0.02)
    impl: ConvImpl = "auto"  # See `ganjax.ops.conv_padded`.

    @nn.compact
    def __call__(self, x: Array) -> Array:
        k = self.kernel_size
        kernel = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features))
        y = conv_padded(x, kernel.astype(x.dtype), self.stride, self.padding, impl=self.impl)
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,)).astype(x.dtype)
        return y


class ConvTranspose(nn.Module):
    """PyTorch-style 2-D transposed convolution with a square kernel.

    Attributes:
      features: output channels.
      kernel_size: square kernel size K.
      stride: upsampling factor.
      padding: PyTorch's `padding` argument.
      use_bias: add a bias (off before batch norm).
      kernel_init: kernel initializer.
      impl: "direct" (input-dilated convolution), "subpixel" (stride^2 small convolutions and a
        depth-to-space interleave), "gemm" (the adjoint of the matching convolution as matrix
        products), "winograd" (that adjoint by Winograd F(2x2, 2x2); the fastest on CPU for 4x4
        stride-2 layers) or "auto" (the fastest for the current backend and layer). All give the
        same outputs and gradients to float32 rounding.
    """

    features: int
    kernel_size: int = 4
    stride: int = 2
    padding: int = 1
    use_bias: bool = False
    kernel_init: nn.initializers.Initializer = normal_init(0.02)
    impl: ConvTransposeImpl = "auto"

    @nn.compact
    def __call__(self, x: Array) -> Array:
        k = self.kernel_size
        kernel = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features))
        kernel = kernel.astype(x.dtype)
        y = conv_transpose(x, kernel, self.stride, self.padding, impl=self.impl)
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,)).astype(x.dtype)
        return y


class BatchNorm(nn.Module):
    """flax's `nn.BatchNorm` over the last axis (same variables, names and running-average update)
    with an optional activation applied in the same pass (`batch_norm_act`)."""

    use_running_average: bool = False
    momentum: float = 0.99
    epsilon: float = 1e-5
    activation: Activation = "none"
    leaky_slope: float = 0.2
    scale_init: nn.initializers.Initializer = nn.initializers.ones
    bias_init: nn.initializers.Initializer = nn.initializers.zeros

    @nn.compact
    def __call__(self, x: Array) -> Array:
        if self.activation not in ("none", "relu", "leaky_relu"):
            raise ValueError(
                "BatchNorm activation must be 'none', 'relu' or 'leaky_relu', "
                f"not {self.activation!r}"
            )
        c = x.shape[-1]
        ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((c,), jnp.float32))
        ra_var = self.variable("batch_stats", "var", lambda: jnp.ones((c,), jnp.float32))
        scale = self.param("scale", self.scale_init, (c,), jnp.float32)
        bias = self.param("bias", self.bias_init, (c,), jnp.float32)
        if self.use_running_average:
            a = scale * lax.rsqrt(ra_var.value + self.epsilon)
            return activate(
                x * a + (bias - ra_mean.value * a), self.activation, self.leaky_slope
            ).astype(x.dtype)
        out, mean, var = batch_norm_act(
            x, scale, bias, self.epsilon, self.activation, self.leaky_slope
        )
        if not self.is_initializing():
            ra_mean.value = self.momentum * ra_mean.value + (
                1.0 - self.momentum
            ) * lax.stop_gradient(mean)
            ra_var.value = self.momentum * ra_var.value + (1.0 - self.momentum) * lax.stop_gradient(
                var
            )
        return out


def gan_batch_norm(
    train: bool,
    init_std: float,
    activation: str = "none",
    leaky_slope: float = 0.2,
    name: str | None = None,
) -> BatchNorm:
    """The GAN papers' batch norm: PyTorch's defaults (momentum 0.1, which is Flax's 0.9; epsilon
    1e-5) and a scale initialized from N(1, init_std^2) (Radford et al.'s init, which the
    pix2pix / CycleGAN authors' code keeps); the activation runs in the same pass
    (`ganjax.ops.batch_norm_act`)."""
    return BatchNorm(
        use_running_average=not train,
        momentum=0.9,
        epsilon=1e-5,
        activation=activation,
        leaky_slope=leaky_slope,
        scale_init=lambda k, s, d=jnp.float32: 1.0 + init_std * jax.random.normal(k, s, d),
        name=name,
    )
