"""DCGAN on SVHN at 32x32 pixels (Radford et al. settings: Adam 2e-4, beta1 0.5, batch 128,
N(0, 0.02) init, z ~ U(-1, 1)^100).

  python -m experiments.train --config=configs/svhn_dcgan.py --workdir=runs/svhn_dcgan
"""

from configs import base, dcgan_common


def get_config(arg=None):
    args = base.parse_arg(arg)
    c = dcgan_common.get_dcgan_config("svhn_cropped")
    return base.apply_tiny(c) if args.get("tiny") else c
