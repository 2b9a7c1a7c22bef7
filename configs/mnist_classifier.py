"""Domain classifier for MNIST (28x28 grayscale, 10 digits):
features for classifier-FID/KID/PR and the IS analogue.

  python -m experiments.train --config=configs/mnist_classifier.py \
      --workdir=runs/mnist_classifier

Evaluation trains it on first use of --extractor=classifier:mnist and caches it.
"""

from configs import classifier_common


def get_config(arg=None):
    return classifier_common.get_classifier_config("mnist", arg)
