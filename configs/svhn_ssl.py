"""Salimans et al. (2016) semi-supervised GAN on SVHN, 1000 labels. Paper: 8.11 +- 1.3 % error.

The paper's conv classifier with weight norm at 64/128 channels (input dropout 0.2, dropout 0.5,
a valid 3x3 conv, two 1x1 layers, global mean pool), L1 feature matching on the pooled features,
DCGAN generator 4x4x512 -> 32x32x3; Adam 3e-4, beta1 0.5, batch 100; Polyak-averaged D.
Epochs and decay follow their CIFAR-10 code's shape (constant, then linear to 0 over the last
third); the SVHN epoch count is ours.

  python -m experiments.train --config=configs/svhn_ssl.py --workdir=runs/svhn_ssl
"""

from configs import ssl_common


def get_config(arg=None):
    c = ssl_common.get_ssl_base()
    c.data.name = "svhn_cropped"
    c.data.num_labeled = 1000
    c.model.name = "paper_conv"
    c.model.d_widths = (64, 128)
    c.model.latent_dist = "uniform01"
    c.model.ema_decay = 0.9999
    c.loss.fm_distance = "l1"
    for player in ("g", "d"):
        c.optim[player].learning_rate = 3e-4
        c.optim[player].schedule = "linear_decay"
        c.optim[player].decay_start_fraction = 2 / 3
    c.train.num_epochs = 400.0
    return ssl_common.finalize(c, arg)
