"""Pure GAN losses on discriminator logits. Keyword-only arguments, no model calls.

`loss_type` selects the game:
  * "non_saturating": D minimizes BCE(real -> 1 - smoothing) + BCE(fake -> 0); G minimizes
    BCE(fake -> 1) = softplus(-logit) (Goodfellow et al. 2014, the practical form).
  * "minimax": the same D loss; G minimizes log(1 - D(G(z))) = -softplus(logit), the original
    saturating game, for comparison.
  * "hinge": D: relu(1 - real) + relu(1 + fake); G: -fake (Lim & Ye 2017, Miyato et al. 2018).
  * "least_squares": D: (real - 1)^2 / 2 + fake^2 / 2; G: (fake - 1)^2 / 2 (Mao et al. 2017).

One-sided label smoothing (Salimans et al. 2016) lowers only the real target, to 1 - smoothing.
Every loss is a mean over the batch; D's total is the sum of its real and fake halves.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array
LOSS_TYPES = ("non_saturating", "minimax", "hinge", "least_squares")


def sigmoid_cross_entropy(logits: Array, targets: Array | float) -> Array:
    """Elementwise BCE between sigmoid(logits) and targets, stable for any logit magnitude."""
    # -t log s(l) - (1 - t) log(1 - s(l)) = t softplus(-l) + (1 - t) softplus(l)
    return targets * jax.nn.softplus(-logits) + (1.0 - targets) * jax.nn.softplus(logits)


def _check(loss_type: str) -> None:
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"Unknown loss_type '{loss_type}'; choose one of {LOSS_TYPES}")


def discriminator_loss(
    *, real_logits: Array, fake_logits: Array, loss_type: str, label_smoothing: float = 0.0
) -> tuple[Array, dict[str, Array]]:
    """Returns (total D loss, {"loss_real", "loss_fake"}) for logits of shape [B]."""
    _check(loss_type)
    if loss_type in ("non_saturating", "minimax"):
        loss_real = sigmoid_cross_entropy(real_logits, 1.0 - label_smoothing).mean()
        loss_fake = sigmoid_cross_entropy(fake_logits, 0.0).mean()
    elif loss_type == "hinge":
        loss_real = jax.nn.relu(1.0 - real_logits).mean()
        loss_fake = jax.nn.relu(1.0 + fake_logits).mean()
    else:  # least_squares
        loss_real = 0.5 * jnp.square(real_logits - (1.0 - label_smoothing)).mean()
        loss_fake = 0.5 * jnp.square(fake_logits).mean()
    return loss_real + loss_fake, {"loss_real": loss_real, "loss_fake": loss_fake}


def generator_loss(*, fake_logits: Array, loss_type: str) -> Array:
    """Returns the generator's loss for D's logits on generated images, shape [B]."""
    _check(loss_type)
    if loss_type == "non_saturating":
        return sigmoid_cross_entropy(fake_logits, 1.0).mean()
    if loss_type == "minimax":
        return -sigmoid_cross_entropy(fake_logits, 0.0).mean()
    if loss_type == "hinge":
        return -fake_logits.mean()
    return 0.5 * jnp.square(fake_logits - 1.0).mean()


def feature_matching_loss(*, real_features: Array, fake_features: Array, distance: str) -> Array:
    """Distance between batch means of intermediate features (Salimans et al. 2016).

    Args:
      real_features: [B, ...] features of real images (treated as a constant target).
      fake_features: [B, ...] features of generated images.
      distance: "l2" (mean squared difference) or "l1" (mean absolute difference).
    """
    diff = jax.lax.stop_gradient(real_features.mean(0)) - fake_features.mean(0)
    if distance == "l2":
        return jnp.mean(jnp.square(diff))
    if distance == "l1":
        return jnp.mean(jnp.abs(diff))
    raise ValueError(f"Unknown feature-matching distance '{distance}'; use 'l1' or 'l2'")
