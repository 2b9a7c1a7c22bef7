"""Semi-supervised GAN defaults and the :tiny / :baseline / labels=N variants.

`get_config` arguments: `tiny` (seconds, for tests), `baseline` (supervised-only: the same
classifier on the same labeled subset, no generator, no unlabeled loss), `labels=N` (label budget).
"""

import ml_collections

from configs import base

ALLOWED = ("tiny", "baseline", "labels")


def get_ssl_base() -> ml_collections.ConfigDict:
    c = base.get_base_config()
    c.method = "ssl_gan"
    c.data.num_labeled = 100  # Class-balanced labeled subset (all images are also unlabeled).
    c.data.labeled_mode = (
        "balanced"  # "balanced" (drawn from config.seed) or "first_n" (the seeds).
    )
    c.data.val_fraction = 0.5  # Validation carved from the test set (the seeds use half).
    c.data.max_test_examples = 0

    c.model.name = "paper_mnist"  # paper_mnist | paper_conv | seeds_svhn
    c.model.extra_class = False  # True: explicit (K+1)-th fake logit; False: implicit (fixed 0).
    c.model.d_hidden = (1000, 500, 250, 250, 250)  # paper_mnist D.
    c.model.g_hidden = 500  # paper_mnist G.
    c.model.input_noise = 0.3  # paper_mnist: Gaussian noise std on the input...
    c.model.hidden_noise = 0.5  # ...and after each hidden layer (off at test time).
    c.model.d_widths = (96, 192)  # paper_conv / seeds_svhn channel widths.
    c.model.input_dropout = 0.2  # paper_conv.
    c.model.dropout = 0.5
    c.model.g_features = 128  # DCGAN generator for the conv models: 4x4x512 -> 32x32x3.
    c.model.init_batch_size = 500  # Images for the weight-norm data-dependent init.
    c.model.ema_decay = 0.999  # Polyak average of D, evaluated next to the raw D.

    c.loss.generator = "feature_matching"  # or "non_saturating"
    c.loss.fm_distance = "l2"  # "l2" (squared, MNIST) or "l1" (SVHN / CIFAR-10)
    c.loss.unsup_weight = 1.0
    c.loss.supervised_only = False
    for player in ("g", "d"):
        c.optim[player].b1 = 0.5  # Adam beta1 0.5 for both players (the paper).
        c.optim[player].eps = 0.0  # The paper's Adam: g / sqrt(v + 1e-8).
        c.optim[player].eps_root = 1e-8
    c.train.batch_size = 100
    c.train.log_every_steps = 200
    c.ckpt.every_steps = 5000
    return c


def get_paper_conv_config(
    dataset: str, num_labeled: int, widths: tuple[int, int], num_epochs: float
):
    """The paper's weight-norm conv classifier setting (SVHN, CIFAR-10): L1 feature matching on
    the pooled features, Adam 3e-4, constant then linear decay to 0 over the last third (their
    lr * min(3 - epoch / 400, 1) over 1200 epochs), Polyak-averaged D (0.9999)."""
    c = get_ssl_base()
    c.data.name = dataset
    c.data.num_labeled = num_labeled
    c.model.name = "paper_conv"
    c.model.d_widths = widths
    c.model.latent_dist = "uniform01"
    c.model.ema_decay = 0.9999
    c.loss.fm_distance = "l1"
    for player in ("g", "d"):
        c.optim[player].learning_rate = 3e-4
        c.optim[player].schedule = "linear_decay"
        c.optim[player].decay_start_fraction = 2 / 3
    c.train.num_epochs = num_epochs
    return c


def finalize(c: ml_collections.ConfigDict, arg) -> ml_collections.ConfigDict:
    args = base.parse_arg(arg, allowed=ALLOWED)
    if "labels" in args:
        c.data.num_labeled = int(args["labels"])
    if args.get("baseline"):
        c.loss.supervised_only = True
    if args.get("tiny"):
        base.apply_tiny(c)
        c.data.max_examples = 200
        c.data.max_test_examples = 100
        c.data.num_labeled = 20
        c.model.d_hidden = (32, 16)
        c.model.g_hidden = 16
        c.model.d_widths = (8, 16)
        c.model.g_features = 4
        c.model.init_batch_size = 50
        c.model.ema_decay = 0.9  # A horizon of ~10 steps, visible in a tiny run.
        c.train.batch_size = 20
        c.eval.every_steps = 3
    return c
