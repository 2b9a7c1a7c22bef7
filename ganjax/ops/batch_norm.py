"""Training-mode batch norm fused with its activation (`batch_norm_act`, with a custom VJP).

`ganjax.models.layers.BatchNorm` holds the variables and the running averages and calls
`batch_norm_act` in training; `activate` is the activation it applies in evaluation mode.
"""

from __future__ import annotations

import functools
from typing import Literal

import jax
import jax.numpy as jnp
from jax import lax

Array = jax.Array

# --- Batch norm + activation --------------------------------------------------------------------
#
# Training-mode batch norm followed by its activation, with the backward pass written out. The
# forward pass is one reduction (mean, mean of squares) and one elementwise pass that writes only
# the activation; the backward pass recomputes the normalized values from the layer input, so no
# centered or pre-activation copy is kept between the passes. Autodiff through flax's BatchNorm
# and a separate activation kept both (one more full-size write and read per layer on the forward
# pass and another on the backward pass).

Activation = Literal["none", "relu", "leaky_relu"]


def activate(u: Array, activation: str, slope: float) -> Array:
    """The activation ("none", "relu", or "leaky_relu" with negative slope `slope`) of u."""
    if activation == "relu":
        return jnp.maximum(u, 0)
    if activation == "leaky_relu":
        return jnp.where(u >= 0, u, slope * u)  # As flax's nn.leaky_relu.
    return u


def _activation_grad(u: Array, g: Array, activation: str, slope: float) -> Array:
    if activation == "relu":
        return jnp.where(u > 0, g, 0)  # As jax.nn.relu's gradient (0 at 0).
    if activation == "leaky_relu":
        return jnp.where(u >= 0, g, slope * g)
    return g


def _moments(x: Array) -> tuple[Array, Array]:
    """Per-channel mean and biased variance over all but the last axis (E[x^2] - E[x]^2, as
    flax's BatchNorm with its default fast variance)."""
    axes = tuple(range(x.ndim - 1))
    mean = jnp.mean(x, axes, dtype=jnp.float32)
    mean2 = jnp.mean(jnp.square(x.astype(jnp.float32)), axes)
    return mean, jnp.maximum(0.0, mean2 - mean * mean)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5))
def batch_norm_act(
    x: Array, scale: Array, bias: Array, epsilon: float, activation: str, slope: float
):
    """act((x - mean) / sqrt(var + epsilon) * scale + bias) with the batch's per-channel mean and
    biased variance (over all but the last axis). Returns (output, mean, var); gradients flow
    through all three. Same values and gradients as flax's BatchNorm(use_running_average=False)
    followed by the activation."""
    return _batch_norm_act_fwd(x, scale, bias, epsilon, activation, slope)[0]


def _batch_norm_act_fwd(x, scale, bias, epsilon, activation, slope):
    mean, var = _moments(x)
    inv = lax.rsqrt(var + epsilon)
    a = scale * inv
    out = activate(x * a + (bias - mean * a), activation, slope).astype(x.dtype)
    return (out, mean, var), (x, scale, bias, mean, inv)


def _batch_norm_act_bwd(epsilon, activation, slope, residuals, cotangents):
    x, scale, bias, mean, inv = residuals
    g_out, g_mean, g_var = cotangents
    axes = tuple(range(x.ndim - 1))
    n = x.size // x.shape[-1]
    a = scale * inv
    xhat = (x - mean) * inv
    g = _activation_grad(xhat * scale + bias, g_out, activation, slope)
    sum_g = jnp.sum(g, axes, dtype=jnp.float32)
    sum_gx = jnp.sum(g * xhat, axes, dtype=jnp.float32)
    dx = a * (g - sum_g / n - xhat * (sum_gx / n)) + (g_mean + 2.0 * g_var * (x - mean)) / n
    return dx.astype(x.dtype), sum_gx.astype(scale.dtype), sum_g.astype(bias.dtype)


batch_norm_act.defvjp(_batch_norm_act_fwd, _batch_norm_act_bwd)
