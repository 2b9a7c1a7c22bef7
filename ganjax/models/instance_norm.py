"""Instance normalization (Ulyanov et al. 2016) and the normalization switch shared by the
image-to-image translation networks (`unet`, `resnet_generator`, `patchgan`).

`InstanceNorm` normalizes every sample's channels over H and W with that sample's own statistics,
at training and at test time alike: PyTorch's `InstanceNorm2d(affine=False,
track_running_stats=False)`, which is what the pix2pix / CycleGAN authors' `get_norm_layer
('instance')` builds. `norm_act` picks batch norm, instance norm or none by name and applies the
activation that follows it, so every translation network spells its layers the same way.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from ganjax.errors import ConfigError
from ganjax.models.layers import gan_batch_norm
from ganjax.ops import Activation, activate

Array = jax.Array
NORMS = ("batch", "instance", "none")


class InstanceNorm(nn.Module):
    """Per-sample, per-channel normalization over the spatial axes of [B, H, W, C] inputs.

    y = (x - mean_hw) / sqrt(var_hw + epsilon), with the biased variance (as PyTorch), computed in
    float32 and returned in the input's dtype; with `affine`, y * scale + bias per channel.

    Attributes:
      epsilon: added to the variance.
      affine: learn a per-channel scale (initialized to 1) and offset (initialized to 0). Off by
        default, as in the authors' CycleGAN and pix2pix networks (no parameters).
    """

    epsilon: float = 1e-5
    affine: bool = False

    @nn.compact
    def __call__(self, x: Array) -> Array:
        xf = x.astype(jnp.float32)  # [B, H, W, C]
        mean = xf.mean(axis=(1, 2), keepdims=True)  # [B, 1, 1, C]
        var = jnp.square(xf - mean).mean(axis=(1, 2), keepdims=True)
        y = (xf - mean) * lax.rsqrt(var + self.epsilon)
        if self.affine:
            c = x.shape[-1]
            y = y * self.param("scale", nn.initializers.ones, (c,), jnp.float32)
            y = y + self.param("bias", nn.initializers.zeros, (c,), jnp.float32)
        return y.astype(x.dtype)


def check_norm(norm: str) -> None:
    """Raises ValueError naming the choices for an unknown normalization."""
    if norm not in NORMS:
        raise ConfigError(f"Unknown norm {norm!r}; choose one of {', '.join(NORMS)}")


def conv_uses_bias(norm: str) -> bool:
    """Whether a convolution followed by `norm` carries a bias.

    The authors set `use_bias = norm_layer is InstanceNorm2d`: no bias before batch norm, whose
    shift makes it redundant, and a bias before instance norm (cancelled by the normalization too,
    but kept so that the networks and parameter counts are theirs). With no normalization the
    bias is not redundant, so "none" keeps it (the authors' code, whose 'none' norm is an
    Identity, drops it there by accident of that test).
    """
    check_norm(norm)
    return norm != "batch"


def norm_act(
    x: Array,
    norm: str,
    *,
    train: bool,
    name: str,
    activation: Activation = "none",
    leaky_slope: float = 0.2,
    init_std: float = 0.02,
    instance_affine: bool = False,
) -> Array:
    """`norm` ("batch", "instance" or "none") followed by `activation`, inside a compact module.

    Batch norm is ganjax's `BatchNorm` with the activation fused into the same pass, PyTorch's
    momentum 0.1 (flax's 0.9), epsilon 1e-5 and the authors' N(1, init_std^2) scale init; it uses
    batch statistics when `train` and the running averages otherwise. Instance norm uses the
    sample's own statistics in both modes.

    Args:
      x: [B, H, W, C] input.
      norm: the normalization.
      train: training mode (batch norm only).
      name: the normalization module's name in the parameter tree (unused for "none").
      activation: "none", "relu" or "leaky_relu" applied after the normalization.
      leaky_slope: negative slope of "leaky_relu".
      init_std: std of batch norm's scale init around 1.
      instance_affine: give instance norm a learned scale and offset.

    Returns:
      [B, H, W, C], the input's dtype.
    """
    check_norm(norm)
    if norm == "batch":
        return gan_batch_norm(train, init_std, activation, leaky_slope, name=name)(x)
    if norm == "instance":
        x = InstanceNorm(epsilon=1e-5, affine=instance_affine, name=name)(x)
    return activate(x, activation, leaky_slope)


def reflect_pad(x: Array, pad: int) -> Array:
    """Reflection padding of H and W by `pad` (PyTorch's ReflectionPad2d(pad)), [B, H, W, C]."""
    return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")


def zero_cancelled_bias_grads(grads, *, keep: set[str]):
    """Gradients with zeros for the biases of layers that instance norm follows.

    Instance norm (affine or not) subtracts each channel's mean over H and W, so a convolution
    bias right before it cancels: its gradient is zero in exact arithmetic, and in float32 it is
    rounding noise (~1e-8) that depends on the order of the sums (the device count, say), which
    Adam, dividing by its running magnitude, turns into full-size updates of a parameter that
    has no effect. The authors' networks keep these biases (use_bias=True with instance norm),
    so the parameters are kept too (same trees and counts), and held fixed here instead.

    Args:
      grads: a network's gradient tree ({layer name: {"kernel", "bias"}, ...}, nested).
      keep: names of the layers whose bias is *not* followed by instance norm.
    """

    def mask(path, g):
        names = [getattr(k, "key", None) for k in path]
        if names and names[-1] == "bias" and len(names) >= 2 and names[-2] not in keep:
            return jnp.zeros_like(g)
        return g

    return jax.tree_util.tree_map_with_path(mask, grads)
