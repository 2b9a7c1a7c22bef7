"""Salimans et al. (2016) semi-supervised GAN on MNIST, 100 labels (10 per class).

Paper: 93 +- 6.5 test errors out of 10,000. Their code's settings: D 784-1000-500-250-250-250-10
with weight norm (hidden scales fixed, last trained) and Gaussian noise 0.3 / 0.5; G z ~ U(0,1)^100,
500-500 softplus + batch norm, 784 sigmoid with weight norm; squared feature matching on the last
250-unit layer; Adam lr 0.003, beta1 0.5; batch 100; 300 epochs; test error of the Polyak-averaged
D (decay 0.9999) on all 10,000 test images at the last epoch. Its G step samples new latents
(D's step has its own draw). The learning rate is constant (their MNIST script has no schedule).

  python -m experiments.train --config=configs/mnist_ssl.py --workdir=runs/mnist_ssl
  python -m experiments.train --config=configs/mnist_ssl.py:baseline \
      --workdir=runs/mnist_ssl_baseline
"""

from configs import ssl_common


def get_config(arg=None):
    c = ssl_common.get_ssl_base()
    c.data.name = "mnist"
    c.data.num_labeled = 100
    c.model.name = "paper_mnist"
    c.model.latent_dim = 100
    c.model.latent_dist = "uniform01"
    c.loss.fm_distance = "l2"
    for player in ("g", "d"):
        c.optim[player].learning_rate = 0.003
        c.optim[player].schedule = "constant"
    c.train.num_epochs = 300.0
    # The paper's protocol: the full 10,000-image test set, no selection (its code reports the
    # last epoch's test error), so no validation split is carved from the test set.
    c.data.val_fraction = 0.0
    # The paper's code tests with the Polyak average of D's parameters, updated by 1e-4 a step.
    c.model.ema_decay = 0.9999
    return ssl_common.finalize(c, arg)
