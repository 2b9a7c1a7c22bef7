"""Batch-norm statistics for EMA weights, recomputed on a fixed set of batches.

An EMA copy of a network's parameters is another network than the raw one: its batch-norm
layers need the statistics of their own activations, not the raw network's running averages
(which follow the raw weights). ganjax recomputes them, as SWA's `bn_update` and big_vision do,
rather than keeping a second set of running averages in the train state: the network runs in
training mode with the EMA parameters over `NUM_BATCHES` fixed batches, and each batch-norm
layer's running mean and variance become the mean over those batches of its per-batch means and
(biased) variances, the quantities its training-mode pass normalizes with. Layers see the
activations of the EMA network in training mode (batch statistics throughout, dropout and noise
on when keys are given), as the raw network's running averages see the raw one's.

It runs once per use of the EMA weights (a sample grid, an evaluation, a restored run's
generator), never in the train step: `recompute_batch_stats` is pure and jitted, and the
batches are a fixed function of the run's seed (named stream "ema_batch_stats", ganjax/rng.py),
so the statistics, and everything sampled with them, are reproducible. The methods choose the
batches: a generator's are `NUM_BATCHES` batches of `config.train.batch_size` latents (with
class-balanced labels for a conditional generator); the semi-supervised GAN's EMA
discriminator's are `NUM_BATCHES` batches of training images.

Every batch-norm layer (flax's `nn.BatchNorm` and ganjax's `layers.BatchNorm`) in training mode
is found by intercepting its calls; other collections (spectral-norm vectors, say) keep their
values. A layer that keeps running statistics but is neither is refused rather than left with
the raw network's statistics.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import traverse_util

from ganjax.models import layers
from ganjax.training.train_state import NetState

NUM_BATCHES = 16  # Fixed batches per recomputation (of the training batch size).
_BN_TYPES = (nn.BatchNorm, layers.BatchNorm)

PyTree = Any


def _bn_momenta(net: NetState, params, coll, inputs, rngs) -> dict[tuple[str, ...], float]:
    """{batch-norm module path: momentum} of the layers a training-mode call updates."""
    momenta: dict[tuple[str, ...], float] = {}
    unknown: list[str] = []

    def record(next_fun, args, kwargs, context):
        module = context.module
        if context.method_name == "__call__":
            if isinstance(module, _BN_TYPES):
                if not module.use_running_average:
                    if module.path in momenta:
                        raise ValueError(
                            f"batch norm {'/'.join(module.path)} is called twice per pass; "
                            "its EMA statistics cannot be recomputed from one update"
                        )
                    momenta[module.path] = float(module.momentum)
            elif module.has_variable("batch_stats", "mean"):
                unknown.append("/".join(module.path))
        return next_fun(*args, **kwargs)

    variables = {**coll, "params": params}
    with nn.intercept_methods(record):
        jax.eval_shape(
            lambda v, x: net.apply_fn(v, *x, train=True, mutable=list(coll), rngs=rngs),
            variables,
            inputs,
        )
    if unknown:
        raise ValueError(
            f"layers {unknown} keep running statistics but are not a known batch norm "
            f"({', '.join(t.__name__ for t in _BN_TYPES)}); teach ganjax.training.ema_batch_stats "
            "their update"
        )
    return momenta


@functools.partial(jax.jit, static_argnames=("rng_names",))
def recompute_batch_stats(
    net: NetState,
    params: PyTree,
    batches: tuple[jax.Array, ...],
    key: jax.Array | None = None,
    rng_names: tuple[str, ...] = (),
) -> dict[str, PyTree]:
    """`net`'s collections with batch-norm statistics recomputed for `params`.

    Args:
      net: the network (its module and its raw collections).
      params: the parameters to compute statistics for (the EMA copy).
      batches: the network's inputs, each [K, B, ...]: K batches of B.
      key: with `rng_names`, batch k's stream `name` is fold_in(fold_in(key, k), i) for the i-th
        name (dropout and noise on, as in training).
      rng_names: the module's random streams ("dropout", "noise").

    Returns:
      The collections of `net` with every training-mode batch-norm layer's "mean" and "var"
      replaced by the means over the K batches of its per-batch means and variances; the rest
      unchanged.
    """
    coll = net.collections
    if not coll.get("batch_stats"):
        return coll

    def rngs_for(k):
        if key is None or not rng_names:
            return None
        kk = jax.random.fold_in(key, k)
        return {name: jax.random.fold_in(kk, i) for i, name in enumerate(rng_names)}

    first = jax.tree.map(lambda x: x[0], batches)
    momenta = _bn_momenta(net, params, coll, first, rngs_for(0))
    if not momenta:
        return coll
    flat = traverse_util.flatten_dict(coll["batch_stats"])
    zeroed = dict(flat)
    for path in momenta:
        for leaf in ("mean", "var"):
            zeroed[path + (leaf,)] = jnp.zeros_like(flat[path + (leaf,)])
    zeroed = traverse_util.unflatten_dict(zeroed)

    def one_batch(args):
        inputs, k = args
        variables = {**coll, "params": params, "batch_stats": zeroed}
        _, updates = net.apply_fn(
            variables, *inputs, train=True, mutable=list(coll), rngs=rngs_for(k)
        )
        new = traverse_util.flatten_dict(updates["batch_stats"])
        # From zero, one update leaves (1 - momentum) * the batch's statistic.
        return {
            path + (leaf,): new[path + (leaf,)] / (1.0 - m)
            for path, m in momenta.items()
            for leaf in ("mean", "var")
        }

    num = jax.tree.leaves(batches)[0].shape[0]
    per_batch = jax.lax.map(one_batch, (batches, jnp.arange(num)))  # Each leaf [K, C].
    out = dict(flat)
    out.update({path: values.mean(0) for path, values in per_batch.items()})
    return {**coll, "batch_stats": traverse_util.unflatten_dict(out)}
