"""Domain classifier for CIFAR-10 (32x32 RGB, 10 classes):
features for classifier-FID/KID/PR and the IS analogue.

  python -m experiments.train --config=configs/cifar10_classifier.py \
      --workdir=runs/cifar10_classifier

Evaluation trains it on first use of --extractor=classifier:cifar10 and caches it.
"""

from configs import classifier_common


def get_config(arg=None):
    return classifier_common.get_classifier_config("cifar10", arg)
