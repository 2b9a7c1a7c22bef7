"""Salimans et al. (2016) semi-supervised GAN on CIFAR-10, 4000 labels. Paper: 18.63 +- 2.32 % error.

The paper's conv classifier with weight norm at 96/192 channels, L1 feature matching, Adam 3e-4,
beta1 0.5, batch 100, 1200 epochs with lr * min(3 - epoch / 400, 1) (constant for 800 epochs,
then linear to 0), Polyak-averaged D for evaluation.

  python -m experiments.train --config=configs/cifar10_ssl.py --workdir=runs/cifar10_ssl
"""

from configs import ssl_common


def get_config(arg=None):
    c = ssl_common.get_ssl_base()
    c.data.name = "cifar10"
    c.data.num_labeled = 4000
    c.model.name = "paper_conv"
    c.model.d_widths = (96, 192)
    c.model.latent_dist = "uniform01"
    c.model.ema_decay = 0.9999
    c.loss.fm_distance = "l1"
    for player in ("g", "d"):
        c.optim[player].learning_rate = 3e-4
        c.optim[player].schedule = "linear_decay"
        c.optim[player].decay_start_fraction = 2 / 3
    c.train.num_epochs = 1200.0
    return ssl_common.finalize(c, arg)
