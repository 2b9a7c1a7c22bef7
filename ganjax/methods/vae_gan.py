"""The VAE-GAN method (`config.method = "vae_gan"`; Larsen et al. 2016, "Autoencoding beyond
pixels using a learned similarity metric").

Three networks, three optax states: the encoder E (q(z | x) = N(mean, exp(logvar)),
ganjax/models/encoder.py), the decoder/generator G and the discriminator D (the DCGAN's). One
training step, as the paper's Algorithm 1 (all three gradients from the same forward pass, then
all three updates):

    z ~ q(z | x) (reparameterized),  x~ = G(z),  x_p = G(z_p), z_p ~ N(0, I)
    L_prior = KL(q(z | x) || N(0, I))
    L_llike = 0.5 * |Dis_l(x) - Dis_l(x~)|^2
              (D's l-th layer, `config.loss.recon_layer`; 0: pixels)
    L_GAN   = D's loss on x (real), x~ and x_p (both fake), `config.loss.type`

    E  <- grad of  kl_weight * L_prior + L_llike
    G  <- grad of  gamma * L_llike + G's GAN loss on x~ and x_p      (`config.loss.gamma`)
    D  <- grad of  L_GAN (+ the WGAN-GP / R1 / R2 switches, on reals vs x~)

so the GAN loss does not reach E, and the feature-space reconstruction loss does not reach D's
update (D is only the metric there), as the paper prescribes. Each gradient is one pull of the
same `jax.vjp` with its own output weights.

Evaluation: the reconstruction error (mean squared pixel error in [0, 1] units of G(mean of
q(z | x)) on `config.eval.recon_examples` held-out images) every evaluation period, beside the
loop's FID of prior samples G(z_p). `encode` gives q(z | x) of a trained run.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from ganjax import models
from ganjax.data import load_config_split, to_float_images
from ganjax.errors import ConfigError
from ganjax.methods.base import Data
from ganjax.methods.gan import GAN, generate
from ganjax.methods.registry import register
from ganjax.models.encoder import DCGANEncoder, reparameterize
from ganjax.objectives import losses
from ganjax.training import optim
from ganjax.training.train_state import NetState, TrainState

E, G, D = "encoder", "generator", "discriminator"


@register
class VAEGAN(GAN):
    """Encoder + decoder/generator + discriminator, trained jointly."""

    name = "vae_gan"
    example_config = "configs/fashion_mnist_vaegan.py:tiny"
    progress_keys = (
        ("d_loss", "d/loss"),
        ("g_loss", "g/loss"),
        ("kl", "e/kl"),
        ("recon", "e/recon"),
    )
    eval_curves = ("recon_mse",)
    eval_curves_label = "reconstruction"

    def __init__(self, config):
        super().__init__(config)
        c = config
        if c.model.name != "dcgan":
            raise ConfigError(
                f"config.method=vae_gan needs config.model.name='dcgan' (its encoder and D's "
                f"feature layers are DCGAN-shaped), got '{c.model.name}'"
            )
        if c.model.latent_dist != "normal":
            raise ConfigError(
                "config.method=vae_gan needs config.model.latent_dist='normal': its prior "
                f"p(z) = N(0, I) is what the KL term pulls q(z | x) to, got '{c.model.latent_dist}'"
            )
        if int(c.train.d_steps) != 1:
            raise ConfigError("config.method=vae_gan takes one D update per step (train.d_steps=1)")
        if self.reg.policy:
            raise ConfigError(
                "config.data.augment is not supported with config.method=vae_gan: its "
                "reconstruction loss compares D's features of un-augmented images. Set it to ''."
            )
        self.gamma = float(c.loss.gamma)
        self.kl_weight = float(c.loss.kl_weight)
        self.recon_layer = int(c.loss.recon_layer)
        if self.gamma < 0 or self.kl_weight < 0:
            raise ConfigError("config.loss.gamma and config.loss.kl_weight must be >= 0")

    # -- data -------------------------------------------------------------------------------
    def load_data(self) -> Data:
        data = super().load_data()
        n = int(self.config.eval.get("recon_examples", 0) or 0)
        if n:
            held = load_config_split(self.config.data, self.config.eval.heldout_split, n)
            data.splits["heldout"] = held
        return data

    # -- state ------------------------------------------------------------------------------
    def create_encoder(self, data: Data) -> DCGANEncoder:
        m = self.config.model
        return DCGANEncoder(
            resolution=data.image_shape[0],
            latent_dim=m.latent_dim,
            base_features=m.get("e_features", m.d_features),
            init_std=m.init_std,
            conv_impl=m.get("conv_impl", "auto"),
        )

    def create_state(self, data, key, steps_per_epoch, num_steps) -> TrainState:
        gd_key, e_key = jax.random.split(key)
        state = super().create_state(data, gd_key, steps_per_epoch, num_steps)
        encoder = self.create_encoder(data)
        x = jnp.zeros((2, *data.image_shape), jnp.float32)
        e_vars = jax.jit(functools.partial(encoder.init, train=False))(e_key, x)
        e_tx = optim.create_optimizer(self.config.optim.e, steps_per_epoch, num_steps)
        enc = NetState.create(apply_fn=encoder.apply, variables=e_vars, tx=e_tx)
        return state.with_nets(**{E: enc})

    # -- the step ---------------------------------------------------------------------------
    def _d_features(self, d: NetState, x, params, coll):
        if self.recon_layer == 0:  # Pixel reconstruction: D's logits only.
            logits, coll = d.apply(x, params=params, collections=coll)
            return logits, x, coll
        (logits, feats), coll = d.apply(
            x,
            params=params,
            collections=coll,
            return_features=True,
            feature_layer=self.recon_layer,
        )
        return logits, feats, coll

    def train_step(self, state: TrainState, batch, key):
        """One joint update of E, G and D (see the module docstring).

        Args:
          state: the replicated train state.
          batch: {"image": uint8 [1, B, H, W, C]}, sharded on B.
          key: the loop key; the step's key is fold_in(key, state.step).
        """
        grads, colls, metrics = self.gradients(state, batch, key)
        new_state = state.with_nets(
            **{n: state[n].apply_gradients(grads[n], colls[n]) for n in (E, G, D)}
        )
        new_state = new_state.replace(step=state.step + 1).update_ema()
        return new_state, metrics

    def gradients(self, state: TrainState, batch, key):
        """({E, G, D: gradient}, {E, G, D: new batch-norm collections}, metrics) of one step."""
        x = to_float_images(batch["image"])[0]
        b = x.shape[0]
        k_eps, k_prior, k_gp = jax.random.split(jax.random.fold_in(key, state.step), 3)
        z_p = models.sample_latents(k_prior, b, self.config.model.latent_dim, "normal")
        e, g, d = state[E], state[G], state[D]

        def forward(e_params, g_params, d_params):
            (mean, logvar), e_coll = e.apply(x, params=e_params)
            z = reparameterize(k_eps, mean, logvar)
            x_rec, g_coll = g.apply(z, params=g_params)
            x_p, g_coll = g.apply(z_p, params=g_params, collections=g_coll)
            l_real, f_real, d_coll = self._d_features(d, x, d_params, d.collections)
            l_rec, f_rec, d_coll = self._d_features(d, x_rec, d_params, d_coll)
            l_p, d_coll = d.apply(x_p, params=d_params, collections=d_coll)
            kl = losses.kl_normal(mean=mean, logvar=logvar)
            recon = losses.gaussian_reconstruction(
                target=jax.lax.stop_gradient(f_real), recon=f_rec
            )
            d_gan, parts = losses.discriminator_loss(
                real_logits=l_real,
                fake_logits=l_rec,
                loss_type=self.loss_type,
                label_smoothing=self.label_smoothing,
            )
            _, prior_parts = losses.discriminator_loss(
                real_logits=l_real, fake_logits=l_p, loss_type=self.loss_type
            )
            d_gan = d_gan + prior_parts["loss_fake"]

            def logits_fn(img):
                return d.apply(img, params=d_params, collections=d.collections)[0]

            penalty, pen_metrics = self.reg.penalties(
                logits_fn, logits_fn, x, jax.lax.stop_gradient(x_rec), k_gp, state.step
            )
            g_gan = losses.generator_loss(
                fake_logits=l_rec, loss_type=self.loss_type
            ) + losses.generator_loss(fake_logits=l_p, loss_type=self.loss_type)
            metrics = {
                **{f"d/{k}": v for k, v in {**parts, **pen_metrics}.items()},
                "d/loss_fake_prior": prior_parts["loss_fake"],
                "d/real_prob": jax.nn.sigmoid(l_real).mean(),
                "d/fake_prob": jax.nn.sigmoid(l_rec).mean(),
                "d/prior_prob": jax.nn.sigmoid(l_p).mean(),
                "e/logvar": logvar.mean(),
            }
            return (kl, recon, g_gan, d_gan + penalty), (e_coll, g_coll, d_coll, metrics)

        outs, pull, (e_coll, g_coll, d_coll, metrics) = jax.vjp(
            forward, e.params, g.params, d.params, has_aux=True
        )
        kl, recon, g_gan, d_loss = outs
        one, zero = jnp.ones_like(kl), jnp.zeros_like(kl)
        e_grads = pull((self.kl_weight * one, one, zero, zero))[0]
        g_grads = pull((zero, self.gamma * one, one, zero))[1]
        d_grads = pull((zero, zero, zero, one))[2]
        metrics.update(
            {
                "e/kl": kl,
                "e/recon": recon,
                "e/loss": self.kl_weight * kl + recon,
                "e/grad_norm": optax.global_norm(e_grads),
                "g/loss": g_gan,
                "g/grad_norm": optax.global_norm(g_grads),
                "d/loss": d_loss,
                "d/grad_norm": optax.global_norm(d_grads),
            }
        )
        grads = {E: e_grads, G: g_grads, D: d_grads}
        return grads, {E: e_coll, G: g_coll, D: d_coll}, metrics

    # -- outputs ----------------------------------------------------------------------------
    def evaluate(self, state, data, step):
        held = data.splits.get("heldout")
        if held is None:
            return {}
        mse = reconstruction_error(state, held["image"], self.config.eval.fid_batch_size)
        logging.info(
            "step %d: reconstruction MSE %.5f ([0, 1] pixels, %d held-out images)",
            step,
            mse,
            len(held["image"]),
        )
        return {"recon_mse": mse}

    def results(self, state, data, last_eval):
        out = {}
        if "recon_mse" in last_eval:
            out["recon_mse"] = last_eval["recon_mse"]
            out["recon_examples"] = len(data.splits["heldout"]["image"])
        return out


@jax.jit
def encode(state: TrainState, images: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(mean, logvar) of q(z | x) for images in [-1, 1] [B, H, W, C], inference mode."""
    return state[E].apply(images, train=False)[0]


@jax.jit
def reconstruct(state: TrainState, images: jax.Array) -> jax.Array:
    """G(mean of q(z | x)) with the trained (not EMA) generator the encoder was trained with."""
    mean, _ = encode(state, images)
    return generate(state, mean, use_ema=False)


def reconstruction_error(state: TrainState, images_u8: np.ndarray, batch_size: int) -> float:
    """Mean squared error, in [0, 1] pixel units, of `reconstruct` on uint8 images."""
    total, count = 0.0, 0
    for i in range(0, len(images_u8), batch_size):
        x = to_float_images(jnp.asarray(images_u8[i : i + batch_size]))
        rec = reconstruct(state, x)
        total += float(jnp.sum(jnp.square((rec - x) / 2.0)))
        count += x.size
    return total / max(count, 1)
