"""VAE-GAN (Larsen et al. 2016) on CelebA faces: center crop 108, resized to 64 px.

  python -m experiments.train --config=configs/celeba_vaegan.py --workdir=runs/celeba_vaegan

Needs img_align_celeba/ and list_attr_celeba.txt (list_eval_partition.txt for the splits) in
config.data.manual_dir, as configs/celeba_dcgan.py. Arguments (configs/vaegan_common.py): tiny,
steps=N, examples=N, pixel; and res=28|32|64 (default 64).
"""

from configs import base, vaegan_common


def get_config(arg=None):
    args = base.parse_arg(arg, allowed=vaegan_common.ARGS + ("res",))
    res = int(args.pop("res", 64))
    if res not in (28, 32, 64):
        raise ValueError(f"celeba_vaegan supports res 28, 32 or 64, not {res}")
    rest = ",".join(k if v is True else f"{k}={v}" for k, v in args.items())
    # 162,770 training faces: ~1,270 steps per epoch at batch 128.
    return vaegan_common.get_vaegan_config("celeb_a", rest, num_epochs=5.0, image_size=res)
