"""Salimans et al. (2016) semi-supervised GAN on SVHN, 1000 labels. Paper: 8.11 +- 1.3 % error.

The paper's conv classifier with weight norm at 64/128 channels (input dropout 0.2, dropout 0.5,
a valid 3x3 conv, two 1x1 layers, global mean pool), L1 feature matching on the pooled features,
DCGAN generator 4x4x512 -> 32x32x3; Adam 3e-4, beta1 0.5, batch 100; Polyak-averaged D.
The decay follows their CIFAR-10 code's shape; the SVHN epoch count (400) is ours.

  python -m experiments.train --config=configs/svhn_ssl.py --workdir=runs/svhn_ssl
"""

from configs import ssl_common


def get_config(arg=None):
    c = ssl_common.get_paper_conv_config(
        "svhn_cropped", num_labeled=1000, widths=(64, 128), num_epochs=400.0
    )
    return ssl_common.finalize(c, arg)
