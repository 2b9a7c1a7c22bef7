"""The discriminator's regularizer switches, shared by every method that trains a discriminator.

`DRegularization(config)` reads `config.loss.gradient_penalty`, `r1_gamma`, `r2_gamma`,
`penalty_every` and `config.data.augment`, and gives a method two things: `augment(x, key)`
(DiffAugment on every image D sees, or the identity) and `penalties(...)` (the weighted WGAN-GP,
R1 and R2 terms to add to D's loss, with their metrics). The penalties see D as the loss does:
a function from (augmented) images to real/fake logits [B], in train mode, with the step's
collections (their own forward passes' batch statistics are not kept).
"""

from __future__ import annotations

from typing import Callable

import jax
import ml_collections

from ganjax.errors import ConfigError
from ganjax.objectives import augment, regularizers

Array = jax.Array
LogitsFn = Callable[[Array], Array]


class DRegularization:
    """WGAN-GP, R1/R2 (lazy) and DiffAugment as configured; all off by default."""

    def __init__(self, config: ml_collections.ConfigDict):
        loss = config.loss
        self.gp_weight = float(loss.get("gradient_penalty", 0.0))
        self.r1_gamma = float(loss.get("r1_gamma", 0.0))
        self.r2_gamma = float(loss.get("r2_gamma", 0.0))
        self.every = int(loss.get("penalty_every", 1))
        if self.every < 1:
            raise ConfigError(f"config.loss.penalty_every must be >= 1, got {self.every}")
        self.policy = augment.parse_policy(config.data.get("augment", ""))

    def augment(self, x: Array, key: Array) -> Array:
        return augment.diff_augment(x, key, self.policy) if self.policy else x

    def penalties(
        self,
        real_logits_fn: LogitsFn,
        fake_logits_fn: LogitsFn,
        real: Array,
        fake: Array,
        key: Array,
        d_updates: Array,
    ) -> tuple[Array | float, dict[str, Array]]:
        """The weighted penalty terms of D's loss, and their metrics.

        Args:
          real_logits_fn, fake_logits_fn: D as a function of images (with the reals' and the
            fakes' conditioning, for conditional methods); the gradient penalty uses the reals'.
          real, fake: D's inputs, as D saw them (augmented).
          key: the gradient penalty's interpolation key.
          d_updates: D updates so far: the clock of the lazy R1/R2 (every `penalty_every`).
        """
        total, metrics = 0.0, {}
        if self.gp_weight:
            gp, gp_m = regularizers.gradient_penalty(real_logits_fn, real, fake, key)
            total = total + self.gp_weight * gp
            metrics.update(gradient_penalty=gp, gp_grad_norm=gp_m["grad_norm"])
        for gamma, name, fn, logits_fn, x in (
            (self.r1_gamma, "r1", regularizers.r1_penalty, real_logits_fn, real),
            (self.r2_gamma, "r2", regularizers.r2_penalty, fake_logits_fn, fake),
        ):
            if gamma:
                pen, _ = regularizers.apply_lazily(
                    d_updates, self.every, lambda f=fn, g=logits_fn, xx=x: f(g, xx)
                )
                total = total + 0.5 * gamma * pen
                # Logged as applied: k * penalty on the k-th D updates, 0 on the others.
                metrics[f"{name}_penalty"] = pen
        return total, metrics
