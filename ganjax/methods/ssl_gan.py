"""The semi-supervised GAN method (Salimans et al. 2016) and its supervised-only baseline.

Per step: the discriminator (a K-class classifier) takes one update on a labeled batch
(cross-entropy), an unlabeled batch and a batch of fakes (the real/fake loss through its
`gan_logit`); then the generator takes one update through the updated discriminator, by
feature matching against a second, independently shuffled unlabeled batch (or the
non-saturating loss). With `config.loss.supervised_only` the generator and the unlabeled loss
are off: the same classifier on the same labeled subset, the baseline every SSL number needs.
Evaluation (every epoch) reports test and validation accuracy of the raw and the EMA
discriminator; the validation split is carved from the test set and is the one to select on.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from ganjax import models, rng
from ganjax.data import BatchIterator, labeled, load_split, to_float_images
from ganjax.errors import ConfigError
from ganjax.methods.base import Batch, Data, Generator, Method
from ganjax.methods.d_regularization import DRegularization
from ganjax.methods.registry import register
from ganjax.models.ssl import create_ssl_models
from ganjax.objectives import losses
from ganjax.training import ema_batch_stats, optim
from ganjax.training.train_state import NetState, TrainState

G, D = "generator", "discriminator"
# D's passes in one step, each with its own dropout / noise key (fold_in of the step's pass key):
# the D update's labeled, unlabeled and fake batches, the penalties' real and fake evaluations,
# and the G update's fake and (feature matching) real batches.
_LAB, _UNL, _FAKE, _PENALTY_REAL, _PENALTY_FAKE, _G_FAKE, _G_REAL = range(7)
ACCURACY_KEYS = (
    "test_accuracy",
    "val_accuracy",
    "ema_test_accuracy",
    "ema_val_accuracy",
    "labeled_train_accuracy",
)


@register
class SemiSupervisedGAN(Method):
    """`config.method = "ssl_gan"` (configs/*_ssl*.py)."""

    name = "ssl_gan"
    example_config = "configs/fashion_mnist_ssl.py:tiny"
    batch_axis = 0
    eval_curves = (
        "test_accuracy",
        "ema_test_accuracy",
        "val_accuracy",
        "ema_val_accuracy",
        "labeled_train_accuracy",
    )
    eval_curves_label = "accuracy"

    def __init__(self, config):
        super().__init__(config)
        loss = config.loss
        self.supervised_only = bool(loss.supervised_only)
        self.extra_class = bool(config.model.extra_class)
        if self.supervised_only and config.eval.get("fid_every_steps"):
            raise ConfigError(
                "config.eval.fid_every_steps is set, but a supervised-only baseline trains no "
                "generator; set it to 0."
            )
        self.mode = "supervised-only baseline" if self.supervised_only else "semi-supervised GAN"
        self.reg = DRegularization(config)
        if config.train.get("d_steps", 1) != 1:
            raise ConfigError(
                "config.train.d_steps must be 1 for the semi-supervised GAN (one D update, then "
                "one G update per step, as in the paper)."
            )
        models.check_discriminator_options(config.model)
        self.progress_keys = tuple((k, k) for k in ("d/loss", "d/loss_sup", "d/train_accuracy")) + (
            () if self.supervised_only else (("g/loss", "g/loss"),)
        )

    # -- data -------------------------------------------------------------------------------
    def load_data(self) -> Data:
        c, d = self.config, self.config.data
        kw = dict(
            manual_dir=d.manual_dir or None,
            tfds_data_dir=d.tfds_data_dir or None,
            cache_dir=d.cache_dir,
        )
        train = load_split(d.name, d.train_split, max_examples=d.max_examples or None, **kw)
        test = load_split(d.name, "test", max_examples=d.max_test_examples or None, **kw)
        lab_idx = labeled.labeled_subset(train["label"], d.num_labeled, c.seed, d.labeled_mode)
        val_idx, test_idx = labeled.split_validation(len(test["image"]), d.val_fraction, c.seed)
        num_classes = int(train["label"].max()) + 1
        shape = tuple(train["image"].shape[1:])
        info = {
            "image_shape": list(shape),
            "num_train_examples": len(train["image"]),
            "num_labeled": len(lab_idx),
            "labeled_class_counts": np.bincount(
                train["label"][lab_idx], minlength=num_classes
            ).tolist(),
            "num_validation": len(val_idx),
            "num_test": len(test_idx),
            "task": "ssl",
        }
        logging.info(
            "%s on %s: %d labeled of %d, %d val / %d test",
            self.mode,
            d.name,
            len(lab_idx),
            len(train["image"]),
            len(val_idx),
            len(test_idx),
        )
        splits = {
            "train": train,
            "test": test,
            "index": {"labeled": lab_idx, "val": val_idx, "test": test_idx},
        }
        return Data(shape, info, splits)

    def batches(self, data: Data, start_step: int):
        return SSLBatches(
            data.train,
            data.splits["index"]["labeled"],
            self.config.train.batch_size,
            self.config.seed,
            start_step,
        )

    # -- state ------------------------------------------------------------------------------
    def create_state(self, data, key, steps_per_epoch, num_steps) -> TrainState:
        """G and D; D's weight-norm layers are initialized from training images (data-dependent;
        random images when restoring a run, whose values the checkpoint replaces)."""
        c = self.config
        num_classes = len(data.info["labeled_class_counts"])
        if data.splits:
            n = len(data.train["image"])
            rows = rng.stream(c.seed, "ssl_init_images").choice(
                n, min(c.model.init_batch_size, n), replace=False
            )
            init_images = data.train["image"][np.sort(rows)]
        else:
            init_images = np.random.default_rng(0).integers(
                0, 256, (8, *data.image_shape), dtype=np.uint8
            )
        generator, discriminator = create_ssl_models(c.model, data.image_shape, num_classes)
        g_key, d_key, z_key = jax.random.split(key, 3)
        # Real latent draws, not zeros: G's weight-norm output layer is initialized from them.
        z = models.sample_latents(z_key, len(init_images), c.model.latent_dim, c.model.latent_dist)
        g_vars = jax.jit(functools.partial(generator.init, train=False))(g_key, z)
        # Data-dependent init with D in training mode (noise and dropout on), as the paper's
        # code does, so the initial scales account for the regularizing noise.
        d_rngs = {
            "params": d_key,
            "noise": jax.random.fold_in(d_key, 1),
            "dropout": jax.random.fold_in(d_key, 2),
        }
        d_vars = jax.jit(functools.partial(discriminator.init, train=True))(
            d_rngs, to_float_images(jnp.asarray(init_images))
        )
        g_tx, d_tx = optim.create_optimizers(c, steps_per_epoch, num_steps)
        nets = {
            G: NetState.create(apply_fn=generator.apply, variables=g_vars, tx=g_tx),
            D: NetState.create(apply_fn=discriminator.apply, variables=d_vars, tx=d_tx),
        }
        # The Polyak (EMA) copy is of D's parameters, used for classifying, as in the paper's code.
        return TrainState.create(nets, ema_of=(D,), ema_decay=c.model.ema_decay)

    # -- the step ---------------------------------------------------------------------------
    def train_step(self, state: TrainState, batch: Batch, key: jax.Array):
        """One D update then (unless supervised_only) one G update. Batch arrays are [B, ...]."""
        c = self.config
        x_lab, y_lab = to_float_images(batch["lab_image"]), batch["lab_label"]
        b = x_lab.shape[0]
        pass_key, aug_key, z_key = jax.random.split(jax.random.fold_in(key, state.step), 3)

        def rngs(i):  # Each D pass of the step has its own dropout and noise (`_LAB` ...).
            k = jax.random.fold_in(pass_key, i)
            return {"dropout": jax.random.fold_in(k, 0), "noise": jax.random.fold_in(k, 1)}

        g, d = state[G], state[D]

        def d_apply(params, coll, x, i):
            (logits, feats), coll = d.apply(x, params=params, collections=coll, rngs=rngs(i))
            return logits, feats, coll

        # DiffAugment and the penalties (config.data.augment, config.loss.gradient_penalty,
        # r1_gamma, r2_gamma) on the real/fake game: D's real/fake logit is its gan_logit.
        aug = lambda x, i: self.reg.augment(x, jax.random.fold_in(aug_key, i))

        def d_loss_fn(d_params, fake):
            lab_logits, _, coll = d_apply(d_params, d.collections, aug(x_lab, 0), _LAB)
            unl_logits = fake_logits = None
            penalty, pen_metrics = 0.0, {}
            if not self.supervised_only:
                real, fake = aug(to_float_images(batch["unl_image"]), 1), aug(fake, 2)
                unl_logits, _, coll = d_apply(d_params, coll, real, _UNL)
                fake_logits, _, coll = d_apply(d_params, coll, fake, _FAKE)
                gan_logit_fn = lambda x, i: losses.gan_logit(
                    d_apply(d_params, d.collections, x, i)[0], extra_class=self.extra_class
                )
                penalty, pen_metrics = self.reg.penalties(
                    lambda x: gan_logit_fn(x, _PENALTY_REAL),
                    lambda x: gan_logit_fn(x, _PENALTY_FAKE),
                    real,
                    fake,
                    jax.random.fold_in(aug_key, 3),
                    state.step,
                )
            loss, parts = losses.ssl_discriminator_loss(
                lab_logits=lab_logits,
                labels=y_lab,
                unl_logits=unl_logits,
                fake_logits=fake_logits,
                extra_class=self.extra_class,
                unsup_weight=c.loss.unsup_weight,
            )
            num_real = lab_logits.shape[-1] - int(self.extra_class)
            parts["train_accuracy"] = jnp.mean(jnp.argmax(lab_logits[:, :num_real], -1) == y_lab)
            return loss + penalty, ({**parts, **pen_metrics}, coll)

        # D's fakes and G's fakes are separate draws, as in the paper's code (each of its two
        # Theano functions samples the generator anew).
        z_d, z_g = (
            models.sample_latents(k, b, c.model.latent_dim, c.model.latent_dist)
            for k in jax.random.split(z_key)
        )
        fake = None if self.supervised_only else g.apply(z_d)[0]
        (d_loss, (parts, d_coll)), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(
            d.params, None if fake is None else jax.lax.stop_gradient(fake)
        )
        d = d.apply_gradients(d_grads, d_coll)
        metrics = {
            "d/loss": d_loss,
            "d/grad_norm": optax.global_norm(d_grads),
            **{f"d/{n}": v for n, v in parts.items()},
        }

        if not self.supervised_only:
            # The generator's loss through the updated D (its batch statistics not updated here).
            def g_loss_fn(fake):
                fake_logits, fake_feats, _ = d_apply(d.params, d.collections, aug(fake, 4), _G_FAKE)
                if c.loss.generator == "feature_matching":
                    real2 = aug(to_float_images(batch["unl2_image"]), 5)
                    _, real_feats, _ = d_apply(d.params, d.collections, real2, _G_REAL)
                    return losses.feature_matching_loss(
                        real_features=real_feats,
                        fake_features=fake_feats,
                        distance=c.loss.fm_distance,
                    )
                logit = losses.gan_logit(fake_logits, extra_class=self.extra_class)
                return jax.nn.softplus(-logit).mean()

            fake, g_vjp, g_coll = jax.vjp(lambda p: g.apply(z_g, params=p), g.params, has_aux=True)
            g_loss, fake_grads = jax.value_and_grad(g_loss_fn)(fake)
            (g_grads,) = g_vjp(fake_grads)
            g = g.apply_gradients(g_grads, g_coll)
            metrics.update({"g/loss": g_loss, "g/grad_norm": optax.global_norm(g_grads)})
        new = state.with_nets(**{G: g, D: d}).replace(step=state.step + 1).update_ema()
        return new, metrics

    # -- outputs ----------------------------------------------------------------------------
    def generator(self, state, data, use_ema=True) -> Generator | None:
        if self.supervised_only:
            return None
        c = self.config.model
        # The semi-supervised GAN keeps an EMA of D (for classification), not of G.
        return Generator(
            functools.partial(generate, state),
            c.latent_dim,
            c.latent_dist,
            tuple(data.image_shape),
            int(state.step),
            "raw",
            self.config,
            state,
        )

    def evaluate(self, state, data, step):
        test, idx, train = data.splits["test"], data.splits["index"], data.train
        k = len(data.info["labeled_class_counts"])
        out = {}
        # The EMA D classifies with batch-norm statistics recomputed for its weights.
        ema_coll = self.ema_discriminator_collections(state, data)
        for use_ema, prefix in ((False, ""), (True, "ema_")):
            val, coll = idx["val"], ema_coll if use_ema else None
            if len(val):  # No validation split (the paper's protocol): no validation keys.
                out[f"{prefix}val_accuracy"] = accuracy(
                    state, test["image"][val], test["label"][val], k, use_ema, coll
                )
            out[f"{prefix}test_accuracy"] = accuracy(
                state, test["image"][idx["test"]], test["label"][idx["test"]], k, use_ema, coll
            )
        lab = idx["labeled"]
        out["labeled_train_accuracy"] = accuracy(
            state, train["image"][lab], train["label"][lab], k, False
        )
        val_txt = (
            f", val acc {out['val_accuracy']:.4f} (EMA {out['ema_val_accuracy']:.4f})"
            if "val_accuracy" in out
            else ""
        )
        logging.info(
            "eval step %d: test acc %.4f (EMA %.4f)%s, labeled-train acc %.4f",
            step,
            out["test_accuracy"],
            out["ema_test_accuracy"],
            val_txt,
            out["labeled_train_accuracy"],
        )
        return out

    def ema_discriminator_collections(self, state: TrainState, data: Data) -> dict | None:
        """D's collections for its EMA weights, batch-norm statistics recomputed (None: no EMA).

        `ema_batch_stats.NUM_BATCHES` batches of `config.train.batch_size` training images
        (rows drawn without replacement, when the set is large enough, from the run seed's
        "ema_batch_stats" stream, index 1), D in training mode with its dropout and noise on
        (key from the same stream, index 2); see ganjax/training/ema_batch_stats.py. D's running
        statistics in training follow its labeled, unlabeled and fake passes; the EMA D
        classifies real images, so its statistics are those of real training images.
        """
        if state.ema_decay <= 0 or not state[D].collections.get("batch_stats"):
            return None
        c, images = self.config, data.train["image"]
        b, num = int(c.train.batch_size), ema_batch_stats.NUM_BATCHES
        rows = rng.stream(c.seed, "ema_batch_stats", 1).choice(
            len(images), b * num, replace=b * num > len(images)
        )
        x = to_float_images(jnp.asarray(images[rows])).reshape(num, b, *images.shape[1:])
        return ema_batch_stats.recompute_batch_stats(
            state[D],
            state.ema[D],
            (x,),
            rng.key(c.seed, "ema_batch_stats", 2),
            rng_names=("dropout", "noise"),
        )

    def results(self, state, data, last_eval) -> dict[str, Any]:
        out = {
            "mode": self.mode,
            "num_labeled": data.info["num_labeled"],
            **{k: last_eval[k] for k in ACCURACY_KEYS if k in last_eval},
            "num_test": data.info["num_test"],
        }
        for prefix in ("", "ema_"):
            acc = last_eval.get(f"{prefix}test_accuracy")
            out[f"{prefix}test_error"] = None if acc is None else 1 - acc
        return out


@functools.partial(jax.jit, static_argnames=("num_classes", "use_ema"))
def predict(
    state: TrainState,
    images: jax.Array,
    num_classes: int,
    use_ema: bool,
    collections: dict | None = None,
) -> jax.Array:
    """Class predictions (argmax over the K real classes) in inference mode.

    `collections` replaces D's own: with `use_ema`, pass
    `SemiSupervisedGAN.ema_discriminator_collections` (batch-norm statistics of the EMA weights).
    """
    d = state[D]
    params = state.params(D, use_ema)
    x = to_float_images(images)
    (logits, _), _ = d.apply(x, params=params, collections=collections, train=False)
    return jnp.argmax(logits[:, :num_classes], -1)


@jax.jit
def generate(state: TrainState, z: jax.Array) -> jax.Array:
    """Generator samples in inference mode."""
    return state[G].apply(z, train=False)[0]


def accuracy(
    state,
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    use_ema: bool,
    collections: dict | None = None,
    chunk: int = 500,
) -> float:
    """Accuracy over a whole split, in fixed-size chunks (the last one padded)."""
    correct = 0
    for start in range(0, len(images), chunk):
        x = images[start : start + chunk]
        n = len(x)
        if n < chunk:
            x = np.concatenate([x, np.zeros((chunk - n, *x.shape[1:]), x.dtype)])
        pred = np.asarray(predict(state, x, num_classes, use_ema, collections))[:n]
        correct += int((pred == labels[start : start + n]).sum())
    return correct / len(images)


class SSLBatches:
    """Per step: a labeled batch holding each labeled image at most once
    (`labeled.LabeledOrder`, the paper's draw), an unlabeled batch, and a second, independently
    shuffled unlabeled batch (G's feature matching); all pure functions of (seed, step), so a
    run resumes exactly from any step."""

    def __init__(self, train, lab_idx, batch_size, seed, start_step):
        self.train, self.lab_idx = train, np.asarray(lab_idx)
        self.lab = labeled.LabeledOrder(len(self.lab_idx), batch_size, seed)
        kw = dict(batch_size=batch_size, seed=seed, start_step=start_step)
        self.unl = BatchIterator(train, stream="ssl_unlabeled_order", **kw)
        self.unl2 = BatchIterator(train, stream="ssl_unlabeled2_order", **kw)
        self.steps_per_epoch = self.unl.steps_per_epoch
        self.step = start_step

    def __iter__(self):
        return self

    def __next__(self):
        rows = self.lab_idx[self.lab.positions(self.step)]
        self.step += 1
        unl, unl2 = next(self.unl), next(self.unl2)
        return {
            "lab_image": self.train["image"][rows],
            "lab_label": self.train["label"][rows],
            "unl_image": unl["image"][0],
            "unl2_image": unl2["image"][0],
        }
