"""Classifies your own images with a trained classifier run.

  python -m experiments.classify --workdir=runs/fashion_mnist_classifier --input=photos/ \
      --out=predictions.csv [--labels=labels.csv] [--batch_size=64]

Works for both kinds of classifier run (configs/*_classifier.py; the transfer classifier with
--config.model.name=transfer). --input is an image or a folder, walked recursively in sorted
order (non-image files are skipped with a note). Each image, of any size and mode, gets the
run's own preprocessing (ganjax/classifiers/user_images.py says exactly what happens to sizes the
dataset does
not have). --out gets one row per image: name (path relative to --input), label (the class
name where the run knows them, else the integer) and probability (of that label).
--labels (a CSV with columns name,label; a label is a class name or an integer) also prints the
accuracy over the labeled images and writes it to <out stem>.accuracy.json beside --out.
"""

from __future__ import annotations

from absl import app, flags

from experiments import common
from ganjax.classifiers import classify, restore, user_images

_WORKDIR = flags.DEFINE_string("workdir", None, "A classifier run folder (experiments.train).")
_INPUT = flags.DEFINE_string("input", None, "An image file, or a folder of images.")
_OUT = flags.DEFINE_string("out", "predictions.csv", "Output CSV: name,label,probability.")
_LABELS = flags.DEFINE_string("labels", None, "Optional CSV name,label: scores the predictions.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 64, "Images per network call.")
flags.mark_flags_as_required(["workdir", "input"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    common.setup_logging()
    try:
        classifier = restore.load_classifier(_WORKDIR.value)
        files = user_images.input_files(_INPUT.value)
        labels = None
        if _LABELS.value:  # Checked before any prediction: a wrong name stops at once.
            labels = classify.read_labels(_LABELS.value, classifier, [n for n, _ in files])
        predictions = classify.classify_files(classifier, files, _BATCH_SIZE.value)
        out = classify.write_predictions(_OUT.value, predictions)
        score = classify.score(predictions, labels) if labels is not None else None
    except common.USER_ERRORS as e:
        common.fail(e)
    print(f"Classifier: {classifier.description}")
    print(f"Wrote {len(predictions)} prediction(s) to {out}")
    if score is not None:
        report = classify.write_score(out, score, labels=_LABELS.value, workdir=_WORKDIR.value)
        print(
            f"Accuracy: {score.accuracy:.4f} ({score.num_correct} of {score.num_scored} labeled "
            f"files correct; {score.num_unlabeled} input file(s) without a label not scored); "
            f"written to {report}"
        )


if __name__ == "__main__":
    app.run(main, flags_parser=common.parse_flags)
