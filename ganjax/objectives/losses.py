"""Pure GAN losses on discriminator logits. Keyword-only arguments, no model calls.

`loss_type` selects the game:
  * "non_saturating": D minimizes BCE(real -> 1 - smoothing) + BCE(fake -> 0); G minimizes
    BCE(fake -> 1) = softplus(-logit) (Goodfellow et al. 2014, the practical form).
  * "minimax": the same D loss; G minimizes log(1 - D(G(z))) = -softplus(logit), the original
    saturating game, for comparison.
  * "hinge": D: relu(1 - real) + relu(1 + fake); G: -fake (Lim & Ye 2017, Miyato et al. 2018).
  * "least_squares": D: (real - 1)^2 / 2 + fake^2 / 2; G: (fake - 1)^2 / 2 (Mao et al. 2017).
  * "wasserstein": D (the critic): fake - real; G: -fake (Arjovsky et al. 2017); pair it with
    the gradient penalty (config.loss.gradient_penalty, Gulrajani et al. 2017) or spectral norm.

One-sided label smoothing (Salimans et al. 2016) lowers only the real target, to 1 - smoothing.
Only the losses with a real target have it (non_saturating, minimax, least_squares); hinge and
Wasserstein have no target to smooth, so smoothing > 0 with them is refused, not ignored.
Every loss is a mean over the batch; D's total is the sum of its real and fake halves.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ganjax.errors import ConfigError

Array = jax.Array
LOSS_TYPES = ("non_saturating", "minimax", "hinge", "least_squares", "wasserstein")
SMOOTHABLE = ("non_saturating", "minimax", "least_squares")  # The losses with a real target.


def sigmoid_cross_entropy(logits: Array, targets: Array | float) -> Array:
    """Elementwise BCE between sigmoid(logits) and targets, stable for any logit magnitude."""
    # -t log s(l) - (1 - t) log(1 - s(l)) = t softplus(-l) + (1 - t) softplus(l)
    return targets * jax.nn.softplus(-logits) + (1.0 - targets) * jax.nn.softplus(logits)


def check_loss_type(loss_type: str, label_smoothing: float = 0.0) -> None:
    """Checks config.loss.type and config.loss.label_smoothing together.

    Raises:
      ValueError: an unknown loss type (naming the choices), a smoothing outside [0, 1), or a
        smoothing > 0 with a loss that has no real target to smooth (hinge, wasserstein).
    """
    if loss_type not in LOSS_TYPES:
        raise ConfigError(
            f"Unknown config.loss.type '{loss_type}'; choose one of {', '.join(LOSS_TYPES)}"
        )
    if not 0.0 <= label_smoothing < 1.0:
        raise ConfigError(
            f"config.loss.label_smoothing={label_smoothing} is outside [0, 1): the real target "
            "is 1 - smoothing. Use e.g. 0.1, or 0.0 for none."
        )
    if label_smoothing and loss_type not in SMOOTHABLE:
        raise ConfigError(
            f"config.loss.label_smoothing={label_smoothing} with config.loss.type='{loss_type}': "
            f"the {loss_type} loss has no real target to smooth and would ignore it. Set "
            f"config.loss.label_smoothing=0.0, or use a loss with a target "
            f"({', '.join(SMOOTHABLE)})."
        )


def discriminator_loss(
    *, real_logits: Array, fake_logits: Array, loss_type: str, label_smoothing: float = 0.0
) -> tuple[Array, dict[str, Array]]:
    """Returns (total D loss, {"loss_real", "loss_fake"}) for logits of shape [B].

    Raises:
      ValueError: see `check_loss_type` (label_smoothing > 0 with hinge or wasserstein).
    """
    check_loss_type(loss_type, label_smoothing)
    if loss_type in ("non_saturating", "minimax"):
        loss_real = sigmoid_cross_entropy(real_logits, 1.0 - label_smoothing).mean()
        loss_fake = sigmoid_cross_entropy(fake_logits, 0.0).mean()
    elif loss_type == "hinge":
        loss_real = jax.nn.relu(1.0 - real_logits).mean()
        loss_fake = jax.nn.relu(1.0 + fake_logits).mean()
    elif loss_type == "wasserstein":
        loss_real = -real_logits.mean()
        loss_fake = fake_logits.mean()
    else:  # least_squares
        loss_real = 0.5 * jnp.square(real_logits - (1.0 - label_smoothing)).mean()
        loss_fake = 0.5 * jnp.square(fake_logits).mean()
    return loss_real + loss_fake, {"loss_real": loss_real, "loss_fake": loss_fake}


def generator_loss(*, fake_logits: Array, loss_type: str) -> Array:
    """Returns the generator's loss for D's logits on generated images, shape [B]."""
    check_loss_type(loss_type)
    if loss_type == "non_saturating":
        return sigmoid_cross_entropy(fake_logits, 1.0).mean()
    if loss_type == "minimax":
        return -sigmoid_cross_entropy(fake_logits, 0.0).mean()
    if loss_type in ("hinge", "wasserstein"):
        return -fake_logits.mean()
    return 0.5 * jnp.square(fake_logits - 1.0).mean()


def feature_matching_loss(*, real_features: Array, fake_features: Array, distance: str) -> Array:
    """Distance between batch means of intermediate features (Salimans et al. 2016).

    Args:
      real_features: [B, ...] features of real images (treated as a constant target).
      fake_features: [B, ...] features of generated images.
      distance: "l2" (mean squared difference) or "l1" (mean absolute difference).
    """
    diff = jax.lax.stop_gradient(real_features.mean(0)) - fake_features.mean(0)
    if distance == "l2":
        return jnp.mean(jnp.square(diff))
    if distance == "l1":
        return jnp.mean(jnp.abs(diff))
    raise ConfigError(f"Unknown feature-matching distance '{distance}'; use 'l1' or 'l2'")


# ---------------------------------------------------------------------------------------------
# Semi-supervised GAN (Salimans et al. 2016): the discriminator is a K-class classifier.


def gan_logit(logits: Array, *, extra_class: bool) -> Array:
    """The real-vs-fake logit of a K-class discriminator, log(P(real) / P(fake)).

    Implicit fake class (its logit fixed at 0): P(real | x) = Z / (Z + 1), Z = sum_k exp(l_k), so
    the logit is logsumexp(l). Explicit (K+1)-th fake logit: logsumexp(l[:K]) - l[K].
    Both are computed with a stable logsumexp.
    """
    if extra_class:
        return jax.nn.logsumexp(logits[:, :-1], axis=-1) - logits[:, -1]
    return jax.nn.logsumexp(logits, axis=-1)


def cross_entropy(*, logits: Array, labels: Array) -> Array:
    """Mean softmax cross-entropy of integer `labels` under `logits` [B, K] (log-softmax form)."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, labels[:, None].astype(jnp.int32), axis=-1))


def ssl_discriminator_loss(
    *,
    lab_logits: Array,
    labels: Array,
    unl_logits: Array | None,
    fake_logits: Array | None,
    extra_class: bool,
    unsup_weight: float = 1.0,
) -> tuple[Array, dict[str, Array]]:
    """Supervised cross-entropy on the labeled batch + the unsupervised real/fake loss.

    unsupervised = 0.5 * (E_unl[-log D(x)] + E_fake[-log(1 - D(G(z)))]) with D = sigmoid(gan_logit),
    i.e. 0.5 * (mean softplus(-l_unl) + mean softplus(l_fake)), as in the paper's code.
    With `unl_logits=None` and `fake_logits=None` this is the supervised-only baseline.
    """
    sup = cross_entropy(logits=lab_logits, labels=labels)
    parts = {"loss_sup": sup}
    total = sup
    if unl_logits is not None:
        l_unl = gan_logit(unl_logits, extra_class=extra_class)
        l_fake = gan_logit(fake_logits, extra_class=extra_class)
        unsup = 0.5 * (jax.nn.softplus(-l_unl).mean() + jax.nn.softplus(l_fake).mean())
        parts.update(
            loss_unsup=unsup,
            real_prob=jax.nn.sigmoid(l_unl).mean(),
            fake_prob=jax.nn.sigmoid(l_fake).mean(),
        )
        total = sup + unsup_weight * unsup
    return total, parts


# ---------------------------------------------------------------------------------------------
# VAE-GAN (Larsen et al. 2016).


def kl_normal(*, mean: Array, logvar: Array) -> Array:
    """KL(N(mean, exp(logvar)) || N(0, I)), summed over latent dimensions, mean over the batch:
    -0.5 * sum(1 + logvar - mean^2 - exp(logvar)), the VAE's prior term (Kingma and Welling)."""
    kl = -0.5 * jnp.sum(1.0 + logvar - jnp.square(mean) - jnp.exp(logvar), axis=-1)
    return kl.mean()


def gaussian_reconstruction(*, target: Array, recon: Array) -> Array:
    """-log N(target; recon, I) up to a constant: 0.5 * squared error summed over every
    non-batch element, mean over the batch (Larsen et al.'s L_llike in whatever space the two
    are given: D's l-th layer features, or pixels)."""
    sq = jnp.square(target - recon).reshape((target.shape[0], -1))
    return 0.5 * jnp.sum(sq, axis=-1).mean()
