"""Pure losses of pix2pix (Isola et al. 2017) and CycleGAN (Zhu et al. 2017). Keyword-only
arguments, no model calls.

Reconstruction terms:
  * `l1_loss`: mean |prediction - target| (PyTorch's L1Loss); pix2pix adds lambda_L1 = 100 times
    L1(G(x), y) to G's adversarial loss.
  * `cycle_consistency_loss`: weight * L1(F(G(a)), a) (CycleGAN's lambda_A = lambda_B = 10).
  * `identity_loss`: weight * L1(G(b), b) for b from G's target domain (CycleGAN's
    lambda_identity = 0.5 times the cycle weight of that direction, as the authors scale it).

Adversarial terms on discriminator outputs of any shape (a PatchGAN's [B, H', W', 1] map; every
patch is a sample, as the authors' losses average over all of them), the authors' `GANLoss`:
  * gan_mode "lsgan" (CycleGAN): MSE to the target label 1 (real) or 0 (fake) (Mao et al. 2017).
  * gan_mode "vanilla" (pix2pix): binary cross-entropy with logits to 1 or 0.
D's loss is 0.5 * (loss on real + loss on fake), as both authors' backward_D halve it to slow D
relative to G; G's loss is the loss of D's outputs on its images against the real label.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ganjax.errors import ConfigError
from ganjax.objectives.losses import sigmoid_cross_entropy

Array = jax.Array
GAN_MODES = ("lsgan", "vanilla")


def l1_loss(*, prediction: Array, target: Array) -> Array:
    """Mean absolute difference over every element."""
    return jnp.mean(jnp.abs(prediction - target))


def cycle_consistency_loss(*, reconstruction: Array, original: Array, weight: float) -> Array:
    """weight * L1(reconstruction, original), reconstruction = F(G(original)).

    Args:
      reconstruction: [B, H, W, C] images mapped to the other domain and back.
      original: [B, H, W, C] the images they started from.
      weight: lambda (CycleGAN: 10).
    """
    return weight * l1_loss(prediction=reconstruction, target=original)


def identity_loss(*, mapped: Array, original: Array, weight: float) -> Array:
    """weight * L1(G(y), y): G should leave images of its own output domain unchanged.

    Args:
      mapped: [B, H, W, C] G applied to `original`.
      original: [B, H, W, C] images from G's output domain.
      weight: the identity weight times that domain's cycle weight (CycleGAN: 0.5 * 10).
    """
    return weight * l1_loss(prediction=mapped, target=original)


def _check_gan_mode(gan_mode: str) -> None:
    if gan_mode not in GAN_MODES:
        raise ConfigError(f"Unknown gan_mode {gan_mode!r}; choose one of {', '.join(GAN_MODES)}")


def gan_loss(*, outputs: Array, target_is_real: bool, gan_mode: str) -> Array:
    """The authors' GANLoss(gan_mode)(outputs, target_is_real): the mean over every element of
    (outputs - label)^2 ("lsgan") or BCE(sigmoid(outputs), label) ("vanilla"), label 1 or 0."""
    _check_gan_mode(gan_mode)
    label = 1.0 if target_is_real else 0.0
    if gan_mode == "lsgan":
        return jnp.mean(jnp.square(outputs - label))
    return jnp.mean(sigmoid_cross_entropy(outputs, label))


def patch_discriminator_loss(
    *, real_outputs: Array, fake_outputs: Array, gan_mode: str
) -> tuple[Array, dict[str, Array]]:
    """D's loss 0.5 * (GANLoss(real, 1) + GANLoss(fake, 0)) and its {"loss_real", "loss_fake"}.

    Args:
      real_outputs: D's outputs on real images (pairs for pix2pix), e.g. [B, H', W', 1].
      fake_outputs: D's outputs on generated images (from the history buffer for CycleGAN).
      gan_mode: "lsgan" or "vanilla".
    """
    loss_real = gan_loss(outputs=real_outputs, target_is_real=True, gan_mode=gan_mode)
    loss_fake = gan_loss(outputs=fake_outputs, target_is_real=False, gan_mode=gan_mode)
    return 0.5 * (loss_real + loss_fake), {"loss_real": loss_real, "loss_fake": loss_fake}


def patch_generator_loss(*, fake_outputs: Array, gan_mode: str) -> Array:
    """G's adversarial loss GANLoss(D(G(x)), real): D's outputs on generated images vs 1."""
    return gan_loss(outputs=fake_outputs, target_is_real=True, gan_mode=gan_mode)
