"""Salimans et al. (2016) semi-supervised GAN on CIFAR-10, 4000 labels.
Paper: 18.63 +- 2.32 % error.

The paper's conv classifier with weight norm at 96/192 channels, L1 feature matching, Adam 3e-4,
beta1 0.5, batch 100, 1200 epochs with lr * min(3 - epoch / 400, 1) (constant for 800 epochs,
then linear to 0), Polyak-averaged D for evaluation.

  python -m experiments.train --config=configs/cifar10_ssl.py --workdir=runs/cifar10_ssl
"""

from configs import ssl_common


def get_config(arg=None):
    c = ssl_common.get_paper_conv_config(
        "cifar10", num_labeled=4000, widths=(96, 192), num_epochs=1200.0
    )
    return ssl_common.finalize(c, arg)
