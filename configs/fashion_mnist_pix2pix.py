"""pix2pix on Fashion-MNIST edges -> garments, 28 px (ganjax/data/fashion_translation.py).

  python -m experiments.train --config=configs/fashion_mnist_pix2pix.py --workdir=runs/fmnist_p2p

The input is the garment's edge map from the fixed detector (Gaussian sigma 1, Sobel magnitude
above 0.25 of the image's maximum; black edges on white, like edges2shoes), the target the
garment; Fashion-MNIST's own train (60,000 pairs) and test (10,000) splits. Scaled from the
paper's 256 px settings to 28 px:
  * U-Net of 5 levels on the input reflect-padded to 32 px (a 1x1 bottleneck, as unet_256 has),
    ngf 32; dropout in the decoder block above the innermost one;
  * the 16x16 PatchGAN (1 stride-2 layer; at 28 px a 70x70 field would see the whole image,
    while the paper's patches cover about a quarter of the image side), ndf 32;
  * jitter: resize to 32, random 28 crop, mirroring (the paper's 286 / 256 ratio);
  * batch 16 with batch norm (the paper uses 1 to 10), lambda_L1 100, Adam 2e-4 / 0.5,
    constant then linear decay over the second half;
  * test mode "inference" (running batch statistics, no dropout): with batch-16 training, the
    paper's batch-1 test statistics would differ from the training ones;
  * FID / KID against the test targets with the Fashion-MNIST domain classifier.

Config arguments (configs/pix2pix_common.py): tiny, steps=N, examples=N, batch=N.
"""

from configs import pix2pix_common


def get_config(arg=None):
    args = pix2pix_common.base.parse_arg(arg, allowed=pix2pix_common.ARGS)
    c = pix2pix_common.get_pix2pix_config("fashion_mnist_edges")
    c.data.load_size = 32
    c.data.crop_size = 28
    c.model.num_downs = 5
    c.model.pad_to_fit = True
    c.model.ngf = 32
    c.model.ndf = 32
    c.model.d_layers = 1
    c.train.batch_size = 16
    c.train.num_steps = 5000
    c.train.num_epochs = 0.0
    c.eval.every_steps = 1000
    c.eval.test_mode = "inference"
    c.eval.batch_size = 500
    c.eval.extractor = "classifier:fashion_mnist"
    c.eval.fid_batch_size = 500
    c.ckpt.every_steps = 1000
    if args.get("batch"):
        c.train.batch_size = int(args["batch"])
    pix2pix_common.base.apply_budget(c, args)
    if args.get("tiny"):
        pix2pix_common.apply_tiny(c)
        c.eval.classifier_arg = "tiny"
    return c
