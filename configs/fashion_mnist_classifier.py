"""Domain classifier for Fashion-MNIST (28x28 grayscale, 10 classes):
features for classifier-FID/KID/PR and the IS analogue.

  python -m experiments.train --config=configs/fashion_mnist_classifier.py \
      --workdir=runs/fashion_mnist_classifier

Evaluation trains it on first use of --extractor=classifier:fashion_mnist and caches it.
"""

from configs import classifier_common


def get_config(arg=None):
    return classifier_common.get_classifier_config("fashion_mnist", arg)
