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

import json
import pathlib
import sys

import jax
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from ganjax.evaluators import extractors  # noqa: E402

DEFAULT_CLASSIFIER = "~/.cache/ganjax/classifiers/fashion_mnist"


def agreement(folder: pathlib.Path, classify, batch: int = 1000) -> tuple[float, list[float]]:
    images = np.load(folder / "images.npy")
    labels = np.load(folder / "labels.npy")
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
    fn = jax.jit(lambda x: extractors.features_fn(ex)(ex.variables, x))
    print(f"classifier {run} (test accuracy {ex.info.get('classifier_test_accuracy')})")
    for folder in folders:
        if not (folder / "images.npy").is_file():
            sys.exit(f"{folder} is not a synthetic set (no images.npy / labels.npy).")
        made = json.loads((folder / "synthetic.json").read_text())
        overall, per_class = agreement(folder, fn)
        print(
            f"{folder} ({made.get('strategy', '?')}): agreement {overall:.4f}; per class "
            + " ".join(f"{a:.2f}" for a in per_class)
        )


if __name__ == "__main__":
    main(sys.argv[1:])
