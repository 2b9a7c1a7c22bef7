"""Radford et al. (2016) DCGAN settings shared by the DCGAN configs.

The network's resolution is the data's image size (28 for the MNIST family, 32 for SVHN and
CIFAR-10, config.data.image_size for CelebA).
"""

from configs import base


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
