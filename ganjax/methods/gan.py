"""The GAN method: one generator, one discriminator, any loss and regularizer of the zoo.

Schedule per training step (as in the PyTorch DCGAN reference): the generator produces one batch
of fakes from fresh latents; the discriminator takes `d_steps` updates (n_critic; the last on
those fakes, earlier ones on fakes of their own), each on its own real batch, with real and fake
images in separate forward passes (separate batch-norm statistics); then the generator takes one
update through the just-updated discriminator. The step's randomness is `fold_in(loop_key,
step)`, so a restarted run reproduces an uninterrupted one exactly.

Losses and regularizers, each a config switch (docs/methods.md):
  * `config.loss.type`: non_saturating | minimax | hinge | least_squares | wasserstein;
  * `config.loss.gradient_penalty`: WGAN-GP weight (penalty on real/fake interpolates);
  * `config.loss.r1_gamma` / `r2_gamma`: R1 (reals) / R2 (fakes) penalties, gamma / 2 * E|grad|^2,
    applied every `config.loss.penalty_every` D updates with that factor (StyleGAN2's lazy form);
  * `config.data.augment`: DiffAugment policy on every image D sees (reals, fakes, penalties);
  * `config.model.spectral_norm`, `config.model.d_norm`: the discriminator's normalization.

Conditional methods (ganjax/methods/cgan.py) subclass this one through the hooks
`sample_condition`, `real_condition`, `split_d_output`, `d_aux_loss` and `g_aux_loss`.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import optax

from ganjax import models, rng
from ganjax.data import load_split, to_float_images
from ganjax.errors import ConfigError
from ganjax.methods.base import Batch, Data, Generator, Method
from ganjax.methods.d_regularization import DRegularization
from ganjax.methods.registry import register
from ganjax.objectives import losses
from ganjax.training import ema_batch_stats, optim
from ganjax.training.train_state import NetState, TrainState

G, D = "generator", "discriminator"


@register
class GAN(Method):
    """Unconditional GAN (`config.method = "gan"`)."""

    name = "gan"
    example_config = "configs/fashion_mnist_dcgan.py:tiny"
    batch_axis = 1  # Batches are [d_steps, B, ...].
    progress_keys = (
        ("d_loss", "d/loss"),
        ("g_loss", "g/loss"),
        ("D(x)", "d/real_prob"),
        ("D(G(z))", "d/fake_prob"),
    )

    def __init__(self, config):
        super().__init__(config)
        loss = config.loss
        self.loss_type = loss.type
        self.label_smoothing = loss.label_smoothing
        self.reg = DRegularization(config)
        losses.check_loss_type(self.loss_type, self.label_smoothing)
        if int(config.train.d_steps) < 1:
            raise ConfigError(f"config.train.d_steps must be >= 1, got {config.train.d_steps}")

    # -- data -------------------------------------------------------------------------------
    def load_data(self) -> Data:
        d = self.config.data
        train = load_split(
            d.name,
            d.train_split,
            manual_dir=d.manual_dir or None,
            tfds_data_dir=d.tfds_data_dir or None,
            image_size=d.get("image_size") or None,
            max_examples=d.max_examples or None,
            cache_dir=d.cache_dir,
        )
        shape = tuple(train["image"].shape[1:])
        info = {"image_shape": list(shape), "num_train_examples": len(train["image"])}
        return Data(shape, info, {"train": train})

    def batches_per_step(self) -> int:
        return int(self.config.train.d_steps)  # One batch per D update.

    # -- state ------------------------------------------------------------------------------
    def create_models(self, data: Data):
        return models.create_models(self.config.model, data.image_shape)

    def init_inputs(self, data: Data) -> tuple[tuple, tuple]:
        """Example inputs of (generator, discriminator) for initialization."""
        z = jnp.zeros((2, self.config.model.latent_dim), jnp.float32)
        return (z,), (jnp.zeros((2, *data.image_shape), jnp.float32),)

    def create_state(self, data, key, steps_per_epoch, num_steps) -> TrainState:
        generator, discriminator = self.create_models(data)
        g_key, d_key = jax.random.split(key)
        g_in, d_in = self.init_inputs(data)
        g_vars = jax.jit(functools.partial(generator.init, train=False))(g_key, *g_in)
        d_vars = jax.jit(functools.partial(discriminator.init, train=False))(d_key, *d_in)
        g_tx, d_tx = optim.create_optimizers(
            self.config, steps_per_epoch, num_steps, d_steps=self.config.train.d_steps
        )
        nets = {
            G: NetState.create(apply_fn=generator.apply, variables=g_vars, tx=g_tx),
            D: NetState.create(apply_fn=discriminator.apply, variables=d_vars, tx=d_tx),
        }
        return TrainState.create(nets, ema_of=(G,), ema_decay=self.config.model.ema_decay)

    # -- conditioning hooks (the unconditional GAN has none) --------------------------------
    def sample_condition(self, key: jax.Array, batch_size: int) -> jax.Array | None:
        """The generator's condition for a batch of fakes (e.g. class labels), or None."""
        return None

    def real_condition(self, batch: Batch, i: int) -> jax.Array | None:
        """The condition of the i-th real batch (e.g. its labels), or None."""
        return None

    def split_d_output(self, out) -> tuple[jax.Array, Any]:
        """D's output -> (real/fake logits [B], anything the auxiliary losses need)."""
        return out, None

    def d_aux_loss(self, real_aux, real_cond, fake_aux, fake_cond):
        """An extra D loss (e.g. AC-GAN's classification loss): (loss, metrics)."""
        return 0.0, {}

    def g_aux_loss(self, fake_aux, fake_cond):
        """An extra G loss: (loss, metrics)."""
        return 0.0, {}

    @staticmethod
    def _inputs(x, cond):
        return (x,) if cond is None else (x, cond)

    # -- the step ---------------------------------------------------------------------------
    def _d_loss(self, d: NetState, d_params, coll, real, fake, real_cond, fake_cond, key, reg_on):
        k_real, k_fake, k_gp = jax.random.split(jax.random.fold_in(key, 1), 3)
        real, fake = self.reg.augment(real, k_real), self.reg.augment(fake, k_fake)
        real_out, coll_out = d.apply(
            *self._inputs(real, real_cond), params=d_params, collections=coll
        )
        fake_out, coll_out = d.apply(
            *self._inputs(fake, fake_cond), params=d_params, collections=coll_out
        )
        real_logits, real_aux = self.split_d_output(real_out)
        fake_logits, fake_aux = self.split_d_output(fake_out)
        loss, parts = losses.discriminator_loss(
            real_logits=real_logits,
            fake_logits=fake_logits,
            loss_type=self.loss_type,
            label_smoothing=self.label_smoothing,
        )
        aux_loss, aux_metrics = self.d_aux_loss(real_aux, real_cond, fake_aux, fake_cond)
        loss = loss + aux_loss
        metrics = {
            **parts,
            **aux_metrics,
            "real_prob": jax.nn.sigmoid(real_logits).mean(),
            "fake_prob": jax.nn.sigmoid(fake_logits).mean(),
        }

        def logits_fn(cond):
            return lambda x: self.split_d_output(
                d.apply(*self._inputs(x, cond), params=d_params, collections=coll)[0]
            )[0]

        penalty, pen_metrics = self.reg.penalties(
            logits_fn(real_cond), logits_fn(fake_cond), real, fake, k_gp, reg_on
        )
        metrics.update(pen_metrics)
        loss = loss + penalty
        return loss, (metrics, coll_out)

    def train_step(self, state: TrainState, batch: Batch, key: jax.Array):
        """`d_steps` discriminator updates, then one generator update.

        Args:
          state: the replicated train state.
          batch: {"image": uint8 [d_steps, B, H, W, C], ...}, sharded on B.
          key: the loop key; the step's key is fold_in(key, state.step).
        """
        c = self.config.model
        reals = to_float_images(batch["image"])  # [d_steps, B, H, W, C]
        d_steps, b = reals.shape[:2]
        step_key = jax.random.fold_in(key, state.step)
        keys = jax.random.split(step_key, d_steps)
        latents = lambda k: models.sample_latents(k, b, c.latent_dim, c.latent_dist)
        g, d = state[G], state[D]

        # The generator's forward pass for its own update; its fakes also feed the last D update.
        g_cond = self.sample_condition(jax.random.fold_in(keys[-1], 2), b)

        def g_forward(g_params):
            return g.apply(*self._inputs(latents(keys[-1]), g_cond), params=g_params)

        fakes, g_vjp, g_coll = jax.vjp(g_forward, g.params, has_aux=True)

        for i in range(d_steps):  # Unrolled: d_steps is small and static.
            if i < d_steps - 1:
                cond_i = self.sample_condition(jax.random.fold_in(keys[i], 2), b)
                fake, _ = g.apply(*self._inputs(latents(keys[i]), cond_i))
            else:
                fake, cond_i = fakes, g_cond
            reg_on = state.step * d_steps + i  # D updates so far: the lazy penalties' clock.
            (d_loss, (d_aux, d_coll)), d_grads = jax.value_and_grad(self._d_loss, 1, has_aux=True)(
                d,
                d.params,
                d.collections,
                reals[i],
                jax.lax.stop_gradient(fake),
                self.real_condition(batch, i),
                cond_i,
                keys[i],
                reg_on,
            )
            d = d.apply_gradients(d_grads, d_coll)

        k_aug = jax.random.fold_in(keys[-1], 3)

        def g_loss_fn(fake):
            out, coll = d.apply(*self._inputs(self.reg.augment(fake, k_aug), g_cond))
            logits, aux = self.split_d_output(out)
            loss = losses.generator_loss(fake_logits=logits, loss_type=self.loss_type)
            aux_loss, aux_metrics = self.g_aux_loss(aux, g_cond)
            return loss + aux_loss, (coll, aux_metrics)

        (g_loss, (d_coll, g_aux)), fake_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(fakes)
        (g_grads,) = g_vjp(fake_grads)
        g = g.apply_gradients(g_grads, g_coll)
        d = d.replace(collections=d_coll)
        new_state = state.with_nets(**{G: g, D: d}).replace(step=state.step + 1).update_ema()
        metrics = {f"d/{k}": v for k, v in d_aux.items()}
        metrics.update({f"g/{k}": v for k, v in g_aux.items()})
        metrics.update(
            {
                "d/loss": d_loss,
                "d/grad_norm": optax.global_norm(d_grads),
                "g/loss": g_loss,
                "g/grad_norm": optax.global_norm(g_grads),
            }
        )
        return new_state, metrics

    # -- outputs ----------------------------------------------------------------------------
    def generator(self, state: TrainState, data: Data, use_ema: bool = True) -> Generator:
        """G for sampling and scoring: its EMA weights when EMA is on, with batch-norm statistics
        recomputed for them (`ema_generator_collections`), else the raw weights and statistics."""
        ema = bool(use_ema and state.ema_decay > 0)
        collections = self.ema_generator_collections(state, data) if ema else None
        return self._generator(state, data, ema, collections)

    def _generator(self, state, data, ema: bool, collections) -> Generator:
        c = self.config.model
        return Generator(
            functools.partial(generate, state, use_ema=ema, collections=collections),
            c.latent_dim,
            c.latent_dist,
            tuple(data.image_shape),
            int(state.step),
            "ema" if ema else "raw",
            self.config,
            state,
        )

    def stats_inputs(self, data: Data, key: jax.Array, batch_size: int) -> tuple:
        """G's inputs for one batch of the EMA batch-norm recomputation: prior latents."""
        c = self.config.model
        return (models.sample_latents(key, batch_size, c.latent_dim, c.latent_dist),)

    def ema_generator_collections(self, state: TrainState, data: Data) -> dict:
        """G's collections for its EMA weights, batch-norm statistics recomputed.

        `ema_batch_stats.NUM_BATCHES` batches of `config.train.batch_size` generator inputs
        (`stats_inputs`), batch k from fold_in(key, k) with the key of the run seed's
        "ema_batch_stats" stream, index 0 (ganjax/rng.py); see ganjax/training/ema_batch_stats.py.
        """
        key = rng.key(self.config.seed, "ema_batch_stats", 0)
        b = int(self.config.train.batch_size)
        per_batch = [
            self.stats_inputs(data, jax.random.fold_in(key, k), b)
            for k in range(ema_batch_stats.NUM_BATCHES)
        ]
        batches = tuple(jnp.stack(x) for x in zip(*per_batch))  # Each [K, B, ...].
        return ema_batch_stats.recompute_batch_stats(state[G], state.ema[G], batches)


@functools.partial(jax.jit, static_argnames=("use_ema",))
def generate(
    state: TrainState,
    z: jax.Array,
    labels: jax.Array | None = None,
    use_ema: bool = True,
    collections: dict | None = None,
) -> jax.Array:
    """Images in [-1, 1] from latents `z` (and labels, for a conditional G), inference mode.

    `collections` replaces G's own (its batch-norm statistics): pass
    `GAN.ema_generator_collections` with `use_ema`, since the raw running statistics belong to
    the raw weights. Without them the EMA weights run with the raw statistics.
    """
    g = state[G]
    inputs = (z,) if labels is None else (z, labels)
    params = state.params(G, use_ema)
    return g.apply(*inputs, params=params, collections=collections, train=False)[0]
