"""Applying a trained classifier run to your own images (`python -m experiments.classify`).

A classifier run is a folder `experiments.train` wrote with `config.task = "classifier"`: the
from-scratch ConvClassifier (ganjax/classifiers/classifier_train.py, restored through the evaluation
extractor's loader) or a transfer classifier (ganjax/classifiers/transfer_classifier.py: its frozen
feature
network rebuilt from `config.model.extractor`, the standardization and MLP head from its
checkpoint). Either becomes one function from uint8 images [N, H, W, C] at the run's own
`data_info.json` image shape to class probabilities [N, K] (softmax of the logits).

Each file is decoded with PIL, turned upright by its EXIF orientation (phone photos; dataset
images carry none), converted to the run's channels (PIL's "L" luma for gray runs, "RGB" for
color ones; an alpha channel is dropped), then brought to the run's shape by the rule of the
dataset whose test images the run was scored on (`config.data.test_dataset`, else
`config.data.name`):

  celeb_a   the data pipeline's own `celeba.preprocess`, unchanged: the center 108 x 108 pixels
            (top-left at ((H - 108) // 2, (W - 108) // 2)), resized to the run's side with PIL's
            BOX filter. An aligned 178 x 218 CelebA face gets exactly the training array. The
            rule is in pixels, not relative, and the pipeline applies it to any size, so a
            photo of another size gets the same 108-pixel center crop: a 201 x 173 photo keeps
            its central 108 x 108 pixels, a 1000 x 1200 photo only its central 108 x 108 pixels
            (about a 10th of its width; a note is logged). Scale the photo so that the face
            fills it as in CelebA's aligned 178 x 218 faces to give the classifier what it was
            trained on. A photo with a side under 108 pixels, where the crop does not fit, is
            first enlarged (bicubic, aspect ratio kept) until its shorter side is 108.
  others    (mnist, fashion_mnist, svhn_cropped, cifar10): every source image already has the
            run's size and the pipeline resizes nothing, so an image of exactly that size is
            used as it is (bit for bit the pipeline's array). Any other size is resized as a
            whole to the run's H x W with PIL's bicubic filter (antialiased when shrinking),
            aspect ratio not kept, as `experiments.translate` does; nothing is cropped.

Then the run's normalization (uint8 -> [-1, 1], inside the network function) and prediction
in fixed-size batches. The images should look like the dataset (Fashion-MNIST garments are light
on black, MNIST digits white on black): nothing here inverts or recenters them.

Class names: Fashion-MNIST's and CIFAR-10's ten classes; CelebA runs predict the Male attribute
("female" 0 / "male" 1); a classifier trained on a synthetic set of an attribute
(`config.data.test_attribute`) predicts its sides (0 negative, 1 positive, named after the spec);
MNIST and SVHN digits are their integers.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import pathlib
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from ganjax.data import celeba
from ganjax.errors import (
    BadFileError,
    DataError,
    IncompatibleRunError,
    MissingFileError,
    UnreadableFileError,
    UserError,
)
from ganjax.training import checkpointing, sampling

# Files read as images when a folder is walked (others are skipped with a note).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")
CELEBA_NATIVE = (178, 218)  # Width, height of the aligned CelebA faces the crop was set for.
# CIFAR-10's batches.meta label_names, in label order.
CIFAR10_CLASSES = tuple("airplane automobile bird cat deer dog frog horse ship truck".split())


def dataset_classes(dataset: str) -> tuple[str, ...] | None:
    """The class names of a dataset's labels, or None where they are the integers."""
    if dataset == "fashion_mnist":
        from ganjax.data.fashion_translation import FASHION_CLASSES

        return tuple(FASHION_CLASSES)
    if dataset == "cifar10":
        return CIFAR10_CLASSES
    if dataset == "celeb_a":  # Its plain classifiers learn the Male attribute (celeba.load).
        return ("female", "male")
    return None


def _side_name(classes: list[int], names: tuple[str, ...] | None) -> str:
    return "/".join(names[c] if names and c < len(names) else str(c) for c in classes)


def attribute_names(spec: str, dataset: str) -> tuple[str, str]:
    """(negative, positive) names of an attribute spec (ganjax/latent/attributes.py), label 0 /
    1."""
    spec = spec.strip()
    if spec == "Male":
        return ("female", "male")
    if not spec.startswith("class="):  # A CelebA attribute name.
        return (f"not {spec}", spec)
    positive, _, negative = spec.removeprefix("class=").partition(":")
    names = dataset_classes(dataset)
    positive = _side_name(sorted({int(c) for c in positive.split(",")}), names)
    if not negative:
        return (f"not {positive}", positive)
    return (_side_name(sorted({int(c) for c in negative.split(",")}), names), positive)


def class_names(data_cfg, num_classes: int) -> tuple[str, ...] | None:
    """The names of a classifier run's labels 0..K-1 (None: the integers are the names)."""
    dataset = data_cfg.get("test_dataset") or data_cfg.name
    # A synthetic set made for an attribute is labeled by its sides (synthetic_pipeline.py).
    if data_cfg.name == "synthetic" and data_cfg.get("test_attribute"):
        names = attribute_names(data_cfg.test_attribute, dataset)
    else:
        names = dataset_classes(dataset)
    return names if names and len(names) == num_classes else None


@dataclasses.dataclass(frozen=True)
class Classifier:
    """A restored classifier run: uint8 images at `image_shape` -> probabilities [N, K]."""

    workdir: pathlib.Path
    kind: str  # "conv_classifier" or "transfer".
    dataset: str  # Whose preprocessing rule applies (the dataset it was scored on).
    image_shape: tuple[int, int, int]  # [H, W, C] from data_info.json.
    num_classes: int
    class_names: tuple[str, ...] | None
    description: str
    probabilities: Callable[[np.ndarray], np.ndarray] = dataclasses.field(repr=False)

    def label(self, index: int) -> str:
        """The name of class `index` (its integer where the run has no class names)."""
        return self.class_names[index] if self.class_names else str(index)

    def predict(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """float32 [N, K] class probabilities of uint8 [N, H, W, C] images.

        Every batch is padded to `batch_size`, so the network is compiled once.
        """
        out = []
        for i in range(0, len(images), batch_size):
            x = images[i : i + batch_size]
            pad = batch_size - len(x)
            if pad:
                x = np.concatenate([x, np.zeros((pad, *x.shape[1:]), x.dtype)])
            out.append(np.asarray(self.probabilities(x), np.float32)[: batch_size - pad])
        return np.concatenate(out) if out else np.zeros((0, self.num_classes), np.float32)


def _classifier_runs_inside(workdir: pathlib.Path) -> list[str]:
    return [
        str(p.parent)
        for p in sorted(workdir.glob("*/config.json"))
        if json.loads(p.read_text()).get("task") == "classifier"
    ]


def _not_a_classifier(workdir: pathlib.Path, config) -> Exception:
    """The error for a folder that is not a classifier run, naming what to pass instead."""
    inside = _classifier_runs_inside(workdir)
    if inside:
        fix = f"pass one of the classifier runs inside it: {', '.join(inside)}"
    else:
        from ganjax.data import DATASETS
        from ganjax.evaluators import extractors

        dataset = config.data.get("name") if config else None
        command = (
            extractors.train_command(dataset, config.data)
            if dataset in DATASETS
            else "python -m experiments.train --config=configs/<dataset>_classifier.py "
            "--workdir=<a new folder>"
        )
        fix = f"train one (e.g. {command}) and pass its --workdir"
    if config is None:
        return MissingFileError(f"{workdir} is not a ganjax run folder (no config.json); {fix}.")
    task = config.get("task") or f"'{config.get('method', 'gan')}' training"
    return IncompatibleRunError(f"{workdir} is a {task} run, not a classifier run; {fix}.")


def _conv_probabilities(workdir: pathlib.Path) -> tuple[Callable, str]:
    from ganjax.evaluators import extractors

    ext = extractors.load_classifier(workdir, f"classifier:{workdir}")
    apply = extractors.features_fn(ext)  # Maps uint8 to [-1, 1] as training did.
    fn = jax.jit(lambda v, x: jax.nn.softmax(apply(v, x)[1], axis=-1))
    return (lambda images: fn(ext.variables, images)), f"ConvClassifier ({ext.weights})"


def _transfer_probabilities(
    workdir: pathlib.Path, config, info: dict, results: dict
) -> tuple[Callable, str]:
    from ganjax.classifiers import transfer_classifier

    spec, dim = config.model.extractor, int(info["feature_dim"])
    head = transfer_classifier.MLPHead(
        int(info["num_classes"]), int(config.model.head_hidden), float(config.model.dropout)
    )
    target = {
        "params": head.init(jax.random.key(0), jnp.zeros((1, dim)))["params"],
        "feature_mean": np.zeros(dim, np.float32),
        "feature_std": np.zeros(dim, np.float32),
    }
    checkpointer = checkpointing.Checkpointer(workdir, max_to_keep=1, async_save=False)
    try:
        saved = checkpointer.restore(target)
    finally:
        checkpointer.close()
    try:
        # Classifier.predict calls with 64 images at a time.
        featurize, desc = transfer_classifier.feature_network(spec, config.data, batch=64)
    except UserError as e:  # A bug in loading it keeps its traceback.
        raise IncompatibleRunError(
            f"The transfer classifier in {workdir} reads features from {spec}, which cannot be "
            f"loaded now ({e}). Put that feature network back where it was at training."
        ) from e
    trained_on = results.get("extractor_description", desc)
    if desc != trained_on:
        raise IncompatibleRunError(
            f"The transfer classifier in {workdir} was trained on {trained_on}, but {spec} now "
            f"gives {desc}: its features changed since, so the head no longer "
            "applies. Retrain the head (experiments.train with this run's config into a new "
            "--workdir) or restore the feature network's old checkpoint."
        )
    mean, std = np.asarray(saved["feature_mean"]), np.asarray(saved["feature_std"])

    @jax.jit
    def head_probabilities(params, features):
        return jax.nn.softmax(head.apply({"params": params}, features), axis=-1)

    def probabilities(images):
        features = (featurize(images) - mean) / std  # As the head was trained (numpy, float32).
        return head_probabilities(saved["params"], jnp.asarray(features))

    return probabilities, f"MLP head on {desc}"


def load_classifier(workdir: str | pathlib.Path) -> Classifier:
    """Restores a finished classifier run (either kind) as a Classifier.

    Raises:
      FileNotFoundError: `workdir` is missing or not a run folder.
      ValueError: not a classifier run (the message names how to train one, or the classifier
        runs inside it), an unfinished one (no results.json), or a transfer classifier whose
        feature network is gone or changed.
      checkpointing.CheckpointError: no readable checkpoint.
    """
    workdir = pathlib.Path(workdir).expanduser()
    if not workdir.is_dir():
        raise MissingFileError(
            f"--workdir={workdir} does not exist. Pass a classifier run folder, or train one: "
            f"python -m experiments.train --config=configs/fashion_mnist_classifier.py "
            f"--workdir={workdir}"
        )
    config_path = workdir / "config.json"
    config = (
        ml_collections.ConfigDict(json.loads(config_path.read_text()))
        if config_path.exists()
        else None
    )
    if config is None or config.get("task") != "classifier":
        raise _not_a_classifier(workdir, config)
    if not (workdir / "results.json").exists():
        raise IncompatibleRunError(
            f"{workdir} is an unfinished classifier run (no results.json): rerun the "
            f"experiments.train command that started it, with --workdir={workdir}; it resumes "
            "from its last checkpoint and finishes."
        )
    config, info = sampling.read_run(workdir)
    results = json.loads((workdir / "results.json").read_text())
    if config.model.name == "transfer":
        fn, desc = _transfer_probabilities(workdir, config, info, results)
    else:
        fn, desc = _conv_probabilities(workdir)
    num_classes = int(info["num_classes"])
    return Classifier(
        workdir=workdir,
        kind="transfer" if config.model.name == "transfer" else "conv_classifier",
        dataset=config.data.get("test_dataset") or config.data.name,
        image_shape=tuple(int(s) for s in info["image_shape"]),
        num_classes=num_classes,
        class_names=class_names(config.data, num_classes),
        description=f"{desc}; test accuracy {results.get('test_accuracy')}",
        probabilities=fn,
    )


# ---------------------------------------------------------------------------------------------
# Files and preprocessing.


def input_files(path: str | pathlib.Path) -> list[tuple[str, pathlib.Path]]:
    """(name, path) of the images --input names: a file, or a folder walked recursively in
    sorted order, named by their path relative to it (posix). Other files are skipped with a
    logged note.

    Raises:
      FileNotFoundError: `path` does not exist, or the folder holds no image.
    """
    path = pathlib.Path(path).expanduser()
    if path.is_file():
        return [(path.name, path)]
    if not path.is_dir():
        raise MissingFileError(f"--input={path} does not exist; give an image or a folder.")
    files, skipped = [], []
    for p in sorted(path.rglob("*"), key=lambda p: p.relative_to(path).parts):
        if not p.is_file():
            continue
        name = p.relative_to(path).as_posix()
        if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith("."):
            files.append((name, p))
        else:
            skipped.append(name)
    if skipped:
        logging.info(
            "Skipped %d file(s) that are not images (%s): %s",
            len(skipped),
            ", ".join(IMAGE_EXTENSIONS),
            ", ".join(skipped),
        )
    if not files:
        raise MissingFileError(
            f"{path} holds no images ({', '.join(IMAGE_EXTENSIONS)}); point --input at an image "
            "or a folder of images."
        )
    return files


def prepare(image, dataset: str, image_shape: tuple[int, int, int]) -> tuple[np.ndarray, str]:
    """A decoded PIL image -> uint8 [H, W, C] at the run's shape by `dataset`'s rule (see the
    module docstring), and a note saying what was done to it."""
    from PIL import Image, ImageOps

    h, w, c = image_shape
    image = ImageOps.exif_transpose(image).convert("L" if c == 1 else "RGB")
    size = f"{image.width}x{image.height}"
    if dataset == "celeb_a":
        crop = celeba.CELEBA_CROP
        note = f"{size}: center {crop}-pixel crop, resized to {h}"
        if min(image.size) < crop:
            new = tuple(max(crop, math.ceil(s * crop / min(image.size))) for s in image.size)
            image = image.resize(new, Image.Resampling.BICUBIC)
            note = f"{size}: enlarged to {new[0]}x{new[1]} (bicubic), center {crop}-pixel crop"
        elif image.size == CELEBA_NATIVE:
            note = f"{size}: native size, the pipeline's crop and resize"
        elif image.width > CELEBA_NATIVE[0] or image.height > CELEBA_NATIVE[1]:
            note += f" (the crop covers only {crop / image.width:.0%} of the width)"
        array = celeba.preprocess(np.asarray(image), h)
    elif image.size == (w, h):
        array, note = np.asarray(image), f"{size}: native size, unchanged"
    else:
        image = image.resize((w, h), Image.Resampling.BICUBIC)
        array, note = np.asarray(image), f"{size}: resized to {w}x{h} (bicubic)"
    return array.reshape(h, w, c).astype(np.uint8), note


def read_image(path: pathlib.Path, dataset: str, image_shape) -> tuple[np.ndarray, str]:
    """`prepare` of one file; OSError naming the file when it is not a readable image."""
    from PIL import Image

    try:
        image = Image.open(path)
        image.load()  # Decodes now: a truncated or damaged file fails here, not later.
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise UnreadableFileError(
            f"{path} is not a readable image ({type(e).__name__}: {e}); fix or remove it."
        ) from e
    with image:
        return prepare(image, dataset, image_shape)


def read_images(classifier: Classifier, files: list[tuple[str, pathlib.Path]]) -> np.ndarray:
    """uint8 [N, H, W, C] of `files`, each prepared by the run's rule (all decoded first, so an
    unreadable file stops before any prediction)."""
    arrays, changed = [], []
    for name, path in files:
        array, note = read_image(path, classifier.dataset, classifier.image_shape)
        arrays.append(array)
        if "native size" not in note:
            changed.append(f"{name} ({note})")
    if changed:
        logging.info(
            "%d of %d image(s) not at the run's native size: %s%s",
            len(changed),
            len(files),
            "; ".join(changed[:10]),
            " ..." if len(changed) > 10 else "",
        )
    if any("covers only" in n for n in changed):
        logging.warning(
            "CelebA runs crop the center 108 pixels whatever the image size, so in images larger "
            "than the aligned 178x218 faces the classifier sees only their center: scale your "
            "photos so that the face fills them as in CelebA's."
        )
    return np.stack(arrays)


# ---------------------------------------------------------------------------------------------
# Predictions, labels, accuracy.


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
