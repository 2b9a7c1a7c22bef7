"""The paper's MNIST semi-supervised GAN on Fashion-MNIST, 100 labels, sized for ~30 minutes on 2
CPU cores (the paper's 300 epochs would take hours there).

  python -m experiments.train --config=configs/fashion_mnist_ssl.py --workdir=runs/fmnist_ssl
  python -m experiments.train --config=configs/fashion_mnist_ssl.py:baseline \
      --workdir=runs/fmnist_ssl_baseline
"""

from configs import mnist_ssl, ssl_common


def get_config(arg=None):
    c = mnist_ssl.get_config()
    c.data.name = "fashion_mnist"
    c.train.num_epochs = 40.0  # ~25 minutes on 2 CPU cores (17 steps/s).
    return ssl_common.finalize(c, arg)
