"""The class-conditional GAN method (`config.method = "cgan"`): G(z, y) and D(x, y).

Everything but the conditioning comes from the GAN method (ganjax/methods/gan.py): the schedule,
every loss and regularizer of the zoo, DiffAugment, EMA. This module only fills its hooks:
  * the generator gets a class label (a learned embedding concatenated to z, or class-conditional
    batch norm: `config.model.g_conditioning` = "concat" | "cbn"); fakes are drawn with uniform
    labels;
  * the discriminator is either a projection discriminator (Miyato and Koyama 2018:
    psi(phi) + <embed(y), phi>, phi the sum-pooled last feature map) or an AC-GAN (Odena et
    al. 2017: an auxiliary classifier head, its cross-entropy on reals and fakes added to D's
    loss and on fakes to G's), by
    `config.model.d_conditioning` = "projection" | "acgan" (weight `config.loss.ac_weight`);
  * sample grids have one row per class; `experiments.sample --label=K` draws class K;
  * evaluation scores the domain classifier's accuracy on each class's samples
    (`config.eval.class_accuracy_samples` per class; ganjax/evaluators/class_accuracy.py) beside
    FID, for which the generator draws class-balanced labels (image i has class i mod K).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from ganjax import models
from ganjax.errors import ConfigError
from ganjax.evaluators import class_accuracy, extractors
from ganjax.methods.base import Data, Generator
from ganjax.methods.gan import GAN, generate
from ganjax.methods.registry import register
from ganjax.models.conditional import create_conditional_models


@register
class ConditionalGAN(GAN):
    """Class-conditional GAN: projection discriminator or AC-GAN."""

    name = "cgan"
    example_config = "configs/fashion_mnist_cgan.py:tiny"
    batch_keys = ("image", "label")
    eval_curves = ("class_accuracy",)
    eval_curves_label = "class_accuracy"

    def __init__(self, config):
        super().__init__(config)
        self._k = None  # The class count, known once create_state has seen the data.
        self.ac_weight = float(config.loss.get("ac_weight", 1.0))
        self._extractor = None

    def num_classes(self, data: Data) -> int:
        return int(data.info["num_classes"])

    def load_data(self) -> Data:
        data = super().load_data()
        if "label" not in data.train:
            raise ConfigError(
                f"config.method=cgan needs class labels, and {self.config.data.name} has none."
            )
        data.info["num_classes"] = int(data.train["label"].max()) + 1
        self.grid_columns = max(self.config.eval.num_samples // data.info["num_classes"], 1)
        return data

    def create_models(self, data: Data):
        return create_conditional_models(
            self.config.model, data.image_shape, self.num_classes(data)
        )

    def init_inputs(self, data: Data):
        (z,), (x,) = super().init_inputs(data)
        y = jnp.zeros((len(z),), jnp.int32)
        return (z, y), (x, y)

    # -- the hooks of the GAN step ----------------------------------------------------------
    def sample_condition(self, key, batch_size):
        if self._k is None:
            raise RuntimeError("ConditionalGAN.create_state must run before its train step.")
        return jax.random.randint(key, (batch_size,), 0, self._k)

    def real_condition(self, batch, i):
        return batch["label"][i].astype(jnp.int32)

    def split_d_output(self, out):
        return out  # (logits [B], class logits [B, K] or None)

    def _ce(self, logits, labels):
        logp = jax.nn.log_softmax(logits, -1)
        return -jnp.take_along_axis(logp, labels[:, None], -1).mean()

    def d_aux_loss(self, real_aux, real_cond, fake_aux, fake_cond):
        if real_aux is None:
            return 0.0, {}
        loss = self._ce(real_aux, real_cond) + self._ce(fake_aux, fake_cond)
        acc = jnp.mean(jnp.argmax(real_aux, -1) == real_cond)
        return self.ac_weight * loss, {"ac_loss": loss, "ac_real_accuracy": acc}

    def g_aux_loss(self, fake_aux, fake_cond):
        if fake_aux is None:
            return 0.0, {}
        loss = self._ce(fake_aux, fake_cond)
        return self.ac_weight * loss, {"ac_loss": loss}

    def create_state(self, data, key, steps_per_epoch, num_steps):
        self._k = self.num_classes(data)
        return super().create_state(data, key, steps_per_epoch, num_steps)

    # -- outputs ----------------------------------------------------------------------------
    def _generator(self, state, data, ema, collections) -> Generator:
        gen = super()._generator(state, data, ema, collections)
        k = self.num_classes(data)
        gen.num_classes = k
        kw = dict(use_ema=ema, collections=collections)
        gen.generate_labeled = functools.partial(_generate_labeled, state, **kw)
        gen.generate = functools.partial(_generate_balanced, state, num_classes=k, **kw)
        return gen

    def stats_inputs(self, data, key, batch_size):
        """Latents and class-balanced labels (row i: class i mod K) for the EMA statistics."""
        (z,) = super().stats_inputs(data, key, batch_size)
        return z, jnp.arange(batch_size, dtype=jnp.int32) % self.num_classes(data)

    def sample_grid(self, state, data, key):
        """One row per class, the same latents in every row."""
        c, k = self.config, self.num_classes(data)
        per_row = max(c.eval.num_samples // k, 1)
        z = models.sample_latents(key, per_row, c.model.latent_dim, c.model.latent_dist)
        z = jnp.tile(z, (k, 1))
        labels = jnp.repeat(jnp.arange(k, dtype=jnp.int32), per_row)
        gen = self.generator(state, data)
        return np.asarray(jax.device_get(gen.generate_labeled(z, labels)))

    def evaluate(self, state, data, step):
        per_class = int(self.config.eval.get("class_accuracy_samples", 0) or 0)
        if not per_class:
            return {}
        if self._extractor is None:
            e = self.config.eval
            spec = (
                e.extractor
                if e.extractor.startswith("classifier:")
                else (f"classifier:{self.config.data.name}")
            )
            self._extractor = extractors.create_extractor(
                spec, self.config.data, classifier_arg=e.classifier_arg
            )
        gen = self.generator(state, data)
        out = class_accuracy.conditional_accuracy(
            gen.generate_labeled,
            self._extractor,
            num_classes=gen.num_classes,
            latent_dim=gen.latent_dim,
            latent_dist=gen.latent_dist,
            per_class=per_class,
            seed=self.config.eval.fid_seed,
        )
        logging.info(
            "step %d: class accuracy of generated samples %.4f (%s)",
            step,
            out["class_accuracy"],
            " ".join(f"{a:.2f}" for a in out["class_accuracy_per_class"]),
        )
        flat = {"class_accuracy": out["class_accuracy"]}
        flat.update(
            {f"class_accuracy/{i}": a for i, a in enumerate(out["class_accuracy_per_class"])}
        )
        return flat

    def results(self, state, data, last_eval):
        if "class_accuracy" not in last_eval:
            return {"num_classes": self.num_classes(data)}
        k = self.num_classes(data)
        return {
            "num_classes": k,
            "class_accuracy": last_eval["class_accuracy"],
            "class_accuracy_per_class": [last_eval[f"class_accuracy/{i}"] for i in range(k)],
        }


@functools.partial(jax.jit, static_argnames=("use_ema",))
def _generate_labeled(state, z, labels, use_ema=True, collections=None):
    labels = jnp.asarray(labels, jnp.int32)
    return generate(state, z, labels, use_ema=use_ema, collections=collections)


@functools.partial(jax.jit, static_argnames=("num_classes", "use_ema"))
def _generate_balanced(state, z, num_classes, use_ema=True, collections=None):
    labels = jnp.arange(z.shape[0], dtype=jnp.int32) % num_classes
    return generate(state, z, labels, use_ema=use_ema, collections=collections)
