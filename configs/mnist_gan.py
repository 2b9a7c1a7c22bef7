"""MLP GAN on MNIST, as in the seeds: one hidden layer of 128, leaky ReLU 0.01, tanh output,
Adam 2e-3, z ~ U(-1, 1)^100, batch 100, one-sided label smoothing 0.1.

  python -m experiments.train --config=configs/mnist_gan.py --workdir=runs/mnist_gan
"""

from configs import base


def get_config(arg=None):
    args = base.parse_arg(arg)
    c = base.get_base_config()
    c.data.name = "mnist"
    c.model.name = "mlp"
    c.model.hidden = 128
    c.model.leaky_slope = 0.01
    c.model.latent_dim = 100
    c.model.latent_dist = "uniform"
    c.loss.type = "non_saturating"
    c.loss.label_smoothing = 0.1
    for player in ("g", "d"):
        c.optim[player].learning_rate = 2e-3
        c.optim[player].b1 = 0.9  # The seeds use Adam's default betas.
    c.train.batch_size = 100
    c.train.num_epochs = 100.0
    c.train.log_every_steps = 200
    c.ckpt.every_steps = 3000
    return base.apply_tiny(c) if args.get("tiny") else c
