"""pix2pix (`config.method = "pix2pix"`; Isola et al. 2017, "Image-to-Image Translation with
Conditional Adversarial Networks"), step for step the authors' `Pix2PixModel`.

Networks: a U-Net generator G (ganjax/models/unet.py; dropout is its only noise) and a
conditional discriminator D that sees the (input, output) pair stacked on the channel axis: the
70x70 PatchGAN, or the 1x1 PixelGAN, or the ImageGAN whose field covers the image
(`config.model.d_type` = patch | pixel | image; ganjax/models/patchgan.py). One training step:

    y^ = G(x)                                          (one forward, dropout on)
    D  <- grad of 0.5 * [GAN(D(x, y), real) + GAN(D(x, stop_grad(y^)), fake)]
    G  <- grad of GAN(D'(x, y^), real) + lambda_L1 * |y^ - y|_1      (D' = the updated D)

with GAN the binary cross-entropy on every patch's logit (`config.loss.gan_mode`, "vanilla"; or
"lsgan") and lambda_L1 = 100 (`config.loss.l1_weight`), as the authors' backward_D / backward_G.
G's gradient is pulled back through the step's single G forward (jax.vjp), so dropout masks and
batch statistics are the ones D was trained on, as in the authors' code. With instance norm, the
biases it cancels are held fixed (`zero_cancelled_bias_grads`: their gradient is float32 noise).

Data: pairs from ganjax/data/translation_tasks.py, jittered on the host (resize to
`config.data.load_size`, random `crop_size` crop, mirroring; the same draw for input and target,
deterministic from (seed, step, example index): ganjax/data/jitter.py).

Evaluation, every `config.eval.every_steps` and at the end, on the test split (loaded at
crop_size, no jitter): a grid of (input, output, target) rows, and L1, PSNR, SSIM
(ganjax/metrics/image_quality.py) and FID / KID / precision / recall of the outputs against the
targets (ganjax/evaluators/translation.py), all on uint8 outputs as saved to disk. Test-time
mode (`config.eval.test_mode`): "paper" runs G as the authors' test.py does (dropout on, each
test batch's own batch-norm statistics, batch size `config.eval.batch_size`, 1 in the paper);
"inference" uses the running statistics and no dropout. The loop's latent-sample FID
(`config.eval.fid_every_steps`) does not apply: a translator has no latent space.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from ganjax.data import BatchIterator, to_float_images
from ganjax.data.jitter import jitter_batch
from ganjax.data.translation_tasks import load_paired_split
from ganjax.errors import ConfigError, DataError
from ganjax.evaluators.fid import quantize
from ganjax.methods.base import Data
from ganjax.methods.registry import register
from ganjax.methods.translation import TranslationMethod, map_batches
from ganjax.metrics import image_quality
from ganjax.models.instance_norm import zero_cancelled_bias_grads
from ganjax.models.patchgan import (
    PatchGANDiscriminator,
    PixelGANDiscriminator,
    conditional_input,
    image_gan_layers,
)
from ganjax.models.unet import UNetGenerator
from ganjax.objectives import translation_losses
from ganjax.training import optim
from ganjax.training.train_state import NetState, TrainState

G, D = "generator", "discriminator"
D_TYPES = ("patch", "pixel", "image")
TEST_MODES = ("paper", "inference")


class PairedBatchIterator(BatchIterator):
    """{"input", "target"} uint8 [B, crop, crop, C] batches, jittered per step (see the module
    docstring); the order of examples is BatchIterator's (a new permutation every epoch)."""

    def __init__(self, data, *, load_size: int, crop_size: int, flip: bool, **kwargs):
        data = {**data, "index": np.arange(len(data["input"]), dtype=np.int64)}
        super().__init__(data, keys=("input", "target", "index"), **kwargs)
        self.load_size, self.crop_size, self.flip = load_size, crop_size, flip

    def batch_at(self, step: int) -> dict[str, np.ndarray]:
        b = super().batch_at(step)  # [1, B, ...]
        inputs, targets = jitter_batch(
            [b["input"][0], b["target"][0]],
            seed=self.seed,
            step=step,
            load_size=self.load_size,
            crop_size=self.crop_size,
            flip=self.flip,
            indices=b["index"][0],
        )
        return {"input": inputs, "target": targets}


def _to_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """Gray <-> RGB for display beside images of another channel count."""
    if images.shape[-1] == channels:
        return images
    if channels == 3:
        return np.repeat(images, 3, axis=-1)
    return images.mean(axis=-1, keepdims=True)


@register
class Pix2Pix(TranslationMethod):
    """Paired image-to-image translation: U-Net G, conditional PatchGAN D, cGAN + L1 loss."""

    name = "pix2pix"
    train_keys = ("input", "target")
    example_config = "configs/fashion_mnist_pix2pix.py:tiny"
    batch_axis = 0
    progress_keys = (
        ("d_loss", "d/loss"),
        ("g_gan", "g/gan"),
        ("g_l1", "g/l1"),
        ("D(x,y)", "d/real_out"),
        ("D(x,G(x))", "d/fake_out"),
    )
    eval_curves = ("l1", "ssim")
    eval_curves_label = "test"
    grid_columns = 3  # input, output, target

    def __init__(self, config):
        super().__init__(config)
        c = config
        if c.model.d_type not in D_TYPES:
            raise ConfigError(f"config.model.d_type must be one of {D_TYPES}, not {c.model.d_type}")
        if c.eval.test_mode not in TEST_MODES:
            raise ConfigError(
                f"config.eval.test_mode must be one of {TEST_MODES}, not {c.eval.test_mode}"
            )
        self.instance_norm = c.model.norm == "instance"
        # The layers whose bias instance norm does not cancel (D's: known in create_models).
        self.bias_keep = {G: {"down_0", f"down_{c.model.num_downs - 1}", "up_0"}, D: {"conv_0"}}
        self.l1_weight = float(c.loss.l1_weight)

    # -- data -------------------------------------------------------------------------------
    def load_data(self) -> Data:
        d = self.config.data
        train = load_paired_split(d, d.train_split, d.load_size, d.max_examples or None)
        test = load_paired_split(
            d, d.test_split, d.crop_size, self.config.eval.max_test_examples or None
        )
        if not len(train["input"]) or not len(test["input"]):
            raise DataError(f"{d.name}: the train or the {d.test_split} split is empty")
        info = {
            "image_shape": list(test["target"].shape[1:]),
            "input_shape": list(test["input"].shape[1:]),
            "num_train_examples": len(train["input"]),
            "num_test_examples": len(test["input"]),
            "test_split": d.test_split,
        }
        return Data(tuple(test["target"].shape[1:]), info, {"train": train, "test": test})

    def steps_per_epoch(self, data: Data) -> int:
        return max(len(data.train["input"]) // self.config.train.batch_size, 1)

    def batches(self, data: Data, start_step: int) -> PairedBatchIterator:
        return PairedBatchIterator(data.train, **self.iterator_kwargs(start_step))

    # -- state ------------------------------------------------------------------------------
    def create_models(self, data: Data):
        m = self.config.model
        out_channels = data.image_shape[-1]
        generator = UNetGenerator(
            out_channels=out_channels,
            num_downs=m.num_downs,
            ngf=m.ngf,
            norm=m.norm,
            use_dropout=m.use_dropout,
            pad_to_fit=m.pad_to_fit,
            init_std=m.init_std,
            conv_impl=m.conv_impl,
            conv_transpose_impl=m.conv_transpose_impl,
        )
        common = dict(ndf=m.ndf, norm=m.norm, init_std=m.init_std, conv_impl=m.conv_impl)
        if m.d_type == "pixel":
            discriminator = PixelGANDiscriminator(**common)
            self.bias_keep[D] = {"conv_0", "conv_2"}
        else:
            layers = image_gan_layers(data.image_shape[0]) if m.d_type == "image" else m.d_layers
            discriminator = PatchGANDiscriminator(n_layers=layers, **common)
            self.bias_keep[D] = {"conv_0", f"conv_{layers + 1}"}
        return generator, discriminator

    def create_state(self, data, key, steps_per_epoch, num_steps) -> TrainState:
        generator, discriminator = self.create_models(data)
        g_key, d_key = jax.random.split(key)
        x = jnp.zeros((2, *data.info["input_shape"]), jnp.float32)
        y = jnp.zeros((2, *data.image_shape), jnp.float32)
        g_vars = jax.jit(functools.partial(generator.init, train=False))(g_key, x)
        d_vars = jax.jit(functools.partial(discriminator.init, train=False))(
            d_key, conditional_input(x, y)
        )
        g_tx, d_tx = optim.create_optimizers(self.config, steps_per_epoch, num_steps)
        return TrainState.create(
            {
                G: NetState.create(apply_fn=generator.apply, variables=g_vars, tx=g_tx),
                D: NetState.create(apply_fn=discriminator.apply, variables=d_vars, tx=d_tx),
            }
        )

    # -- the step ---------------------------------------------------------------------------
    def train_step(self, state: TrainState, batch, key):
        """One D update and one G update (see the module docstring).

        Args:
          state: the replicated train state.
          batch: {"input": uint8 [B, S, S, Cin], "target": uint8 [B, S, S, Cout]}, sharded on B.
          key: the loop key; the step's dropout key is fold_in(key, state.step).
        """
        new_state, metrics, _ = self.step_with_gradients(state, batch, key)
        return new_state, metrics

    def step_with_gradients(self, state: TrainState, batch, key):
        """`train_step`, also returning {G: G's gradient, D: D's gradient}."""
        x = to_float_images(batch["input"])
        y = to_float_images(batch["target"])
        rng = {"dropout": jax.random.fold_in(key, state.step)}
        g, d = state[G], state[D]

        def g_forward(params):
            return g.apply(x, params=params, rngs=rng)

        fake, g_pull, g_coll = jax.vjp(g_forward, g.params, has_aux=True)
        fake_const = jax.lax.stop_gradient(fake)

        def d_loss_fn(params):
            # The authors' backward_D: the fake pair first, then the real pair.
            fake_out, coll = d.apply(conditional_input(x, fake_const), params=params)
            real_out, coll = d.apply(conditional_input(x, y), params=params, collections=coll)
            loss, parts = translation_losses.patch_discriminator_loss(
                real_outputs=real_out, fake_outputs=fake_out, gan_mode=self.gan_mode
            )
            return loss, (coll, parts, real_out, fake_out)

        (d_loss, (d_coll, parts, real_out, fake_out)), d_grads = jax.value_and_grad(
            d_loss_fn, has_aux=True
        )(d.params)
        if self.instance_norm:
            d_grads = zero_cancelled_bias_grads(d_grads, keep=self.bias_keep[D])
        new_d = d.apply_gradients(d_grads, d_coll)

        def g_loss_fn(image):
            out, coll = new_d.apply(conditional_input(x, image))
            gan = translation_losses.patch_generator_loss(fake_outputs=out, gan_mode=self.gan_mode)
            l1 = translation_losses.l1_loss(prediction=image, target=y)
            return gan + self.l1_weight * l1, (coll, gan, l1)

        (g_loss, (d_coll, g_gan, g_l1)), d_fake = jax.value_and_grad(g_loss_fn, has_aux=True)(fake)
        (g_grads,) = g_pull(d_fake)
        if self.instance_norm:  # Biases that instance norm cancels.
            g_grads = zero_cancelled_bias_grads(g_grads, keep=self.bias_keep[G])
        new_state = state.with_nets(
            **{G: g.apply_gradients(g_grads, g_coll), D: new_d.replace(collections=d_coll)}
        )
        squash = jax.nn.sigmoid if self.gan_mode == "vanilla" else (lambda v: v)
        metrics = {
            "d/loss": d_loss,
            "d/loss_real": parts["loss_real"],
            "d/loss_fake": parts["loss_fake"],
            "d/real_out": squash(real_out).mean(),
            "d/fake_out": squash(fake_out).mean(),
            "d/grad_norm": optax.global_norm(d_grads),
            "g/loss": g_loss,
            "g/gan": g_gan,
            "g/l1": g_l1,
            "g/grad_norm": optax.global_norm(g_grads),
        }
        return new_state.replace(step=state.step + 1), metrics, {G: g_grads, D: d_grads}

    # -- outputs ----------------------------------------------------------------------------
    def translate_split(self, state: TrainState, inputs_u8: np.ndarray) -> np.ndarray:
        """uint8 translations of uint8 inputs in the configured test mode."""
        e = self.config.eval
        return translate_images(
            state, inputs_u8, mode=e.test_mode, batch_size=e.batch_size, seed=e.seed
        )

    def sample_grid(self, state, data, key):
        test = data.splits.get("test")
        if test is None:
            return None
        n = min(self.config.eval.grid_rows, len(test["input"]))
        out = self.translate_split(state, test["input"][:n])
        c = data.image_shape[-1]
        rows = [
            _to_channels(test["input"][:n].astype(np.float32), c),
            out.astype(np.float32),
            test["target"][:n].astype(np.float32),
        ]
        grid = np.stack(rows, axis=1).reshape(3 * n, *data.image_shape)  # input, output, target
        return grid / 127.5 - 1.0

    def evaluate(self, state, data, step):
        test = data.splits["test"]
        out = self.translate_split(state, test["input"])
        target = test["target"]
        result = {
            "l1": image_quality.l1(out, target),
            "psnr": image_quality.psnr(out, target),
            "ssim": image_quality.ssim(out, target),
        }
        if len(target) >= 2:
            result.update(self.evaluator(data).score(target, out))
        logging.info(
            "step %d, %d test pairs: L1 %.4f, PSNR %.2f dB, SSIM %.4f, FID %.3f",
            step,
            len(target),
            result["l1"],
            result["psnr"],
            result["ssim"],
            result.get("fid", float("nan")),
        )
        return result

    def protocol(self, data: Data) -> dict[str, Any]:
        c, n = self.config, data.info["num_test_examples"]
        return {
            "split": c.data.test_split,
            "num_pairs": n,
            "test_mode": c.eval.test_mode,
            "test_batch_size": c.eval.batch_size,
            "dropout_seed": c.eval.seed,
            "outputs": "uint8, rounded like saved PNGs; compared with the uint8 targets",
            "l1": "mean |output - target| in [0, 1] units",
            "psnr": "mean over pairs of 10 log10(1 / MSE), [0, 1] units",
            "ssim": "mean over pairs; Gaussian 11x11 window, sigma 1.5, K1 0.01, K2 0.03, "
            "data range 255, valid positions (scikit-image gaussian_weights=True, "
            "use_sample_covariance=False)",
            "distribution_metrics": self.evaluator(data).protocol(n, n),
        }

    def results(self, state, data, last_eval):
        keys = ("l1", "psnr", "ssim", "fid", "kid", "kid_std", "precision", "recall")
        out = {k: last_eval[k] for k in (*keys, "density", "coverage") if k in last_eval}
        if out and "test" in data.splits:
            out["protocol"] = self.protocol(data)
        return out


@functools.partial(jax.jit, static_argnames=("mode",))
def _translate_batch(state: TrainState, images: jax.Array, key: jax.Array, mode: str):
    x = to_float_images(images)
    if mode == "inference":
        return quantize(state[G].apply(x, train=False)[0])
    return quantize(state[G].apply(x, train=True, rngs={"dropout": key})[0])


def translate_images(
    state: TrainState,
    inputs_u8: np.ndarray,
    *,
    mode: str = "inference",
    batch_size: int = 100,
    seed: int = 0,
) -> np.ndarray:
    """G's uint8 outputs for uint8 inputs [N, H, W, Cin] (H, W: the run's crop size).

    Args:
      state: a pix2pix train state.
      inputs_u8: the inputs.
      mode: "inference" (running batch statistics, no dropout) or "paper" (dropout on and
        each batch's own statistics, as the authors' test.py; the output then depends on
        `batch_size`, 1 in the paper, and on `seed`).
      batch_size: images per G call (the last batch may be smaller).
      seed: dropout seed of "paper" mode (batch i uses fold_in(key(seed), i)).
    """
    if mode not in TEST_MODES:
        raise ConfigError(f"mode must be one of {TEST_MODES}, not {mode}")
    key = jax.random.key(seed)
    return map_batches(
        lambda i, x: _translate_batch(state, x, jax.random.fold_in(key, i), mode),
        inputs_u8,
        batch_size,
    )
