"""CycleGAN on Fashion-MNIST, sneaker (7) <-> ankle boot (9), 28 px, unpaired.

  python -m experiments.train --config=configs/fashion_mnist_cyclegan.py --workdir=runs/fmnist_cg

Why this pair: both classes are side views of footwear on the same canvas, so a mapping exists,
but an ankle boot has a tall shaft that a sneaker lacks, so the translation must change the
silhouette, not only the texture (the case the CycleGAN paper names as hard); the two classes
have 6,000 train and 1,000 test images each, so the domains are balanced. The domains are
unpaired: A is every sneaker and B every ankle boot of the split, never matched.
Scaled from the paper's 256 px settings: ResNet generators with 6 blocks (the authors' 128 px
network), ngf 16; the 16x16 PatchGAN (1 stride-2 layer), ndf 16; jitter to 32 then a random 28
crop and mirroring; batch 8; the paper's losses, weights, Adam settings, linear decay over the
second half and 50-image history buffers. FID per direction with the Fashion-MNIST domain
classifier, against the real test images of the target class.

Config arguments (configs/cyclegan_common.py): tiny, steps=N, examples=N.
"""

from configs import cyclegan_common


def get_config(arg=None):
    args = cyclegan_common.base.parse_arg(arg, allowed=cyclegan_common.ARGS)
    c = cyclegan_common.get_cyclegan_config("fashion_mnist_classes")
    c.data.class_a = 7  # Sneaker.
    c.data.class_b = 9  # Ankle boot.
    c.data.load_size = 32
    c.data.crop_size = 28
    c.model.num_blocks = 6
    c.model.ngf = 16
    c.model.ndf = 16
    c.model.d_layers = 1
    c.train.batch_size = 8
    c.train.num_steps = 3000
    c.train.num_epochs = 0.0
    c.eval.every_steps = 1000
    c.eval.batch_size = 500
    c.eval.extractor = "classifier:fashion_mnist"
    c.eval.fid_batch_size = 500
    c.ckpt.every_steps = 1000
    cyclegan_common.base.apply_budget(c, args)
    if args.get("tiny"):
        cyclegan_common.apply_tiny(c)
        c.eval.classifier_arg = "tiny"
    return c
