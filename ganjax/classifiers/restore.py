"""Restoring a trained classifier run as one function from images to class probabilities.

A classifier run is a folder `experiments.train` wrote with `config.task = "classifier"`: the
from-scratch ConvClassifier (ganjax/methods/classifier.py, restored through the
evaluation extractor's loader) or a transfer classifier (ganjax/classifiers/transfer_classifier.py:
its frozen feature network rebuilt from `config.model.extractor`, the standardization and MLP
head from its checkpoint). Either becomes one function from uint8 images [N, H, W, C] at the
run's own `data_info.json` image shape to class probabilities [N, K] (softmax of the logits);
the run's normalization (uint8 -> [-1, 1]) happens inside it.

Class names: Fashion-MNIST's and CIFAR-10's ten classes; CelebA runs predict the Male attribute
("female" 0 / "male" 1); a classifier trained on a synthetic set of an attribute
(`config.data.test_attribute`) predicts its sides (0 negative, 1 positive, named after the spec);
MNIST and SVHN digits are their integers.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from ganjax.errors import IncompatibleRunError, MissingFileError, UserError
from ganjax.training import checkpointing, sampling

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


def _transfer_head(workdir: pathlib.Path, config, info: dict):
    """(head parameters, feature mean, feature std) of a transfer run: the loop's TrainState,
    or the {params, feature_mean, feature_std} layout of runs from before the head was a method
    of the loop (2026-12-07)."""
    try:
        state = sampling.restore_run(workdir)[0]
        return state["head"].params, state.extra["feature_mean"], state.extra["feature_std"]
    except checkpointing.CheckpointError:
        pass
    from ganjax.models.classifier import MLPHead

    dim = int(info["feature_dim"])
    head = MLPHead(
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
    return saved["params"], saved["feature_mean"], saved["feature_std"]


def _transfer_probabilities(
    workdir: pathlib.Path, config, info: dict, results: dict
) -> tuple[Callable, str]:
    from ganjax.classifiers import transfer_classifier
    from ganjax.models.classifier import MLPHead

    spec = config.model.extractor
    head = MLPHead(
        int(info["num_classes"]), int(config.model.head_hidden), float(config.model.dropout)
    )
    params, mean, std = _transfer_head(workdir, config, info)
    try:
        # Classifier.predict calls with 64 images at a time.
        featurize, desc = transfer_classifier.feature_network(
            spec, config.data, batch=64, classifier_arg=config.eval.get("classifier_arg", "")
        )
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
    mean, std = np.asarray(mean), np.asarray(std)

    @jax.jit
    def head_probabilities(params, features):
        return jax.nn.softmax(head.apply({"params": params}, features), axis=-1)

    def probabilities(images):
        features = (featurize(images) - mean) / std  # As the head was trained (numpy, float32).
        return head_probabilities(params, jnp.asarray(features))

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
