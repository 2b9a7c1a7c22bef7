"""Scores a synthetic-data pipeline's two classifiers on the semi-supervised GAN's test split.

The SSL runs (configs/fashion_mnist_ssl.py) carve a validation half out of the test set and report
accuracy on the other half (ganjax.data.labeled.split_validation(num_test, 0.5, seed)). This
prints, for each pipeline folder (the seed is read from its config), the accuracy of its
`classifier` (synthetic images only) and `baseline` (real labels only) on that half, and on the
whole test split (which equals the pipeline's results.json):

  .venv/bin/python scripts/score_on_ssl_split.py runs/fm_syn_s0 runs/fm_syn_s1 runs/fm_syn_s2
"""

import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from ganjax.data import load_split, to_float_images  # noqa: E402
from ganjax.data.labeled import split_validation  # noqa: E402
from ganjax.evaluators import extractors  # noqa: E402


def main(runs: list[str]) -> None:
    test = load_split("fashion_mnist", "test")
    for run in runs:
        seed = int(json.loads((pathlib.Path(run) / "config.json").read_text())["seed"])
        _, half = split_validation(len(test["image"]), 0.5, seed)
        out = [run, f"seed {seed}"]
        for stage in ("classifier", "baseline"):
            ex = extractors.load_classifier(pathlib.Path(run) / stage, stage)
            preds = [
                np.asarray(
                    ex.apply_fn(ex.variables, to_float_images(test["image"][i : i + 1000]))[1]
                )
                for i in range(0, len(test["image"]), 1000)
            ]
            right = np.concatenate(preds).argmax(-1) == test["label"]
            out.append(f"{stage}: half {right[half].mean():.4f}, all {right.mean():.4f}")
        print(" | ".join(out))


if __name__ == "__main__":
    main(sys.argv[1:])
