"""How often a synthetic set's labels agree with a trained domain classifier.

A synthetic labeled set (experiments.synthesize, or a pipeline's `synthetic/` stage) labels each
decoded image with the class its code was built for. This prints, for each folder, the fraction
of images that a classifier run (by default the Fashion-MNIST domain classifier, trained on all
60,000 real labels: ~/.cache/ganjax/classifiers/fashion_mnist) assigns to that label, overall and
per class. A low figure means the codes did not decode to their class; the classifier's own test
accuracy bounds what a perfect set scores.

  .venv/bin/python scripts/synthetic_label_agreement.py runs/fm_syn_shift_s0/synthetic \
    runs/fm_syn_subset_mean_s0/synthetic [--classifier=~/.cache/ganjax/classifiers/fashion_mnist]
"""

import pathlib
import sys

import jax
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from ganjax.data import synthetic  # noqa: E402
from ganjax.evaluators import extractors  # noqa: E402

DEFAULT_CLASSIFIER = "~/.cache/ganjax/classifiers/fashion_mnist"


def agreement(folder: pathlib.Path, classify, batch: int = 1000) -> tuple[float, list[float]]:
    data = synthetic.load_synthetic(folder, "train")  # Checks the folder is a whole set.
    images, labels = data["image"], data["label"]
    preds = np.concatenate(
        [
            np.asarray(classify(images[i : i + batch])[1]).argmax(-1)
            for i in range(0, len(images), batch)
        ]
    )
    right = preds == labels
    per_class = [float(right[labels == k].mean()) for k in np.unique(labels)]
    return float(right.mean()), per_class


def main(argv: list[str]) -> None:
    classifier = DEFAULT_CLASSIFIER
    folders = []
    for arg in argv:
        if arg.startswith("--classifier="):
            classifier = arg.split("=", 1)[1]
        else:
            folders.append(pathlib.Path(arg))
    if not folders:
        sys.exit(__doc__)
    run = pathlib.Path(classifier).expanduser()
    if not run.is_dir():
        sys.exit(
            f"No classifier run at {run}: train one with experiments.train "
            "--config=configs/fashion_mnist_classifier.py, or pass --classifier=<run folder>."
        )
    ex = extractors.load_classifier(run, f"classifier:{run}")
    features = jax.jit(extractors.features_fn(ex))
    print(f"classifier {run} (test accuracy {ex.info.get('classifier_test_accuracy')})")
    for folder in folders:
        try:
            made = synthetic.read_meta(folder)
        except FileNotFoundError as e:
            sys.exit(str(e))
        overall, per_class = agreement(folder, lambda x: features(ex.variables, x))
        print(
            f"{folder} ({made.get('strategy', '?')}): agreement {overall:.4f}; per class "
            + " ".join(f"{a:.2f}" for a in per_class)
        )


if __name__ == "__main__":
    main(sys.argv[1:])
