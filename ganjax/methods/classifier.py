"""The domain classifier as a method of the one loop (`config.task = "classifier"`): the networks
that evaluation uses as feature extractors ('FID with a classifier'; ganjax/evaluators/
extractors.py), and the from-scratch route of the synthetic-data pipeline.

Plain supervised training on a dataset's train split: cross-entropy, Adam, a small conv net
(ganjax/models/classifier.py). The loop gives it what every method gets: data-parallel steps,
exact resume, the NaN/Inf stop, progress, metric writers and results.json. Test accuracy is
measured on the whole test split at every evaluation (default: every epoch) and is
results.json's `test_accuracy`. The state is `ClassifierTrainState`, the layout that classifier
checkpoints have always had, and the streams are the ones its own loop drew (the init key and the
loop key are the first two of the seed's split), so earlier classifier runs restore and
reproduce.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ganjax.data import load_split, to_float_images
from ganjax.data.attribute_specs import select_sides
from ganjax.errors import ConfigError
from ganjax.methods.base import Data, Method
from ganjax.methods.registry import register
from ganjax.training.train_state import ClassifierTrainState, create_classifier_state


def load_classifier_data(config) -> tuple[dict, dict]:
    """(train split, test split) of a classifier config: the test split may be another
    dataset's (`data.test_dataset`) and may score a binary attribute (`data.test_attribute`)."""
    d = config.data
    kw = dict(
        manual_dir=d.manual_dir or None,
        tfds_data_dir=d.tfds_data_dir or None,
        cache_dir=d.cache_dir,
        image_size=d.get("image_size") or None,
    )
    train = load_split(d.name, d.train_split, max_examples=d.max_examples or None, **kw)
    test_name = d.get("test_dataset") or d.name
    if test_name == "synthetic":
        raise ConfigError(
            "config.data.name=synthetic has no test split: set config.data.test_dataset to the "
            "real dataset to score on (e.g. fashion_mnist), and config.data.test_manual_dir to "
            "its folder if it is not in a standard place"
        )
    if test_name != d.name:  # E.g. trained on a synthetic set, scored on the real test split.
        kw["manual_dir"] = d.get("test_manual_dir") or None
    test = load_split(test_name, "test", max_examples=d.get("max_test_examples") or None, **kw)
    if d.get("test_attribute"):  # A binary attribute: label 1 on its positive side, 0 else.
        sides = select_sides(test, d.test_attribute)
        keep = sides.positive | sides.negative
        test = {"image": test["image"][keep], "label": sides.positive[keep].astype(np.int32)}
    if tuple(test["image"].shape[1:]) != tuple(train["image"].shape[1:]):
        raise ConfigError(
            f"Train images are {tuple(train['image'].shape[1:])} but {test_name}'s test images "
            f"are {tuple(test['image'].shape[1:])}; they must match"
        )
    return train, test


def classifier_train_step(state: ClassifierTrainState, batch, key):
    """One cross-entropy step on {"image": uint8 [1, B, ...], "label": int32 [1, B]}."""
    x, y = to_float_images(batch["image"][0]), batch["label"][0]
    rngs = {"dropout": jax.random.fold_in(key, state.step)}

    def loss_fn(params):
        (logits, _), upd = state.apply_fn(
            {"params": params, "batch_stats": state.batch_stats},
            x,
            train=True,
            rngs=rngs,
            mutable=["batch_stats"],
        )
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return loss, (logits, upd["batch_stats"])

    (loss, (logits, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
    new = state.replace(
        step=state.step + 1,
        params=optax.apply_updates(state.params, updates),
        batch_stats=batch_stats,
        opt_state=opt_state,
    )
    metrics = {
        "c/loss": loss,
        "c/accuracy": jnp.mean(jnp.argmax(logits, -1) == y),
        "c/grad_norm": optax.global_norm(grads),
    }
    return new, metrics


@jax.jit
def _predict(state: ClassifierTrainState, images: jax.Array) -> jax.Array:
    logits, _ = state.apply_fn(state.variables(), to_float_images(images), train=False)
    return jnp.argmax(logits, -1)


def accuracy(
    state: ClassifierTrainState, images: np.ndarray, labels: np.ndarray, chunk: int = 1000
) -> float:
    """Top-1 accuracy on all of `images` (fixed chunks, the last one padded: one compile)."""
    correct = 0
    for i in range(0, len(images), chunk):
        x = images[i : i + chunk]
        pad = chunk - len(x)
        pred = np.asarray(
            _predict(
                state, np.concatenate([x, np.zeros((pad, *x.shape[1:]), x.dtype)]) if pad else x
            )
        )
        correct += int((pred[: len(x)] == labels[i : i + len(x)]).sum())
    return correct / len(images)


@register
class Classifier(Method):
    """A conv classifier trained from scratch with cross-entropy."""

    name = "classifier"
    example_config = "configs/fashion_mnist_classifier.py:tiny"
    batch_axis = 1  # Batches are [1, B, ...] (one batch per step).
    batch_keys = ("image", "label")
    progress_keys = (("loss", "c/loss"), ("train acc", "c/accuracy"))
    loss_keys = ("c/loss",)
    eval_curves = ("test_accuracy",)
    eval_curves_label = "accuracy"

    def load_data(self) -> Data:
        train, test = load_classifier_data(self.config)
        num_classes = int(max(train["label"].max(), test["label"].max())) + 1
        image_shape = tuple(int(s) for s in train["image"].shape[1:])
        info = {
            "image_shape": list(image_shape),
            "num_classes": num_classes,
            "num_train_examples": len(train["image"]),
            "num_test_examples": len(test["image"]),
            "task": "classifier",
        }
        return Data(image_shape, info, {"train": train, "test": test})

    def create_state(self, data: Data, key, steps_per_epoch: int, num_steps: int):
        num_classes = int(data.info["num_classes"])
        return create_classifier_state(
            self.config, data.image_shape, num_classes, key, steps_per_epoch, num_steps
        )

    def train_step(self, state, batch, key):
        return classifier_train_step(state, batch, key)

    def evaluate(self, state, data: Data, step: int) -> dict[str, float]:
        test = data.splits["test"]
        return {"test_accuracy": accuracy(state, test["image"], test["label"])}

    def results(self, state, data: Data, last_eval: dict[str, Any]) -> dict[str, Any]:
        return accuracy_results(self, state, data, last_eval)


def accuracy_results(method: Method, state, data: Data, last_eval: dict[str, Any]) -> dict:
    """results.json's entries of a classifier method: the last evaluation's test accuracy (or,
    resumed at the end with none on record, a new one), the class and test counts."""
    test_acc = last_eval.get("test_accuracy")
    if test_acc is None:
        test_acc = method.evaluate(state, data, int(state.step))["test_accuracy"]
    return {
        "test_accuracy": test_acc,
        "num_classes": int(data.info["num_classes"]),
        "num_test": int(data.info["num_test_examples"]),
    }
