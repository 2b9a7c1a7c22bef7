"""pix2pix on CMP Facades (labels -> photo), the paper's settings at 256 px.

  python -m experiments.train --config=configs/facades_pix2pix.py --workdir=runs/facades \
      --config.data.manual_dir=/data/pix2pix

Needs the authors' facades set (400 train / 100 val / 106 test pairs; photo on the left, label
map on the right, hence BtoA), as the folder <manual_dir>/facades/{train,val,test}/*.jpg or the
archive <manual_dir>/facades.tar.gz from their datasets/download_pix2pix_dataset.sh. 200 epochs
at batch 1 = 80,000 steps. The paper's numbers (FCN-scores, AMT perceptual studies) are for
Cityscapes, maps and colorization; for facades it shows images only, so there is no published
figure to match: this config gives L1, PSNR, SSIM and Inception FID of outputs vs targets on the
test split.

Config arguments (configs/pix2pix_common.py): tiny, steps=N, examples=N, batch=N.
"""

from configs import pix2pix_common


def get_config(arg=None):
    c = pix2pix_common.get_pix2pix_config("facades", arg)
    c.data.direction = "BtoA"
    if pix2pix_common.base.parse_arg(arg, allowed=pix2pix_common.ARGS).get("tiny"):
        pix2pix_common.apply_tiny(c, num_downs=3)
        c.data.load_size = 36
        c.data.crop_size = 32
        c.eval.extractor = "inception_v3:random"
    return c
