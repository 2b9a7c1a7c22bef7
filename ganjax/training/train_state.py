"""Train states: named networks, each with its own parameters, optimizer and mutable collections.

`TrainState` is what every training method (ganjax/methods) carries from step to step and into
checkpoints: a step counter, a dict of `NetState`s by name ("generator", "discriminator",
"encoder", ...), EMA copies of some networks' parameters, and `extra` arrays a method keeps (an
image history buffer, say). N networks with N optimizers need no new plumbing: a method names
them. `ClassifierTrainState` is the domain classifier's (ganjax/methods/classifier.py).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp
import optax

from ganjax.models.classifier import create_classifier
from ganjax.training import optim

PyTree = Any


class NetState(flax.struct.PyTreeNode):
    """One network: its parameters, its optax state, and its mutable collections.

    `collections` holds every non-parameter variable collection the module keeps (batch-norm
    statistics, spectral-norm power-iteration vectors, ...), by collection name. Training-mode
    calls (`apply(..., train=True)`) mark them all mutable and return the updated values.
    """

    params: PyTree
    opt_state: optax.OptState
    collections: dict[str, PyTree]
    apply_fn: Callable = flax.struct.field(pytree_node=False)
    tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)

    @classmethod
    def create(cls, *, apply_fn: Callable, variables: dict[str, PyTree], tx) -> "NetState":
        params = variables["params"]
        collections = {k: v for k, v in variables.items() if k != "params"}
        return cls(params, tx.init(params), collections, apply_fn, tx)

    def variables(self, params: PyTree | None = None) -> dict[str, PyTree]:
        return {"params": self.params if params is None else params, **self.collections}

    def apply(self, *args, params=None, collections=None, train: bool = True, **kwargs):
        """Calls the module; returns (output, collections after the call).

        Args:
          *args: the module's inputs.
          params: parameters to use instead of `self.params` (the ones being differentiated).
          collections: collections to use instead of `self.collections` (threaded through
            several calls in one step).
          train: training mode: collections are mutable and updated.
          **kwargs: passed to the module (rngs=..., return_features=...).
        """
        coll = self.collections if collections is None else collections
        variables = {"params": self.params if params is None else params, **coll}
        if not train or not coll:
            return self.apply_fn(variables, *args, train=train, **kwargs), coll
        out, updates = self.apply_fn(variables, *args, train=True, mutable=list(coll), **kwargs)
        return out, {**coll, **updates}

    def apply_gradients(self, grads: PyTree, collections: dict[str, PyTree] | None = None):
        """One optimizer update (and, optionally, the collections the step produced)."""
        updates, opt_state = self.tx.update(grads, self.opt_state, self.params)
        return self.replace(
            params=optax.apply_updates(self.params, updates),
            opt_state=opt_state,
            collections=self.collections if collections is None else collections,
        )


class TrainState(flax.struct.PyTreeNode):
    """Everything a training method carries from step to step (and into checkpoints).

    Attributes:
      step: training steps taken.
      nets: the networks by name.
      ema: exponential moving averages of some networks' parameters, by network name (a GAN's
        generator for sampling, the semi-supervised GAN's discriminator for classifying).
      extra: other arrays the method keeps (e.g. an image history buffer); checkpointed.
      ema_decay: the EMA's decay; 0 means the EMA copy tracks the parameters exactly.
    """

    step: jax.Array
    nets: dict[str, NetState]
    ema: dict[str, PyTree]
    extra: dict[str, PyTree]
    ema_decay: float = flax.struct.field(pytree_node=False, default=0.0)

    @classmethod
    def create(cls, nets: dict[str, NetState], *, ema_of=(), ema_decay=0.0, extra=None):
        return cls(
            step=jnp.zeros((), jnp.int32),
            nets=dict(nets),
            ema={name: jax.tree.map(jnp.copy, nets[name].params) for name in ema_of},
            extra=dict(extra or {}),
            ema_decay=ema_decay,
        )

    def __getitem__(self, name: str) -> NetState:
        return self.nets[name]

    def with_nets(self, **nets: NetState) -> "TrainState":
        return self.replace(nets={**self.nets, **nets})

    def update_ema(self) -> "TrainState":
        """Moves every EMA copy towards its network's current parameters."""
        d = self.ema_decay
        if d <= 0:
            return self.replace(ema={n: self.nets[n].params for n in self.ema})
        ema = {
            n: jax.tree.map(lambda e, p: d * e + (1.0 - d) * p, e, self.nets[n].params)
            for n, e in self.ema.items()
        }
        return self.replace(ema=ema)

    def params(self, name: str, use_ema: bool = False) -> PyTree:
        """A network's parameters; its EMA copy when `use_ema` and EMA is on."""
        if use_ema and self.ema_decay > 0 and name in self.ema:
            return self.ema[name]
        return self.nets[name].params


class ClassifierTrainState(flax.struct.PyTreeNode):
    """A domain classifier's training state (ganjax/methods/classifier.py)."""

    step: jax.Array
    params: PyTree
    batch_stats: PyTree
    opt_state: optax.OptState
    apply_fn: Callable = flax.struct.field(pytree_node=False)
    tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)

    def variables(self) -> dict[str, PyTree]:
        return {"params": self.params, "batch_stats": self.batch_stats}


def create_classifier_state(
    config, image_shape, num_classes: int, key, steps_per_epoch: int, num_steps: int
) -> ClassifierTrainState:
    """A fresh classifier state: `config.model`'s network and `config.optim.d`'s optimizer (the
    layout checkpoints of a classifier run restore into)."""
    model = create_classifier(config.model, num_classes)
    variables = jax.jit(functools.partial(model.init, train=False))(
        key, jnp.zeros((2, *image_shape), jnp.float32)
    )
    tx = optim.create_optimizer(config.optim.d, steps_per_epoch, num_steps)
    return ClassifierTrainState(
        step=jnp.zeros((), jnp.int32),
        params=variables["params"],
        batch_stats=variables.get("batch_stats", {}),
        opt_state=tx.init(variables["params"]),
        apply_fn=model.apply,
        tx=tx,
    )
