"""DCGAN on CelebA faces: center crop 108x108, resized to 28, 32 or 64 pixels (default 64).

  python -m experiments.train --config=configs/celeba_dcgan.py:64 --workdir=runs/celeba64
  python -m experiments.train --config=configs/celeba_dcgan.py:28 --workdir=runs/celeba28

Needs img_align_celeba/ and list_attr_celeba.txt (list_eval_partition.txt for the splits) in
config.data.manual_dir; decoded faces are cached in config.data.cache_dir.
"""

from configs import base, dcgan_common


def get_config(arg=None):
    args = base.parse_arg(arg, allowed=("tiny", "res"))
    res = int(args.get("res", 64))
    if res not in (28, 32, 64):
        raise ValueError(f"celeba_dcgan supports res 28, 32 or 64, not {res}")
    c = dcgan_common.get_dcgan_config("celeb_a")
    c.data.image_size = res
    c.train.num_epochs = 5.0  # 162,770 training faces: ~1,270 steps per epoch at batch 128.
    return base.apply_tiny(c) if args.get("tiny") else c
