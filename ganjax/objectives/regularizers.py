"""Pure discriminator regularizers: gradient penalties on D's input, and lazy application.

Every penalty takes `d_fn`, a function from images [B, H, W, C] to real/fake logits [B] (the
caller closes over D's parameters and collections), and differentiates it with respect to its
input. The caller's `jax.grad` with respect to D's parameters then differentiates through that
input gradient (double backpropagation), so D must be twice reverse-differentiable: plain XLA ops
are, and so are ganjax's custom-VJP convolutions and batch norm (their backward passes are
ordinary JAX functions; tested against `conv_impl="lax"`).

  * `gradient_penalty`: WGAN-GP, (||grad_x D(x_hat)|| - target)^2 on random interpolates of real
    and generated images (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs").
  * `r1_penalty` / `r2_penalty`: ||grad_x D(x)||^2 on real (R1) or generated (R2) images
    (Mescheder et al. 2018, "Which Training Methods for GANs do actually Converge?").
  * `apply_lazily`: lazy regularization, the penalty computed only every k steps
    and weighted by k (Karras et al. 2020, "Analyzing and Improving the Image Quality of
    StyleGAN", StyleGAN2).

The penalties are unweighted means over the batch: the caller multiplies by its own coefficient
(lambda = 10 for WGAN-GP; gamma / 2 for R1/R2). Each returns (penalty, stats), where stats holds
diagnostics (the mean gradient norm) meant for logging, not for differentiation.

Per-sample gradients are taken as the gradient of sum_i d_fn(x)_i with respect to x, which is
exactly each sample's own input gradient when D has no coupling across the batch. A
discriminator with training-mode batch norm couples samples (each logit depends on the batch
statistics), and the penalty then regularizes that batch-coupled gradient instead (which is why
WGAN-GP recommends layer norm or no normalization in D); a D in inference mode
(`train=False`, running statistics) has no coupling.

Gradients also flow into `real` and `fake` if they depend on what the caller differentiates
(e.g. fakes from a generator that is not stopped); D updates usually pass stopped images.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

Array = jax.Array
DiscriminatorFn = Callable[[Array], Array]

# Inside the square root of a gradient norm: the norm's own gradient at a zero input gradient is
# then finite (0 instead of 0 / 0 = NaN), and the norm changes by at most 1e-6 there.
NORM_EPSILON = 1e-12


def _input_gradient(d_fn: DiscriminatorFn, x: Array) -> Array:
    """grad_x sum_i d_fn(x)_i, flattened per sample to [B, H * W * C] in float32."""

    def total(x: Array) -> Array:
        logits = d_fn(x)
        if logits.shape != x.shape[:1]:
            raise ValueError(f"d_fn must return logits of shape {x.shape[:1]}, got {logits.shape}")
        return jnp.sum(logits.astype(jnp.float32))

    g = jax.grad(total)(x)
    return g.reshape(x.shape[0], -1).astype(jnp.float32)


def _squared_norms(g: Array) -> Array:
    """Per-sample squared L2 norms of [B, N] gradients -> [B]."""
    return jnp.sum(jnp.square(g), axis=1)


def _norms(squared_norms: Array) -> Array:
    """sqrt(||g||^2 + NORM_EPSILON): finite gradient at g = 0."""
    return jnp.sqrt(squared_norms + NORM_EPSILON)


def gradient_penalty(
    d_fn: DiscriminatorFn, real: Array, fake: Array, key: Array, *, target: float = 1.0
) -> tuple[Array, dict[str, Array]]:
    """WGAN-GP's two-sided gradient penalty (Gulrajani et al. 2017).

    The interpolation weights are exactly
    `eps = jax.random.uniform(key, (B, 1, 1, 1), dtype=real.dtype)` (one U(0, 1) draw per
    sample), and the penalty is evaluated at `x_hat = eps * real + (1 - eps) * fake`.

    Args:
      d_fn: images [B, H, W, C] -> logits [B]; closes over D's parameters.
      real: real images [B, H, W, C].
      fake: generated images, same shape as `real`.
      key: PRNG key for the interpolation weights.
      target: the gradient norm the penalty pulls towards (1 for WGAN-GP).

    Returns:
      (mean_i (||grad_x d_fn(x_hat)_i||_2 - target)^2, {"grad_norm": mean_i ||grad_i||_2}), with
      the norm computed as sqrt(sum of squares + NORM_EPSILON) per flattened sample. Unweighted:
      the caller multiplies by lambda (10 in the paper).
    """
    if real.shape != fake.shape:
        raise ValueError(
            f"real and fake must have the same shape, got {real.shape} and {fake.shape}"
        )
    eps = jax.random.uniform(key, (real.shape[0],) + (1,) * (real.ndim - 1), dtype=real.dtype)
    x_hat = eps * real + (1 - eps) * fake
    norms = _norms(_squared_norms(_input_gradient(d_fn, x_hat)))
    penalty = jnp.mean(jnp.square(norms - target))
    return penalty, {"grad_norm": jnp.mean(norms)}


def r1_penalty(d_fn: DiscriminatorFn, real: Array) -> tuple[Array, dict[str, Array]]:
    """R1 (Mescheder et al. 2018): mean_i ||grad_x d_fn(real)_i||_2^2.

    Args:
      d_fn: images [B, H, W, C] -> logits [B]; closes over D's parameters.
      real: real images [B, H, W, C].

    Returns:
      (mean squared gradient norm, {"grad_norm": mean_i ||grad_i||_2}). Unweighted: the caller
      multiplies by gamma / 2.
    """
    sq = _squared_norms(_input_gradient(d_fn, real))
    return jnp.mean(sq), {"grad_norm": jnp.mean(_norms(sq))}


def r2_penalty(d_fn: DiscriminatorFn, fake: Array) -> tuple[Array, dict[str, Array]]:
    """R2 (Mescheder et al. 2018): R1's penalty on generated images, mean_i ||grad_x
    d_fn(fake)_i||_2^2 (same return value as `r1_penalty`)."""
    return r1_penalty(d_fn, fake)


def _check_every(every: int) -> None:
    if not isinstance(every, int) or isinstance(every, bool) or every < 1:
        raise ValueError(f"every must be a positive int, got {every!r}")


def apply_lazily(
    step: Array | int, every: int, fn: Callable[[], tuple[Array, Any]]
) -> tuple[Array, Any]:
    """Lazy regularization (Karras et al. 2020): the penalty every `every` steps, weighted by it.

    Computes `fn()` only when step % every == 0 (`jax.lax.cond`, so under `jit` the skipped steps
    do none of the penalty's work) and returns (every * penalty, stats); on other steps it returns
    zeros of the same structure. Works inside `jit` with a traced `step`, and under the caller's
    `jax.grad` / `jax.value_and_grad` (the gradient is every * the penalty's gradient, or zero).

    Args:
      step: the training step (int or integer scalar array, may be traced).
      every: k, the regularization interval (static). 1 computes the penalty on every step, with
        no cond.
      fn: () -> (penalty scalar, stats pytree), e.g. `lambda: r1_penalty(d_fn, real)`.

    Returns:
      (every * penalty or 0, stats or zeros). Stats are not scaled.
    """
    _check_every(every)
    if every == 1:
        return fn()

    def compute() -> tuple[Array, Any]:
        penalty, stats = fn()
        return jnp.asarray(penalty) * every, stats

    shapes = jax.eval_shape(compute)  # Traces fn once more (no FLOPs) for the zeros' structure.

    def skip() -> tuple[Array, Any]:
        return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

    return jax.lax.cond(jnp.asarray(step) % every == 0, compute, skip)
