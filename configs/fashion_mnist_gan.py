"""MLP GAN on Fashion-MNIST (the README's default experiment): the MNIST GAN's settings.

python -m experiments.train --config=configs/fashion_mnist_gan.py --workdir=runs/fashion_mnist_gan
"""

from configs import base, mnist_gan


def get_config(arg=None):
    args = base.parse_arg(arg)
    c = mnist_gan.get_config()
    c.data.name = "fashion_mnist"
    c.train.num_epochs = 100.0  # ~2.5 minutes on 2 CPU cores.
    return base.apply_tiny(c) if args.get("tiny") else c
