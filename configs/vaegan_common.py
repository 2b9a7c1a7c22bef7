"""VAE-GAN settings (Larsen et al. 2016; ganjax/methods/vae_gan.py) shared by its configs.

The DCGAN's generator and discriminator (configs/dcgan_common.py) plus a DCGAN-shaped encoder,
z ~ N(0, I), three Adam(2e-4, 0.5, 0.999) optimizers (the DCGAN's; the paper used RMSProp
3e-4). The reconstruction loss compares D's features after its last convolution block
(Larsen et al. use a late layer, Dis_l); gamma weighs it against the GAN loss in G's objective.
Both losses are sums over elements (log-likelihoods), so gamma is small: with D's 6,272 features
at 28 px the reconstruction term is in the hundreds when the GAN term is about 1.

Config arguments (comma-separated): tiny; steps=N (N steps instead of epochs); examples=N (the
first N training images); pixel (reconstruction in pixel space, a plain VAE's with a GAN loss).
"""

from configs import base, dcgan_common

ARGS = ("tiny", "steps", "examples", "pixel")


def get_vaegan_config(dataset: str, arg=None, *, num_epochs: float, image_size: int = 0):
    """The VAE-GAN config of `dataset` (`image_size`: CelebA's side after the crop)."""
    args = base.parse_arg(arg, allowed=ARGS)
    c = dcgan_common.get_dcgan_config(dataset)
    c.data.image_size = image_size
    c.train.num_epochs = num_epochs
    c.method = "vae_gan"
    c.model.latent_dist = "normal"  # The VAE prior.
    c.model.e_features = 64  # Encoder width at its first layer (doubles every layer).
    c.optim.e = c.optim.g.copy_and_resolve_references()  # Same settings as G's.
    # D's convolution block whose features are compared (1-based; -1: the last); 0: pixels.
    # At 64 px (4 blocks) the third, Larsen et al.'s Dis_l; else the last.
    c.loss.recon_layer = 3 if image_size == 64 else -1
    c.loss.gamma = 1e-2  # Weight of the reconstruction loss in G's objective.
    c.loss.kl_weight = 1.0  # Weight of the KL prior term in E's objective (1: the VAE's).
    c.eval.recon_examples = 1000  # Held-out images for the reconstruction error (0: off).
    c.eval.every_steps = 500
    if args.get("pixel"):
        c.loss.recon_layer = 0
    base.apply_budget(c, args)
    if args.get("tiny"):
        base.apply_tiny(c)
        c.model.e_features = 8
        c.eval.recon_examples = 32
    return c
