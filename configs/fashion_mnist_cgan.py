"""Class-conditional DCGAN on Fashion-MNIST (config.method = "cgan", ganjax/methods/cgan.py).

The DCGAN of configs/fashion_mnist_dcgan.py (Radford et al.'s settings) with a class embedding
concatenated to z and a projection discriminator (Miyato and Koyama 2018). Arguments:
`tiny` (seconds, for tests), `acgan` (an AC-GAN discriminator instead), `cbn` (class-conditional
batch norm in G instead of the embedding).

  python -m experiments.train --config=configs/fashion_mnist_cgan.py --workdir=runs/fmnist_cgan
  python -m experiments.sample --workdir=runs/fmnist_cgan --label=7 --out=sneakers.png
"""

from configs import base, dcgan_common


def get_config(arg=None):
    args = base.parse_arg(arg, allowed=("tiny", "acgan", "cbn"))
    c = dcgan_common.get_dcgan_config("fashion_mnist")
    c.method = "cgan"
    c.model.g_conditioning = "cbn" if args.get("cbn") else "concat"  # concat | cbn
    c.model.d_conditioning = "acgan" if args.get("acgan") else "projection"  # projection | acgan
    c.model.class_embed_dim = 50  # "concat": size of the class embedding beside z.
    c.loss.ac_weight = 1.0  # AC-GAN: weight of the auxiliary classification loss.
    c.eval.num_samples = 100  # Grid: 10 classes x 10 samples, one row per class.
    # Domain-classifier accuracy on each class's samples, at every evaluation (0: off).
    c.eval.class_accuracy_samples = 1000
    if args.get("tiny"):
        base.apply_tiny(c)
        c.eval.num_samples = 20
        c.eval.class_accuracy_samples = 0  # Tests pass a classifier of their own.
    return c
