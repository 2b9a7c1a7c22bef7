"""DCGAN on Fashion-MNIST at 28x28 pixels (Radford et al. settings: Adam 2e-4, beta1 0.5, batch 128,
N(0, 0.02) init, z ~ U(-1, 1)^100).

  python -m experiments.train --config=configs/fashion_mnist_dcgan.py --workdir=runs/fashion_mnist_dcgan
"""

from configs import base, dcgan_common


def get_config(arg=None):
    args = base.parse_arg(arg)
    c = dcgan_common.get_dcgan_config("fashion_mnist")
    return base.apply_tiny(c) if args.get("tiny") else c
