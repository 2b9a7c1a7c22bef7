"""The seeds' SVHN semi-supervised GAN: batch-norm conv classifier (64/128), labels on the first
1000 training images, L1 feature matching, Adam 3e-4 beta1 0.5, lr x0.9 per epoch, batch 128,
25 epochs, z ~ U(-1, 1)^100.

  python -m experiments.train --config=configs/svhn_ssl_seeds.py --workdir=runs/svhn_ssl_seeds
"""

from configs import ssl_common


def get_config(arg=None):
    c = ssl_common.get_ssl_base()
    c.data.name = "svhn_cropped"
    c.data.num_labeled = 1000
    c.data.labeled_mode = "first_n"
    c.model.name = "seeds_svhn"
    c.model.d_widths = (64, 128)
    c.model.dropout = 0.5
    c.model.latent_dist = "uniform"
    c.loss.fm_distance = "l1"
    for player in ("g", "d"):
        c.optim[player].learning_rate = 3e-4
        c.optim[player].schedule = "exponential_per_epoch"
        c.optim[player].decay_rate = 0.9
    c.train.batch_size = 128
    c.train.num_epochs = 25.0
    return ssl_common.finalize(c, arg)
