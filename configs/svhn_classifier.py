"""Domain classifier for SVHN cropped digits (32x32 RGB, 10 classes):
features for classifier-FID/KID/PR and the IS analogue.

  python -m experiments.train --config=configs/svhn_classifier.py \
      --workdir=runs/svhn_classifier

Evaluation trains it on first use of --extractor=classifier:svhn_cropped and caches it.
"""

from configs import classifier_common


def get_config(arg=None):
    return classifier_common.get_classifier_config("svhn_cropped", arg)
