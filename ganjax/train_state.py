"""The GAN train state: one PyTree with both players' parameters and optimizer states."""

from __future__ import annotations

from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp
import optax

PyTree = Any


class GANTrainState(flax.struct.PyTreeNode):
    """Everything a GAN run carries from step to step (and into checkpoints).

    `ema_g_params` is an exponential moving average of the generator's parameters, used for
    sampling and evaluation when `ema_decay > 0` (otherwise it tracks `g_params` exactly).
    """

    step: jax.Array
    g_params: PyTree
    d_params: PyTree
    g_batch_stats: PyTree
    d_batch_stats: PyTree
    g_opt_state: optax.OptState
    d_opt_state: optax.OptState
    ema_g_params: PyTree
    g_apply_fn: Callable = flax.struct.field(pytree_node=False)
    d_apply_fn: Callable = flax.struct.field(pytree_node=False)
    g_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
    d_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
    ema_decay: float = flax.struct.field(pytree_node=False, default=0.0)

    @classmethod
    def create(cls, *, g_apply_fn, d_apply_fn, g_variables, d_variables, g_tx, d_tx, ema_decay):
        g_params, d_params = g_variables["params"], d_variables["params"]
        return cls(
            step=jnp.zeros((), jnp.int32),
            g_params=g_params,
            d_params=d_params,
            g_batch_stats=g_variables.get("batch_stats", {}),
            d_batch_stats=d_variables.get("batch_stats", {}),
            g_opt_state=g_tx.init(g_params),
            d_opt_state=d_tx.init(d_params),
            ema_g_params=jax.tree.map(jnp.copy, g_params),
            g_apply_fn=g_apply_fn,
            d_apply_fn=d_apply_fn,
            g_tx=g_tx,
            d_tx=d_tx,
            ema_decay=ema_decay,
        )

    def g_variables(self, use_ema: bool = False) -> dict[str, PyTree]:
        """Variables for `g_apply_fn`; `use_ema` takes the EMA weights when EMA is on."""
        params = self.ema_g_params if (use_ema and self.ema_decay > 0) else self.g_params
        return {"params": params, "batch_stats": self.g_batch_stats}

    def d_variables(self) -> dict[str, PyTree]:
        return {"params": self.d_params, "batch_stats": self.d_batch_stats}


class SSLTrainState(flax.struct.PyTreeNode):
    """Semi-supervised GAN state: like GANTrainState, with a Polyak (EMA) copy of D's parameters
    used for evaluation, as in Salimans et al.'s code."""

    step: jax.Array
    g_params: PyTree
    d_params: PyTree
    g_batch_stats: PyTree
    d_batch_stats: PyTree
    g_opt_state: optax.OptState
    d_opt_state: optax.OptState
    ema_d_params: PyTree
    g_apply_fn: Callable = flax.struct.field(pytree_node=False)
    d_apply_fn: Callable = flax.struct.field(pytree_node=False)
    g_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
    d_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
    ema_decay: float = flax.struct.field(pytree_node=False, default=0.0)


class ClassifierTrainState(flax.struct.PyTreeNode):
    """A domain classifier's training state (ganjax/classifier_train.py)."""

    step: jax.Array
    params: PyTree
    batch_stats: PyTree
    opt_state: optax.OptState
    apply_fn: Callable = flax.struct.field(pytree_node=False)
    tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)

    def variables(self) -> dict[str, PyTree]:
        return {"params": self.params, "batch_stats": self.batch_stats}
