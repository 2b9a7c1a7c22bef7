"""Radford et al. (2016) DCGAN settings shared by the DCGAN configs, and their variants.

The network's resolution is the data's image size (28 for the MNIST family, 32 for SVHN and
CIFAR-10, config.data.image_size for CelebA).

Config arguments every DCGAN config accepts (comma-separated, e.g. `:loss=hinge_sn,da`):
  tiny            seconds-long, for tests and laptops;
  loss=<name>     a recipe of the loss and regularizer zoo (LOSS_RECIPES below; default ns);
  da              DiffAugment (color, translation, cutout) on every image D sees;
  examples=N      train on the first N training images only (e.g. 6000 = 10 % of Fashion-MNIST);
  steps=N         N generator steps (checkpoint at the end) instead of 25 epochs;
  conditional     the class-conditional GAN (config.method=cgan): projection discriminator and
                  a class embedding beside z; with `acgan` an AC-GAN discriminator instead, with
                  `cbn` class-conditional batch norm in G instead of the embedding.
"""

from configs import base

ARGS = ("tiny", "loss", "da", "examples", "steps", "conditional", "acgan", "cbn")
DIFFAUGMENT = "color,translation,cutout"  # Zhao et al. 2020's policy for small data.


def _ns(c):
    """Radford et al.: non-saturating loss, batch norm in D, Adam(2e-4, 0.5, 0.999)."""


def _hinge_sn(c):
    """Miyato et al. 2018: hinge loss, spectral norm on every D layer, no batch norm in D
    (their setting C: Adam(2e-4, 0.5, 0.999), one D step per G step)."""
    c.loss.type = "hinge"
    c.model.spectral_norm = True
    c.model.d_norm = "none"


def _wgan_gp(c):
    """Gulrajani et al. 2017: Wasserstein loss + gradient penalty (lambda 10) on interpolates,
    layer norm instead of batch norm in the critic, Adam(1e-4, 0.5, 0.9). The paper takes 5
    critic steps per G step; here 1 (`--config.train.d_steps=5` for the paper's), so a step costs
    about what the other recipes' steps cost."""
    c.loss.type = "wasserstein"
    c.loss.gradient_penalty = 10.0
    c.model.d_norm = "layer"
    for player in ("g", "d"):
        c.optim[player].learning_rate = 1e-4
        c.optim[player].b2 = 0.9


def _ns_r1(c):
    """Non-saturating loss + R1 on reals (Mescheder et al. 2018), gamma 1, lazily every 4 D
    updates (StyleGAN2's form); the DCGAN's batch-norm discriminator."""
    c.loss.r1_gamma = 1.0
    c.loss.penalty_every = 4


LOSS_RECIPES = {"ns": _ns, "hinge_sn": _hinge_sn, "wgan_gp": _wgan_gp, "ns_r1": _ns_r1}


def get_dcgan_config(dataset: str):
    c = base.get_base_config()
    c.data.name = dataset
    c.model.name = "dcgan"
    c.model.latent_dim = 100
    c.model.latent_dist = "uniform"  # Radford et al.: z ~ U(-1, 1).
    c.model.g_features = 64
    c.model.d_features = 64
    c.model.init_std = 0.02  # N(0, 0.02) init.
    c.loss.type = "non_saturating"
    c.loss.label_smoothing = 0.0
    for player in ("g", "d"):
        c.optim[player].learning_rate = 2e-4
        c.optim[player].b1 = 0.5
        c.optim[player].b2 = 0.999
    c.train.batch_size = 128
    c.train.num_epochs = 25.0
    c.train.log_every_steps = 100
    c.ckpt.every_steps = 2000
    return c


def apply_conditional(c, *, acgan: bool = False, cbn: bool = False):
    """The class-conditional GAN (ganjax/methods/cgan.py) on top of a DCGAN config."""
    c.method = "cgan"
    c.model.g_conditioning = "cbn" if cbn else "concat"  # concat | cbn
    c.model.d_conditioning = "acgan" if acgan else "projection"  # projection | acgan
    c.model.class_embed_dim = 50  # "concat": size of the class embedding beside z.
    c.loss.ac_weight = 1.0  # AC-GAN: weight of the auxiliary classification loss.
    c.eval.num_samples = 100  # Grid: 10 classes x 10 samples, one row per class.
    # Domain-classifier accuracy on each class's samples, at every evaluation (0: off).
    c.eval.class_accuracy_samples = 1000
    return c


def get_dcgan_variant(dataset: str, arg=None):
    """The DCGAN config of `dataset` with the config arguments of the module docstring."""
    args = base.parse_arg(arg, allowed=ARGS)
    c = get_dcgan_config(dataset)
    recipe = args.get("loss", "ns")
    if recipe not in LOSS_RECIPES:
        raise ValueError(f"Unknown loss recipe '{recipe}'; choose one of {sorted(LOSS_RECIPES)}")
    LOSS_RECIPES[recipe](c)
    if args.get("da"):
        c.data.augment = DIFFAUGMENT
    base.apply_budget(c, args)
    if args.get("conditional") or args.get("acgan") or args.get("cbn"):
        apply_conditional(c, acgan=bool(args.get("acgan")), cbn=bool(args.get("cbn")))
    if args.get("tiny"):
        base.apply_tiny(c)
        if c.method == "cgan":
            c.eval.num_samples = 20
            c.eval.class_accuracy_samples = 0  # Tests pass a classifier of their own.
    return c
