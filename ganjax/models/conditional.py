"""Class-conditional DCGAN networks, built around the unconditional ones (ganjax/models/dcgan.py).

Generator conditioning (`g_conditioning`):
  * "concat": a learned class embedding (`embed_dim`) concatenated to z (Mirza and Osindero
    2014's conditional GAN, as DCGAN-shaped cGANs do it);
  * "cbn": class-conditional batch norm: every batch norm of the generator gets a per-class
    scale and offset, x_hat * (1 + gamma[y]) + beta[y] (de Vries et al. 2017; Miyato and
    Koyama 2018's generator).
Discriminator forms (`d_conditioning`), on D's last feature map (after its leaky ReLU):
  * "projection" (Miyato and Koyama 2018, eq. 3 and their code): phi(x) [B, C] is that map
    sum-pooled over its spatial positions, and logit = psi(phi(x)) + <embed(y), phi(x)> with psi
    a linear layer on the same pooled features (it replaces DCGAN's own logit, a linear layer on
    the flattened map, which the paper's form does not have), embed [K, C];
  * "acgan": DCGAN's own logit and K class logits from a linear head, both on the flattened
    map (Odena et al. 2017).
Both return (logits [B], class logits [B, K] or None).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from ganjax.errors import ConfigError
from ganjax.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganjax.models.layers import normal_init
from ganjax.models.spectral_norm import SpectralNorm

Array = jax.Array
G_CONDITIONING = ("concat", "cbn")
D_CONDITIONING = ("projection", "acgan")


class ConditionalGenerator(nn.Module):
    """(z [B, nz], labels [B]) -> images [B, R, R, C] in [-1, 1]: the "concat" conditioning
    (the "cbn" one is DCGANGenerator(num_classes=K) itself)."""

    backbone: DCGANGenerator
    num_classes: int
    embed_dim: int = 50

    @nn.compact
    def __call__(self, z: Array, labels: Array, train: bool = True) -> Array:
        e = nn.Embed(self.num_classes, self.embed_dim, embedding_init=normal_init(1.0))(labels)
        return self.backbone(jnp.concatenate([z, e.astype(z.dtype)], -1), train=train)


class ConditionalDiscriminator(nn.Module):
    """(images [B, R, R, C], labels [B]) -> (logits [B], class logits [B, K] or None)."""

    backbone: DCGANDiscriminator
    num_classes: int
    form: str = "projection"

    @nn.compact
    def __call__(self, x: Array, labels: Array, train: bool = True):
        init = normal_init(self.backbone.init_std)
        # With spectral norm, the class embedding / head is normalized too (Miyato and Koyama
        # normalize the projection's embedding matrix), so D stays 1-Lipschitz in x.
        sn = self.backbone.spectral_norm
        if self.form == "projection":
            fmap = self.backbone(x, train=train, features_only=True)  # [B, h, w, C]
            phi = jnp.sum(fmap, axis=(1, 2))  # [B, C]: global sum pooling, as the paper.
            embed = nn.Embed(self.num_classes, phi.shape[-1], embedding_init=init)
            e = SpectralNorm(embed)(labels, update_stats=train) if sn else embed(labels)
            # psi carries a bias where the backbone's layers do (no batch norm).
            psi = nn.Dense(1, use_bias=self.backbone.norm != "batch", kernel_init=init)
            unconditional = (SpectralNorm(psi)(phi, update_stats=train) if sn else psi(phi))[:, 0]
            return unconditional + jnp.sum(e * phi, axis=-1), None
        logits, h = self.backbone(x, train=train, return_features=True)  # h: [B, h * w * C]
        head = nn.Dense(self.num_classes, kernel_init=init)
        return logits, SpectralNorm(head)(h, update_stats=train) if sn else head(h)


def create_conditional_models(
    cfg: ml_collections.ConfigDict, image_shape: tuple[int, int, int], num_classes: int
) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) for `config.model` (DCGAN only) and K classes.

    Raises:
      ValueError: another model family, or an unknown conditioning name.
    """
    from ganjax import models

    if cfg.name != "dcgan":
        raise ConfigError(
            f"The conditional GAN is built on DCGAN; config.model.name is '{cfg.name}'."
        )
    g_cond, d_cond = cfg.get("g_conditioning", "concat"), cfg.get("d_conditioning", "projection")
    if g_cond not in G_CONDITIONING:
        raise ConfigError(f"Unknown config.model.g_conditioning '{g_cond}'; use {G_CONDITIONING}")
    if d_cond not in D_CONDITIONING:
        raise ConfigError(f"Unknown config.model.d_conditioning '{d_cond}'; use {D_CONDITIONING}")
    generator, discriminator = models.create_models(cfg, image_shape)
    if g_cond == "cbn":
        generator = generator.clone(num_classes=num_classes)
    else:
        generator = ConditionalGenerator(generator, num_classes, cfg.get("class_embed_dim", 50))
    return generator, ConditionalDiscriminator(discriminator, num_classes, d_cond)
