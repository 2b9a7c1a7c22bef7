"""DCGAN on Fashion-MNIST at 28x28 pixels (Radford et al. settings: Adam 2e-4, beta1 0.5, batch 128,
N(0, 0.02) init, z ~ U(-1, 1)^100).

  python -m experiments.train --config=configs/fashion_mnist_dcgan.py \
      --workdir=runs/fashion_mnist_dcgan

Arguments (configs/dcgan_common.py): tiny, loss=ns|hinge_sn|wgan_gp|ns_r1, da, examples=N,
steps=N, conditional (with acgan or cbn).
"""

from configs import dcgan_common


def get_config(arg=None):
    return dcgan_common.get_dcgan_variant("fashion_mnist", arg)
