"""pix2pix settings (Isola et al. 2017; ganjax/methods/pix2pix.py) shared by its configs.

The paper's, as the authors' train options set them: U-Net 256 (8 levels, ngf 64, dropout in
three decoder blocks), 70x70 PatchGAN (3 stride-2 layers, ndf 64), batch norm, GAN loss on
logits ("vanilla") + lambda_L1 = 100 L1, Adam 2e-4 (beta1 0.5) for both networks, constant for
100 epochs then linearly to 0 over 100 more (`linear_decay` from half of the run), batch size 1,
jitter: resize to 286, random 256 crop, mirroring. Testing as the authors' test.py: dropout on
and each test image's own batch statistics (`eval.test_mode = "paper"`, batch 1).

Config arguments (comma-separated): tiny; steps=N (N steps instead of epochs, checkpoint at the
end); examples=N (the first N training pairs); batch=N (batch size N; the paper trains with
1 to 10 depending on the dataset, e.g. 1 for facades, 4 for edges2shoes, 10 for maps).
"""

from __future__ import annotations

import ml_collections

from configs import base

ARGS = ("tiny", "steps", "examples", "batch")


def get_pix2pix_config(name: str, arg=None) -> ml_collections.ConfigDict:
    """The paper's pix2pix config for dataset `name` at 256 px (see the module docstring)."""
    args = base.parse_arg(arg, allowed=ARGS)
    c = base.get_base_config()
    c.method = "pix2pix"
    for key in ("image_size", "augment"):
        del c.data[key]
    c.data.name = name
    c.data.direction = "AtoB"  # AtoB: input = left half of each image; BtoA: the right half.
    c.data.grayscale = False  # Decode the files to one channel instead of RGB.
    c.data.load_size = 286  # Training images are resized to this...
    c.data.crop_size = 256  # ...and randomly cropped to this (test images: resized to it).
    c.data.flip = True  # Random horizontal mirroring of training pairs.
    c.data.test_split = "test"

    c.model = ml_collections.ConfigDict()
    c.model.name = "unet"
    c.model.num_downs = 8  # U-Net levels: 8 for 256 px (1x1 bottleneck).
    c.model.ngf = 64
    c.model.ndf = 64
    c.model.norm = "batch"  # batch | instance | none (both networks).
    c.model.use_dropout = True
    c.model.pad_to_fit = False  # Reflect-pad inputs to a multiple of 2^num_downs (28 -> 32).
    c.model.d_type = "patch"  # patch | pixel | image (the 286x286 ImageGAN at 256 px).
    c.model.d_layers = 3  # PatchGAN stride-2 layers: 3 = 70x70, 1 = 16x16.
    c.model.init_std = 0.02
    c.model.conv_impl = "auto"
    c.model.conv_transpose_impl = "auto"

    c.loss = ml_collections.ConfigDict()
    c.loss.gan_mode = "vanilla"  # vanilla (BCE on logits) | lsgan
    c.loss.l1_weight = 100.0  # lambda_L1.

    for player in ("g", "d"):
        c.optim[player].schedule = "linear_decay"
        c.optim[player].decay_start_fraction = 0.5
    del c.train["d_steps"]
    c.train.batch_size = 1
    c.train.num_epochs = 200.0

    c.eval.every_steps = 0  # Grid and test metrics once per epoch.
    c.eval.test_mode = "paper"  # paper | inference (ganjax/methods/pix2pix.py).
    c.eval.batch_size = 1  # Test images per G call (the batch statistics of "paper" mode).
    c.eval.seed = 0  # Dropout at test time ("paper" mode).
    c.eval.max_test_examples = 0  # 0: the whole test split.
    c.eval.grid_rows = 8  # (input, output, target) rows in every grid.
    c.eval.extractor = "inception_v3"  # FID of outputs vs targets.
    unused = ("num_samples", "fid_num_samples", "fid_seed", "reference_split", "heldout_split")
    for key in (*unused, "reference_stats"):
        del c.eval[key]
    c.eval.fid_batch_size = 50
    c.ckpt.every_steps = 5000

    if args.get("batch"):
        c.train.batch_size = int(args["batch"])
    base.apply_budget(c, args)
    return c


def apply_tiny(c: ml_collections.ConfigDict, *, num_downs: int = 2) -> ml_collections.ConfigDict:
    """Seconds on a CPU: a small U-Net and PatchGAN, a few steps, every part exercised."""
    c.data.max_examples = 64
    c.model.num_downs = num_downs
    c.model.ngf = 8
    c.model.ndf = 8
    c.model.d_layers = 1
    c.model.conv_impl = "gemm"  # Bit-stable over device counts (Winograd adds ~1e-9 noise).
    c.train.batch_size = min(4, c.train.batch_size)  # Never above the full config's.
    c.train.num_steps = 6
    c.train.num_epochs = 0.0
    c.train.log_every_steps = 2
    c.eval.every_steps = 3
    c.eval.max_test_examples = 24
    c.eval.grid_rows = 4
    c.eval.batch_size = 8
    c.eval.fid_batch_size = 24  # One extraction call per test set (see cyclegan_common).
    c.eval.kid_subset_size = 10
    c.eval.kid_subsets = 5
    c.ckpt.every_steps = 3
    return c
