"""Applying a trained classifier run to your own images (`python -m experiments.classify`):
predictions, labels and accuracy. The run is restored by ganjax/classifiers/restore.py; the
files are read and brought to its shape by ganjax/classifiers/user_images.py, which states each
preprocessing rule.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import pathlib

from ganjax.classifiers.restore import Classifier
from ganjax.classifiers.user_images import read_images
from ganjax.errors import BadFileError, DataError, MissingFileError


@dataclasses.dataclass(frozen=True)
class Prediction:
    name: str  # Path relative to --input.
    index: int  # Predicted class.
    label: str  # Its name (or the integer as text).
    probability: float  # Of the predicted class.


def classify_files(
    classifier: Classifier, files: list[tuple[str, pathlib.Path]], batch_size: int = 64
) -> list[Prediction]:
    """Predictions for `files` (as `input_files` returns them), in their order."""
    probs = classifier.predict(read_images(classifier, files), batch_size)
    index = probs.argmax(-1)
    return [
        Prediction(name, int(k), classifier.label(int(k)), float(p[k]))
        for (name, _), k, p in zip(files, index, probs)
    ]


def write_predictions(path: str | pathlib.Path, predictions: list[Prediction]) -> pathlib.Path:
    """A CSV with columns name,label,probability; one row per file."""
    path = pathlib.Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["name", "label", "probability"])
        for p in predictions:
            writer.writerow([p.name, p.label, f"{p.probability:.6f}"])
    return path


def parse_label(value: str, classifier: Classifier) -> int | None:
    """A label given as a class name (any case) or an integer 0..K-1; None if neither."""
    value = value.strip()
    names = [n.lower() for n in classifier.class_names or ()]
    if value.lower() in names:
        return names.index(value.lower())
    if value.lstrip("-").isdigit() and 0 <= int(value) < classifier.num_classes:
        return int(value)
    return None


def read_labels(
    path: str | pathlib.Path, classifier: Classifier, names: list[str]
) -> dict[str, int]:
    """name -> class index from a CSV with columns name,label, checked against the input names.

    Raises:
      FileNotFoundError: no such file.
      ValueError: columns missing, a name given twice, a label that is neither a class name nor
        an integer 0..K-1, or names of files that are not in --input (listed).
    """
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise MissingFileError(f"--labels={path} does not exist; give a CSV with name,label.")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if not {"name", "label"} <= set(reader.fieldnames or ()):
            raise BadFileError(
                f"{path} needs a header with the columns name,label; it has {reader.fieldnames}"
            )
        rows = [(reader.line_num, r["name"].strip(), r["label"] or "") for r in reader]
    labels, bad, twice = {}, [], []
    for line, name, value in rows:
        k = parse_label(value, classifier)
        if k is None:
            bad.append(f"line {line}: {value!r}")
        if name in labels:
            twice.append(name)
        labels[name] = k
    accepted = (
        f"a class name ({', '.join(classifier.class_names)}) or " if classifier.class_names else ""
    ) + f"an integer 0..{classifier.num_classes - 1}"
    if bad:
        raise BadFileError(f"{path}: labels that are not {accepted}: {', '.join(bad[:10])}")
    if twice:
        raise BadFileError(f"{path} gives a label twice for: {', '.join(twice[:10])}")
    if missing := sorted(set(labels) - set(names)):
        raise DataError(
            f"{path} names {len(missing)} file(s) that are not in --input: "
            f"{', '.join(missing[:20])}{' ...' if len(missing) > 20 else ''}. Names are paths "
            "relative to --input with / (the name column of the output); fix them or add the "
            "files."
        )
    return labels


@dataclasses.dataclass(frozen=True)
class Score:
    accuracy: float
    num_scored: int  # Input files with a label.
    num_correct: int
    num_unlabeled: int  # Input files without one (not scored).


def score(predictions: list[Prediction], labels: dict[str, int]) -> Score:
    """Accuracy over the predictions that have a label."""
    scored = [p for p in predictions if p.name in labels]
    if not scored:
        raise DataError("None of the input files has a label in --labels: nothing to score.")
    correct = sum(p.index == labels[p.name] for p in scored)
    return Score(correct / len(scored), len(scored), correct, len(predictions) - len(scored))


def write_score(
    predictions_path: pathlib.Path, result: Score, *, labels: str, workdir: str
) -> pathlib.Path:
    """Writes `result` to <predictions stem>.accuracy.json beside the predictions CSV."""
    path = predictions_path.with_name(predictions_path.stem + ".accuracy.json")
    fields = dataclasses.asdict(result)
    sources = {"labels": labels, "workdir": workdir, "predictions": predictions_path}
    fields.update({k: str(pathlib.Path(v).expanduser().resolve()) for k, v in sources.items()})
    path.write_text(json.dumps(fields, indent=2))
    return path
