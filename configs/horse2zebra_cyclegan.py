"""CycleGAN on horse2zebra (1,067 horses / 1,334 zebras to train, 120 / 140 to test), the
paper's settings at 256 px.

  python -m experiments.train --config=configs/horse2zebra_cyclegan.py --workdir=runs/h2z \
      --config.data.manual_dir=/data/cyclegan

Needs the authors' set as <manual_dir>/horse2zebra/{trainA,trainB,testA,testB}/*.jpg or the
archive <manual_dir>/horse2zebra.zip (their datasets/download_cyclegan_dataset.sh), or tfds's
prepared cycle_gan/horse2zebra. 200 epochs of max(|A|, |B|) = 1,334 images at batch 1 =
266,800 steps. The paper reports no FID for horse2zebra (its numbers are AMT studies on maps
and FCN-scores on Cityscapes); later papers report FIDs of the authors' model on this set,
measured with different protocols, so compare only runs scored with the same protocol (the
protocol is written into results.json).

Config arguments (configs/cyclegan_common.py): tiny, steps=N, examples=N.
"""

from configs import cyclegan_common


def get_config(arg=None):
    c = cyclegan_common.get_cyclegan_config("horse2zebra", arg)
    if cyclegan_common.base.parse_arg(arg, allowed=cyclegan_common.ARGS).get("tiny"):
        cyclegan_common.apply_tiny(c)
        c.data.load_size = 36
        c.data.crop_size = 32
        c.eval.extractor = "inception_v3:random"
    return c
