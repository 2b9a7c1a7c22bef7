"""Builds the generator's and discriminator's optax optimizers from `config.optim.{g,d}`."""

from __future__ import annotations

import ml_collections
import optax

from ganjax.errors import ConfigError


def create_schedule(cfg: ml_collections.ConfigDict, steps_per_epoch: int, num_steps: int):
    """Learning-rate schedule for one player.

    cfg.schedule:
      "constant": cfg.learning_rate throughout.
      "exponential_per_epoch": multiply by cfg.decay_rate once per epoch (the seeds' x0.9).
      "linear_decay": constant until cfg.decay_start_fraction of training, then linearly to 0
        (Salimans et al. 2016).
    """
    lr = cfg.learning_rate
    if cfg.schedule == "constant":
        return optax.constant_schedule(lr)
    if cfg.schedule == "exponential_per_epoch":
        return optax.exponential_decay(
            lr, transition_steps=steps_per_epoch, decay_rate=cfg.decay_rate, staircase=True
        )
    if cfg.schedule == "linear_decay":
        start = int(num_steps * cfg.decay_start_fraction)
        return optax.join_schedules(
            [
                optax.constant_schedule(lr),
                optax.linear_schedule(lr, 0.0, max(num_steps - start, 1)),
            ],
            [start],
        )
    raise ConfigError(
        f"Unknown schedule '{cfg.schedule}'; use constant, exponential_per_epoch or linear_decay"
    )


def create_optimizer(
    cfg: ml_collections.ConfigDict, steps_per_epoch: int, num_steps: int
) -> optax.GradientTransformation:
    """Adam (cfg.b1, cfg.b2) with the configured schedule and optional gradient clipping."""
    if cfg.name != "adam":
        raise ConfigError(f"Unknown optimizer '{cfg.name}'; only 'adam' is supported")
    # eps is added outside the square root, eps_root inside it (Salimans et al.'s Adam uses
    # g / sqrt(v + 1e-8), i.e. eps=0, eps_root=1e-8).
    tx = optax.adam(
        create_schedule(cfg, steps_per_epoch, num_steps),
        b1=cfg.b1,
        b2=cfg.b2,
        eps=cfg.get("eps", 1e-8),
        eps_root=cfg.get("eps_root", 0.0),
    )
    if cfg.get("grad_clip_norm"):
        tx = optax.chain(optax.clip_by_global_norm(cfg.grad_clip_norm), tx)
    return tx


def create_optimizers(
    config: ml_collections.ConfigDict, steps_per_epoch: int, num_steps: int, d_steps: int = 1
):
    """Returns (generator_tx, discriminator_tx): two independent optimizers.

    `steps_per_epoch` and `num_steps` count training (generator) steps; the discriminator takes
    `d_steps` updates per step, so its schedule counts `d_steps` times as many updates.
    """
    return (
        create_optimizer(config.optim.g, steps_per_epoch, num_steps),
        create_optimizer(config.optim.d, steps_per_epoch * d_steps, num_steps * d_steps),
    )
