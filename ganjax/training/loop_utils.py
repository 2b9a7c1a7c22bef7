"""The one loop's pieces (ganjax/training/train.py): the jitted step, checkpoint resume and
saving, metrics pulled to the host with the NaN/Inf stop. Everything trained runs in that loop
(the GAN methods, the domain classifier, the transfer head, the post-hoc encoder); the pieces
live apart so that the benchmark (ganjax/tools/benchmarking.py) jits a method's step exactly as
the loop does.
"""

from __future__ import annotations

import jax
import numpy as np
from absl import logging

from ganjax.errors import ConfigError, NonFiniteError
from ganjax.training import checkpointing, parallel

Metrics = dict[str, jax.Array]


def derive_num_steps(train_config, steps_per_epoch: int) -> int:
    """`train.num_steps`, else `train.num_epochs` x steps per epoch (rounded); ConfigError when
    neither is set or the total is under one step (num_epochs=0 once trained 0 steps silently)."""
    if train_config.get("num_steps"):
        num_steps = int(train_config.num_steps)
    elif train_config.get("num_epochs"):
        num_steps = int(round(train_config.num_epochs * steps_per_epoch))
    else:
        raise ConfigError("Set config.train.num_steps or config.train.num_epochs (both are 0)")
    if num_steps < 1:
        raise ConfigError(
            f"config.train.num_epochs={train_config.get('num_epochs')} is {num_steps} steps at "
            f"{steps_per_epoch} steps per epoch; set at least one step "
            "(--config.train.num_steps=N or a larger num_epochs)."
        )
    return num_steps


def jit_step(step_fn, mesh, state_sharding, batch_axis: int):
    """jit-compiles `step_fn(state, batch, key)` for `mesh`: state replicated (and donated),
    batch arrays sharded on `batch_axis`, metrics replicated."""
    return jax.jit(
        step_fn,
        in_shardings=(
            state_sharding,
            parallel.batch_sharding(mesh, batch_axis),
            parallel.replicated(mesh),
        ),
        out_shardings=(state_sharding, parallel.replicated(mesh)),
        donate_argnums=(0,),
    )


def save_checkpoint(checkpointer: checkpointing.Checkpointer, step: int, state) -> None:
    """Saves `state` unless a parameter is NaN/inf (then stops, keeping the last good one)."""
    if not checkpointing.tree_is_finite(state):
        check_finite({"parameters": float("nan")}, step, checkpointer)
    checkpointer.save(step, state)


def replicate_and_resume(state, mesh, workdir, max_to_keep: int):
    """Replicates a fresh state over `mesh` and restores the workdir's latest checkpoint, if any.

    Returns:
      (state, its sharding, the run's Checkpointer).
    """
    state_sharding = jax.tree.map(lambda _: parallel.replicated(mesh), state)
    state = jax.device_put(state, state_sharding)
    checkpointer = checkpointing.Checkpointer(workdir, max_to_keep=max_to_keep)
    if checkpointer.latest_step() is not None:
        state = checkpointer.restore(state)
        logging.info("Resumed from %s at step %d", checkpointer.directory, int(state.step))
    return state, state_sharding, checkpointer


def check_finite(metrics: dict[str, float], step: int, checkpointer) -> None:
    bad = {k: v for k, v in metrics.items() if not np.isfinite(v)}
    if bad:
        last = checkpointer.latest_step()
        kept = (
            f"The last good checkpoint (step {last}) in {checkpointer.directory} is kept"
            if last is not None
            else "No checkpoint had been written yet"
        )
        raise NonFiniteError(
            f"Training diverged by step {step}: non-finite {bad}. {kept}; nothing after the "
            "divergence was saved. Lower the learning rates (--config.optim.g.learning_rate, "
            "--config.optim.d.learning_rate), or set --config.optim.d.grad_clip_norm, and rerun."
        )


def pull_metrics(pending: list[Metrics], step: int, checkpointer) -> dict[str, float]:
    """Host means of the metrics gathered since the last log step (one device sync); stops with
    NonFiniteError on NaN/inf, keeping the last good checkpoint."""
    host = jax.device_get(pending)
    means = {k: float(np.mean([m[k] for m in host])) for k in host[0]}
    check_finite(means, step, checkpointer)
    return means
