"""Class-conditional DCGAN on Fashion-MNIST (config.method = "cgan", ganjax/methods/cgan.py).

The DCGAN of configs/fashion_mnist_dcgan.py (Radford et al.'s settings) with a class embedding
concatenated to z and a projection discriminator (Miyato and Koyama 2018); the same as
`configs/fashion_mnist_dcgan.py:conditional`. Arguments: those of every DCGAN config
(configs/dcgan_common.py: tiny, loss=..., da, examples=N, steps=N), plus `acgan` (an AC-GAN
discriminator instead) and `cbn` (class-conditional batch norm in G instead of the embedding).

  python -m experiments.train --config=configs/fashion_mnist_cgan.py --workdir=runs/fmnist_cgan
  python -m experiments.sample --workdir=runs/fmnist_cgan --label=7 --out=sneakers.png
"""

from configs import dcgan_common


def get_config(arg=None):
    return dcgan_common.get_dcgan_variant(
        "fashion_mnist", ",".join(filter(None, ["conditional", arg]))
    )
