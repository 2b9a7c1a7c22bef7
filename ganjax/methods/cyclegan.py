"""CycleGAN (`config.method = "cyclegan"`; Zhu et al. 2017, "Unpaired Image-to-Image Translation
using Cycle-Consistent Adversarial Networks"), step for step the authors' `CycleGANModel`.

Networks: G_A: A -> B and G_B: B -> A (ResNet generators, ganjax/models/resnet_generator.py),
D_A judging domain B (real B vs G_A's outputs) and D_B judging domain A (PatchGANs,
ganjax/models/patchgan.py), instance norm throughout. One training step, as the authors'
optimize_parameters:

    fake_B = G_A(a), rec_A = G_B(fake_B), fake_A = G_B(b), rec_B = G_A(fake_A)
    G_A, G_B <- grad of  GAN(D_A(fake_B), real) + GAN(D_B(fake_A), real)
                         + lambda_A |rec_A - a|_1 + lambda_B |rec_B - b|_1
                         + lambda_idt (lambda_B |G_A(b) - b|_1 + lambda_A |G_B(a) - a|_1)
    D_A <- grad of 0.5 [GAN(D_A(b), real) + GAN(D_A(pool_B(fake_B)), fake)]
    D_B <- grad of 0.5 [GAN(D_B(a), real) + GAN(D_B(pool_A(fake_A)), fake)]

GAN is the least-squares loss ("lsgan"), lambda_A = lambda_B = 10, lambda_idt = 0.5
(`config.loss.*`); D is updated on the fakes of this step's forward (before G's update), drawn
through the 50-image history buffers (ganjax/methods/image_pool.py), which live in the train state's
`extra` and are checkpointed with it, so a resumed run is exact. The authors chain G_A and G_B
(and D_A and D_B) into one Adam each; Adam is per-parameter, so one Adam per network, as here,
is the same update. Biases of convolutions that instance norm follows cancel (their gradient is
float32 noise) and are held fixed (`zero_cancelled_bias_grads`). The learning rate is constant
for the first half and decays linearly to 0 over the second (100 + 100 epochs in the paper).

Data (ganjax/data/translation_tasks.py): an epoch is max(|A|, |B|) images; A is read in a new
permutation every epoch (index mod |A|) and B at random indices, as the authors' unaligned
dataset; both jittered (ganjax/data/jitter.py), all deterministic from (seed, step).

Evaluation on the test split, every `config.eval.every_steps`: FID (and KID, precision, recall)
of G_A(test A) against the real test B (`fid_a2b`) and of G_B(test B) against test A
(`fid_b2a`), the cycle-reconstruction error `cycle_l1` (mean of |G_B(G_A(a)) - a| and
|G_A(G_B(b)) - b| in [0, 1] units), the floors FID(test A, test B) of no translation at all, and
a grid of (a, G_A(a), G_B(G_A(a)), b, G_B(b), G_A(G_B(b))) rows.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from ganjax import rng
from ganjax.data import BatchIterator, to_float_images
from ganjax.data.jitter import jitter_batch
from ganjax.data.translation_tasks import load_unpaired_split
from ganjax.errors import ConfigError, DataError
from ganjax.evaluators.fid import quantize
from ganjax.methods import image_pool
from ganjax.methods.base import Data
from ganjax.methods.registry import register
from ganjax.methods.translation import TranslationMethod, map_batches
from ganjax.metrics import image_quality
from ganjax.models.instance_norm import zero_cancelled_bias_grads
from ganjax.models.patchgan import PatchGANDiscriminator
from ganjax.models.resnet_generator import ResNetGenerator
from ganjax.objectives import translation_losses
from ganjax.training import optim
from ganjax.training.train_state import NetState, TrainState

G_A, G_B, D_A, D_B = "generator_a2b", "generator_b2a", "discriminator_b", "discriminator_a"
POOL_A, POOL_B = "fake_a_pool", "fake_b_pool"
# The generator passes of one step; each folds its id into the step's dropout key.
_G_PASSES = _FAKE_B, _REC_A, _FAKE_A, _REC_B, _IDT_B, _IDT_A = range(6)


class UnpairedBatchIterator(BatchIterator):
    """{"a", "b"} uint8 [B, crop, crop, C] batches (see the module docstring)."""

    def __init__(self, data, *, load_size: int, crop_size: int, flip: bool, **kwargs):
        self.a, self.b = data["a"], data["b"]
        n = max(len(self.a), len(self.b))
        super().__init__({"index": np.arange(n, dtype=np.int64)}, keys=("index",), **kwargs)
        self.load_size, self.crop_size, self.flip = load_size, crop_size, flip

    def batch_at(self, step: int) -> dict[str, np.ndarray]:
        index = super().batch_at(step)["index"][0]  # [B], a permutation of max(|A|, |B|).
        ia = index % len(self.a)
        ib = rng.stream(self.seed, "cyclegan_b_index", step).integers(0, len(self.b), len(index))
        kw = dict(
            seed=self.seed,
            step=step,
            load_size=self.load_size,
            crop_size=self.crop_size,
            flip=self.flip,
        )
        (a,) = jitter_batch([self.a[ia]], indices=ia, **kw)
        (b,) = jitter_batch([self.b[ib]], indices=ib + len(self.a), **kw)
        return {"a": a, "b": b}


@register
class CycleGAN(TranslationMethod):
    """Unpaired translation: two ResNet generators, two PatchGANs, cycle + identity losses."""

    name = "cyclegan"
    train_keys = ("a", "b")
    example_config = "configs/fashion_mnist_cyclegan.py:tiny"
    batch_axis = 0
    progress_keys = (
        ("d_a", "d_a/loss"),
        ("d_b", "d_b/loss"),
        ("g_a", "g/gan_a"),
        ("g_b", "g/gan_b"),
        ("cycle", "g/cycle"),
        ("idt", "g/identity"),
    )
    eval_curves = ("fid_a2b", "fid_b2a")
    eval_curves_label = "fid"
    grid_columns = 6

    def __init__(self, config):
        super().__init__(config)
        c = config
        if c.model.norm not in ("instance", "none"):
            raise ConfigError(
                f"config.model.norm='{c.model.norm}': cyclegan supports 'instance' (the "
                "paper's) and 'none'; batch norm's running statistics are not threaded here."
            )
        if min(c.loss.lambda_a, c.loss.lambda_b, c.loss.lambda_identity) < 0:
            raise ConfigError("config.loss.lambda_a, lambda_b and lambda_identity must be >= 0")
        # Per network, the layers whose bias instance norm does not cancel.
        g_keep, d_keep = {"conv_out"}, {"conv_0", f"conv_{c.model.d_layers + 1}"}
        self.bias_keep = {G_A: g_keep, G_B: g_keep, D_A: d_keep, D_B: d_keep}

    # -- data -------------------------------------------------------------------------------
    def load_data(self) -> Data:
        d, e = self.config.data, self.config.eval
        train = load_unpaired_split(d, d.train_split, d.load_size, d.max_examples or None)
        test = load_unpaired_split(d, d.test_split, d.crop_size, e.max_test_examples or None)
        for split, arrays in (("train", train), (d.test_split, test)):
            if not len(arrays["a"]) or not len(arrays["b"]):
                raise DataError(f"{d.name}: a domain of the {split} split is empty")
        if train["a"].shape[-1] != train["b"].shape[-1]:
            raise ConfigError(
                f"{d.name}: domains A and B have {train['a'].shape[-1]} and "
                f"{train['b'].shape[-1]} channels; set config.data.grayscale to read both alike."
            )
        shape = tuple(test["a"].shape[1:])
        info = {
            "image_shape": list(shape),
            "num_train_a": len(train["a"]),
            "num_train_b": len(train["b"]),
            "num_test_a": len(test["a"]),
            "num_test_b": len(test["b"]),
            "test_split": d.test_split,
        }
        return Data(shape, info, {"train": train, "test": test})

    def steps_per_epoch(self, data: Data) -> int:
        n = max(len(data.train["a"]), len(data.train["b"]))
        return max(n // self.config.train.batch_size, 1)

    def batches(self, data: Data, start_step: int) -> UnpairedBatchIterator:
        return UnpairedBatchIterator(data.train, **self.iterator_kwargs(start_step))

    # -- state ------------------------------------------------------------------------------
    def create_models(self, data: Data):
        m = self.config.model
        generator = ResNetGenerator(
            out_channels=data.image_shape[-1],
            ngf=m.ngf,
            num_blocks=m.num_blocks,
            norm=m.norm,
            use_dropout=m.use_dropout,
            init_std=m.init_std,
            conv_impl=m.conv_impl,
            conv_transpose_impl=m.conv_transpose_impl,
        )
        discriminator = PatchGANDiscriminator(
            ndf=m.ndf, n_layers=m.d_layers, norm=m.norm, init_std=m.init_std, conv_impl=m.conv_impl
        )
        return generator, discriminator

    def create_state(self, data, key, steps_per_epoch, num_steps) -> TrainState:
        generator, discriminator = self.create_models(data)
        x = jnp.zeros((2, *data.image_shape), jnp.float32)
        g_tx, d_tx = optim.create_optimizers(self.config, steps_per_epoch, num_steps)
        nets = {}
        for name, key_i in zip((G_A, G_B, D_A, D_B), jax.random.split(key, 4)):
            module, tx = (generator, g_tx) if name in (G_A, G_B) else (discriminator, d_tx)
            variables = jax.jit(functools.partial(module.init, train=False))(key_i, x)
            nets[name] = NetState.create(apply_fn=module.apply, variables=variables, tx=tx)
        pool = int(self.config.train.pool_size)
        if pool < 0:
            raise ConfigError(f"config.train.pool_size must be >= 0, got {pool}")
        extra = {}  # No buffers without a pool (orbax stores no zero-size arrays).
        if pool:
            extra = {n: image_pool.init_pool(pool, data.image_shape) for n in (POOL_A, POOL_B)}
        return TrainState.create(nets, extra=extra)

    # -- the step ---------------------------------------------------------------------------
    def train_step(self, state: TrainState, batch, key):
        new_state, metrics, _ = self.step_with_gradients(state, batch, key)
        return new_state, metrics

    def step_with_gradients(self, state: TrainState, batch, key):
        """One update of both generators, then of both discriminators (module docstring).

        Args:
          state: the replicated train state.
          batch: {"a": uint8 [B, S, S, C], "b": uint8 [B, S, S, C]}, sharded on B.
          key: the loop key; the step's key is fold_in(key, state.step).

        Returns:
          (new state, metrics, {network name: its gradient}).
        """
        c = self.config.loss
        a, b = to_float_images(batch["a"]), to_float_images(batch["b"])
        k = jax.random.fold_in(key, state.step)
        k_drop, k_pool_a, k_pool_b = jax.random.split(k, 3)
        gan_mode = c.gan_mode
        ga, gb, da, db = (state[n] for n in (G_A, G_B, D_A, D_B))

        def gen(net, params, x, pass_id):
            # Each of the (up to) six generator passes has its own dropout key (`_G_PASSES`).
            rngs = {"dropout": jax.random.fold_in(k_drop, pass_id)}
            return net.apply(x, params=params, rngs=rngs)[0]

        def judge(net, params, x):
            return net.apply(x, params=params)[0]

        def g_loss_fn(pa, pb):
            fake_b = gen(ga, pa, a, _FAKE_B)
            rec_a = gen(gb, pb, fake_b, _REC_A)
            fake_a = gen(gb, pb, b, _FAKE_A)
            rec_b = gen(ga, pa, fake_a, _REC_B)
            gan_a = translation_losses.patch_generator_loss(
                fake_outputs=judge(da, da.params, fake_b), gan_mode=gan_mode
            )
            gan_b = translation_losses.patch_generator_loss(
                fake_outputs=judge(db, db.params, fake_a), gan_mode=gan_mode
            )
            cyc_a = translation_losses.cycle_consistency_loss(
                reconstruction=rec_a, original=a, weight=c.lambda_a
            )
            cyc_b = translation_losses.cycle_consistency_loss(
                reconstruction=rec_b, original=b, weight=c.lambda_b
            )
            idt = jnp.zeros(())
            if c.lambda_identity > 0:
                idt = translation_losses.identity_loss(
                    mapped=gen(ga, pa, b, _IDT_B), original=b, weight=c.lambda_identity * c.lambda_b
                ) + translation_losses.identity_loss(
                    mapped=gen(gb, pb, a, _IDT_A), original=a, weight=c.lambda_identity * c.lambda_a
                )
            total = gan_a + gan_b + cyc_a + cyc_b + idt
            aux = (fake_a, fake_b, gan_a, gan_b, cyc_a + cyc_b, idt)
            return total, aux

        (g_loss, aux), (grad_ga, grad_gb) = jax.value_and_grad(
            g_loss_fn, argnums=(0, 1), has_aux=True
        )(ga.params, gb.params)
        fake_a, fake_b, gan_a, gan_b, cycle, idt = aux
        fake_a_seen, fake_b_seen, extra = fake_a, fake_b, {}
        if state.extra:  # The history buffers.
            pool_a, fake_a_seen = image_pool.query(state.extra[POOL_A], fake_a, k_pool_a)
            pool_b, fake_b_seen = image_pool.query(state.extra[POOL_B], fake_b, k_pool_b)
            extra = {POOL_A: pool_a, POOL_B: pool_b}
        fake_a_seen = jax.lax.stop_gradient(fake_a_seen)
        fake_b_seen = jax.lax.stop_gradient(fake_b_seen)

        def d_loss_fn(params, net, real, fake):
            return translation_losses.patch_discriminator_loss(
                real_outputs=judge(net, params, real),
                fake_outputs=judge(net, params, fake),
                gan_mode=gan_mode,
            )

        (da_loss, da_parts), grad_da = jax.value_and_grad(d_loss_fn, has_aux=True)(
            da.params, da, b, fake_b_seen
        )
        (db_loss, db_parts), grad_db = jax.value_and_grad(d_loss_fn, has_aux=True)(
            db.params, db, a, fake_a_seen
        )
        grads = {G_A: grad_ga, G_B: grad_gb, D_A: grad_da, D_B: grad_db}
        if self.config.model.norm == "instance":
            grads = {
                k: zero_cancelled_bias_grads(v, keep=self.bias_keep[k]) for k, v in grads.items()
            }
        new_state = state.with_nets(
            **{n: state[n].apply_gradients(grads[n]) for n in (G_A, G_B, D_A, D_B)}
        ).replace(step=state.step + 1, extra=extra)
        metrics = {
            "g/loss": g_loss,
            "g/gan_a": gan_a,
            "g/gan_b": gan_b,
            "g/cycle": cycle,
            "g/identity": idt,
            "g/grad_norm": optax.global_norm((grad_ga, grad_gb)),
            "d/loss": da_loss + db_loss,
            "d_a/loss": da_loss,
            "d_a/loss_real": da_parts["loss_real"],
            "d_a/loss_fake": da_parts["loss_fake"],
            "d_b/loss": db_loss,
            "d_b/loss_real": db_parts["loss_real"],
            "d_b/loss_fake": db_parts["loss_fake"],
            "d/grad_norm": optax.global_norm((grad_da, grad_db)),
        }
        return new_state, metrics, grads

    # -- outputs ----------------------------------------------------------------------------
    def translate_split(self, state, images_u8: np.ndarray, direction: str) -> np.ndarray:
        return translate_images(
            state, images_u8, direction=direction, batch_size=self.config.eval.batch_size
        )

    def sample_grid(self, state, data, key):
        test = data.splits.get("test")
        if test is None:
            return None
        n = min(self.config.eval.grid_rows, len(test["a"]), len(test["b"]))
        a, b = test["a"][:n], test["b"][:n]
        fake_b = self.translate_split(state, a, "AtoB")
        fake_a = self.translate_split(state, b, "BtoA")
        rec_a = self.translate_split(state, fake_b, "BtoA")
        rec_b = self.translate_split(state, fake_a, "AtoB")
        rows = np.stack([a, fake_b, rec_a, b, fake_a, rec_b], axis=1)  # [n, 6, H, W, C]
        return rows.reshape(6 * n, *data.image_shape).astype(np.float32) / 127.5 - 1.0

    def evaluate(self, state, data, step):
        test = data.splits["test"]
        a, b = test["a"], test["b"]
        fake_b = self.translate_split(state, a, "AtoB")
        fake_a = self.translate_split(state, b, "BtoA")
        rec_a = self.translate_split(state, fake_b, "BtoA")
        rec_b = self.translate_split(state, fake_a, "AtoB")
        cyc_a, cyc_b = image_quality.l1(rec_a, a), image_quality.l1(rec_b, b)
        ev = self.evaluator(data)
        result: dict[str, float] = {
            "cycle_l1": 0.5 * (cyc_a + cyc_b),
            "cycle_l1_a": cyc_a,
            "cycle_l1_b": cyc_b,
        }
        for direction, fake, real in (("a2b", fake_b, b), ("b2a", fake_a, a)):
            for k, v in ev.score(real, fake).items():
                result[f"{k}_{direction}"] = v
        # The floor of doing nothing: the inputs themselves against the other domain.
        result["fid_a2b_identity"] = ev.score(b, a)["fid"]
        result["fid_b2a_identity"] = ev.score(a, b)["fid"]
        logging.info(
            "step %d: FID A->B %.3f (untranslated %.3f), B->A %.3f (untranslated %.3f), "
            "cycle L1 %.4f",
            step,
            result["fid_a2b"],
            result["fid_a2b_identity"],
            result["fid_b2a"],
            result["fid_b2a_identity"],
            result["cycle_l1"],
        )
        return result

    def protocol(self, data: Data) -> dict[str, Any]:
        c, info = self.config, data.info
        return {
            "split": c.data.test_split,
            "num_test_a": info["num_test_a"],
            "num_test_b": info["num_test_b"],
            "fid_a2b": "G_A(test A) vs the real test B; fid_b2a: G_B(test B) vs the real test A",
            "fid_*_identity": "the untranslated inputs vs the other domain (no translation)",
            "cycle_l1": "mean of |G_B(G_A(a)) - a| and |G_A(G_B(b)) - b|, [0, 1] units, uint8 "
            "outputs as saved",
            "distribution_metrics": self.evaluator(data).protocol(
                info["num_test_b"], info["num_test_a"]
            ),
        }

    def results(self, state, data, last_eval):
        out = dict(last_eval)
        out.pop("step", None)
        if out and "test" in data.splits:
            out["protocol"] = self.protocol(data)
        return out


@functools.partial(jax.jit, static_argnames=("direction",))
def _translate_batch(state: TrainState, images: jax.Array, direction: str) -> jax.Array:
    net = state[G_A if direction == "AtoB" else G_B]
    return quantize(net.apply(to_float_images(images), train=False)[0])


def translate_images(
    state: TrainState, images_u8: np.ndarray, *, direction: str = "AtoB", batch_size: int = 100
) -> np.ndarray:
    """uint8 translations [N, H, W, C] of uint8 images by G_A ("AtoB") or G_B ("BtoA").

    Instance norm uses each image's own statistics in training and at test time alike, and
    dropout is off at test time, so the outputs do not depend on the batching.
    """
    if direction not in ("AtoB", "BtoA"):
        raise ConfigError(f"direction must be 'AtoB' or 'BtoA', not '{direction}'")
    return map_batches(lambda _, x: _translate_batch(state, x, direction), images_u8, batch_size)
