"""VAE-GAN (Larsen et al. 2016) on Fashion-MNIST, 28 px (ganjax/methods/vae_gan.py).

  python -m experiments.train --config=configs/fashion_mnist_vaegan.py --workdir=runs/fmnist_vaegan

Arguments (configs/vaegan_common.py): tiny, steps=N, examples=N, pixel.
"""

from configs import vaegan_common


def get_config(arg=None):
    return vaegan_common.get_vaegan_config("fashion_mnist", arg, num_epochs=10.0)
