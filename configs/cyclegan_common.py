"""CycleGAN settings (Zhu et al. 2017; ganjax/methods/cyclegan.py) shared by its configs.

The paper's, as the authors' train options set them: ResNet generators with 9 blocks at 256 px
(6 at 128), ngf 64; 70x70 PatchGANs (3 stride-2 layers), ndf 64; instance norm; least-squares
GAN loss; lambda_A = lambda_B = 10, identity 0.5; Adam 2e-4 (beta1 0.5); 100 epochs at the
constant rate then 100 decaying linearly to 0 (`linear_decay` from half of the run); batch 1;
the 50-image history buffer; jitter: resize to 286, random 256 crop, mirroring.

Config arguments (comma-separated): tiny; steps=N (N steps instead of epochs, checkpoint at the
end); examples=N (the first N training images of each domain).
"""

from __future__ import annotations

import ml_collections

from configs import base

ARGS = ("tiny", "steps", "examples")


def get_cyclegan_config(name: str, arg=None) -> ml_collections.ConfigDict:
    """The paper's CycleGAN config for dataset `name` at 256 px."""
    args = base.parse_arg(arg, allowed=ARGS)
    c = base.get_base_config()
    c.method = "cyclegan"
    for key in ("image_size", "augment"):
        del c.data[key]
    c.data.name = name
    c.data.grayscale = False  # Decode both domains to one channel instead of RGB.
    c.data.load_size = 286
    c.data.crop_size = 256
    c.data.flip = True
    c.data.test_split = "test"

    c.model = ml_collections.ConfigDict()
    c.model.name = "resnet"
    c.model.num_blocks = 9  # resnet_9blocks at 256 px; 6 for 128 px.
    c.model.ngf = 64
    c.model.ndf = 64
    c.model.d_layers = 3  # 70x70 PatchGAN.
    c.model.norm = "instance"  # instance | none
    c.model.use_dropout = False  # The authors' CycleGAN default (--no_dropout).
    c.model.init_std = 0.02
    c.model.conv_impl = "auto"
    c.model.conv_transpose_impl = "auto"

    c.loss = ml_collections.ConfigDict()
    c.loss.gan_mode = "lsgan"
    c.loss.lambda_a = 10.0  # Cycle A -> B -> A.
    c.loss.lambda_b = 10.0  # Cycle B -> A -> B.
    c.loss.lambda_identity = 0.5  # Times the cycle weight of the generator's output domain.

    for player in ("g", "d"):
        c.optim[player].schedule = "linear_decay"
        c.optim[player].decay_start_fraction = 0.5
    del c.train["d_steps"]
    c.train.batch_size = 1
    c.train.num_epochs = 200.0
    c.train.pool_size = 50  # History buffer of generated images per domain (0: off).

    c.eval.every_steps = 0  # Grid and test metrics once per epoch.
    c.eval.batch_size = 1
    c.eval.max_test_examples = 0  # 0: every test image of each domain.
    c.eval.grid_rows = 4  # (a, G_A(a), rec_a, b, G_B(b), rec_b) rows per grid.
    c.eval.extractor = "inception_v3"
    unused = ("num_samples", "fid_num_samples", "fid_seed", "reference_split", "heldout_split")
    for key in (*unused, "reference_stats"):
        del c.eval[key]
    c.eval.fid_batch_size = 50
    c.ckpt.every_steps = 5000
    base.apply_budget(c, args)
    return c


def apply_tiny(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Seconds on a CPU: small generators and PatchGANs, a few steps, every part exercised."""
    c.data.max_examples = 32
    c.model.num_blocks = 1
    c.model.ngf = 4
    c.model.ndf = 4
    c.model.d_layers = 1
    c.model.conv_impl = "gemm"  # Bit-stable over device counts.
    c.train.batch_size = min(4, c.train.batch_size)
    # At the paper's 2e-4, these 4-channel networks amplify float32 summation-order noise (1 vs
    # 4 devices: 3e-5 relative after one step) to 10 % of Adam's moments within 6 steps; at 2e-5
    # they stay at 7e-5 (measured), so the device-count equality test checks the computation.
    c.optim.g.learning_rate = c.optim.d.learning_rate = 2e-5
    c.train.num_steps = 6
    c.train.num_epochs = 0.0
    c.train.pool_size = 6  # Fills within the run, then swaps: both paths run.
    c.train.log_every_steps = 2
    c.eval.every_steps = 3
    c.eval.max_test_examples = 12
    c.eval.grid_rows = 2
    c.eval.batch_size = 8
    # One extraction call per test set: at the full config's 50, every call padded its 12 images
    # to 50 Inception passes at 299 px (4.7 s a call on 2 cores).
    c.eval.fid_batch_size = 12
    c.eval.kid_subset_size = 6
    c.eval.kid_subsets = 5
    c.ckpt.every_steps = 3
    return c
