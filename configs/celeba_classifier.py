"""Domain classifier for CelebA faces (center crop 108, resized; label: the Male attribute).

  python -m experiments.train --config=configs/celeba_classifier.py:64 \
      --workdir=runs/celeba_classifier

`:28`, `:32`, `:64` (default) pick the resolution; it must match the GAN's. Evaluation trains it on
first use of --extractor=classifier:celeb_a and caches it per resolution.
"""

from configs import base, classifier_common


def get_config(arg=None):
    args = base.parse_arg(arg, allowed=("tiny", "res"))
    res = int(args.get("res", 64))
    if res not in (28, 32, 64):
        raise ValueError(f"CelebA classifier resolution must be 28, 32 or 64, got {res}")
    c = classifier_common.get_classifier_config("celeb_a", "tiny" if args.get("tiny") else None)
    c.data.image_size = res
    if res == 64 and not args.get("tiny"):
        c.model.widths = (32, 64, 128)  # 64 -> 8 pixels.
    return c
