"""Defaults shared by every GAN config, and the parser for the config argument.

The argument after the colon in `--config=configs/<name>.py:<arg>` is a comma-separated list of
flags and key=value pairs, e.g. `tiny`, `res=64`, `tiny,res=28`; a bare number means `res=N`.
"""

from __future__ import annotations

import ml_collections


def parse_arg(arg: str | None, allowed: tuple[str, ...] = ("tiny",)) -> dict[str, str | bool]:
    """'tiny,res=64' -> {'tiny': True, 'res': '64'}; unknown names raise ValueError."""
    out: dict[str, str | bool] = {}
    for part in filter(None, (arg or "").split(",")):
        key, sep, value = part.partition("=")
        if not sep and key.isdigit():
            key, value, sep = "res", key, "="
        if key not in allowed:
            raise ValueError(f"Unknown config argument '{key}'; this config accepts {allowed}")
        out[key] = value if sep else True
    return out


def get_base_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0  # Root of all randomness: init, data order, latents.
    c.method = "gan"  # The training method (ganjax/methods): gan | ssl_gan | cgan.

    c.data = ml_collections.ConfigDict()
    c.data.name = "mnist"
    c.data.train_split = "train"
    c.data.manual_dir = ""  # Folder with the original files; empty: search the standard places.
    c.data.tfds_data_dir = ""  # tfds data_dir holding a prepared copy (used if no local files).
    c.data.image_size = 0  # CelebA only: side after the 108 px center crop.
    c.data.max_examples = 0  # Keep only the first N training examples (0: all).
    c.data.cache_dir = "~/.cache/ganjax"  # Decoded CelebA arrays.
    # DiffAugment policy on every image D sees (comma-separated: color, translation, cutout).
    c.data.augment = ""  # "": off.

    c.model = ml_collections.ConfigDict()
    c.model.name = "mlp"
    c.model.latent_dim = 100
    c.model.latent_dist = "uniform"  # "uniform": U(-1, 1); "normal": N(0, 1).
    c.model.hidden = 128  # MLP hidden units.
    c.model.leaky_slope = 0.01  # MLP leaky ReLU slope.
    c.model.g_features = 64  # DCGAN: generator width at the last hidden layer (ngf).
    c.model.d_features = 64  # DCGAN: discriminator width at the first layer (ndf).
    c.model.init_std = 0.02  # DCGAN: N(0, std) weight init.
    c.model.ema_decay = 0.0  # > 0: keep an EMA of G and sample from it.
    c.model.spectral_norm = False  # DCGAN D: spectral normalization of every layer.
    c.model.d_norm = "batch"  # DCGAN D: "batch", "layer" or "none" (no batch norm).
    # Convolution algorithms (same results to float32 rounding; docs/performance.md). "auto": the
    # fastest here (CPU: Winograd for 4x4 stride-2 layers, im2col matrix products otherwise).
    c.model.conv_impl = "auto"  # "gemm", "winograd", "shift_add", "lax" or "auto".
    c.model.conv_transpose_impl = "auto"  # "direct", "subpixel", "gemm", "winograd" or "auto".

    c.loss = ml_collections.ConfigDict()
    c.loss.type = "non_saturating"  # non_saturating | minimax | hinge | least_squares | wasserstein
    c.loss.label_smoothing = 0.0  # One-sided: the real target becomes 1 - smoothing.
    c.loss.gradient_penalty = 0.0  # WGAN-GP weight lambda (10 in the paper); 0: off.
    c.loss.r1_gamma = 0.0  # R1 penalty gamma on reals (gamma / 2 * E|grad D|^2); 0: off.
    c.loss.r2_gamma = 0.0  # R2 penalty gamma on fakes; 0: off.
    c.loss.penalty_every = 1  # R1/R2 every k D updates, weighted by k (StyleGAN2 uses 16).

    c.optim = ml_collections.ConfigDict()
    for player in ("g", "d"):
        o = ml_collections.ConfigDict()
        o.name = "adam"
        o.learning_rate = 2e-4
        o.b1 = 0.5
        o.b2 = 0.999
        o.eps = 1e-8  # Adam epsilon outside the square root...
        o.eps_root = 0.0  # ...and inside it.
        o.schedule = "constant"  # constant | exponential_per_epoch | linear_decay
        o.decay_rate = 0.9  # exponential_per_epoch: factor per epoch.
        o.decay_start_fraction = 0.5  # linear_decay: fraction of training before the decay.
        o.grad_clip_norm = 0.0  # > 0: clip the global gradient norm.
        c.optim[player] = o

    c.train = ml_collections.ConfigDict()
    c.train.batch_size = 64  # Global batch, split over devices.
    c.train.num_steps = 0  # 0: derive from num_epochs.
    c.train.num_epochs = 1.0
    c.train.d_steps = 1  # Discriminator updates per generator update.
    c.train.log_every_steps = 100

    c.eval = ml_collections.ConfigDict()
    c.eval.every_steps = 0  # Sample grid and evaluation period; 0: once per epoch; -1: never.
    c.eval.num_samples = 64  # Fixed latents in the grid.
    # Sample quality (FID, KID, IS, precision/recall, density/coverage; ganjax/evaluators/fid.py).
    c.eval.fid_every_steps = 0  # 0: off during training (experiments.evaluate works after).
    # "": inception_v3 for RGB data, classifier:<data.name> for gray; or classifier:<path>.
    c.eval.extractor = ""
    c.eval.fid_num_samples = 10000  # Generated images per evaluation (50000 for papers).
    c.eval.fid_batch_size = 500  # Images per generation / extraction call (all devices).
    c.eval.fid_seed = 0  # Latents of the evaluation samples: fold_in(key(fid_seed), batch).
    c.eval.reference_split = "train"  # Real split the samples are compared with.
    c.eval.heldout_split = "test"  # Real split compared with the reference: the floor.
    c.eval.reference_stats = ""  # An explicit statistics .npz (default: cached per extractor).
    c.eval.inception_weights = ""  # .pth / TorchScript .pt / converted .npz ("": search).
    c.eval.classifier_arg = ""  # Config argument of classifier:<dataset>'s run ("tiny": tests).
    c.eval.kid_subsets = 100
    c.eval.kid_subset_size = 1000

    c.ckpt = ml_collections.ConfigDict()
    c.ckpt.every_steps = 1000  # Also saved at the end.
    c.ckpt.max_to_keep = 3
    return c


def apply_budget(c: ml_collections.ConfigDict, args: dict) -> ml_collections.ConfigDict:
    """The `examples=N` (first N training images) and `steps=N` (N steps, checkpoint at the
    end, instead of epochs) config arguments that several experiment families share."""
    if args.get("examples"):
        c.data.max_examples = int(args["examples"])
    if args.get("steps"):
        c.train.num_steps = int(args["steps"])
        c.train.num_epochs = 0.0
        c.ckpt.every_steps = int(args["steps"])
    return c


def apply_tiny(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Shrinks a config to seconds on a CPU: tiny widths, a few steps, everything exercised."""
    c.data.max_examples = 256
    c.model.hidden = 16
    c.model.g_features = 8
    c.model.d_features = 8
    c.train.batch_size = 16
    c.train.num_steps = 6
    c.train.num_epochs = 0.0
    c.train.log_every_steps = 2
    c.eval.every_steps = 3
    c.eval.num_samples = 16
    c.ckpt.every_steps = 3
    return c
