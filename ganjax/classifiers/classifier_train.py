"""Training the domain classifiers (`config.task = "classifier"`) that evaluation uses as
feature extractors ('FID with a classifier'; ganjax/evaluators/extractors.py).

Plain supervised training on a dataset's train split: cross-entropy, Adam, data-parallel steps
on the same mesh / checkpoint / resume plumbing as the GAN trainer. Test accuracy is measured on
the whole test split after every epoch; results.json holds the final `test_accuracy`.
"""

from __future__ import annotations

import functools
import json
import pathlib
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging

from ganjax.data import BatchIterator, load_split, prefetch, to_float_images
from ganjax.data.attribute_specs import select_sides
from ganjax.errors import ConfigError
from ganjax.training import metric_writers, parallel
from ganjax.training.loop_utils import (
    derive_num_steps,
    jit_step,
    pull_metrics,
    replicate_and_resume,
    save_checkpoint,
)
from ganjax.training.train_state import ClassifierTrainState, create_classifier_state


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
        "loss": loss,
        "accuracy": jnp.mean(jnp.argmax(logits, -1) == y),
        "grad_norm": optax.global_norm(grads),
    }
    return new, metrics


@jax.jit
def _predict(state: ClassifierTrainState, images: jax.Array) -> jax.Array:
    logits, _ = state.apply_fn(state.variables(), to_float_images(images), train=False)
    return jnp.argmax(logits, -1)


def accuracy(
    state: ClassifierTrainState, images: np.ndarray, labels: np.ndarray, chunk: int = 1000
) -> float:
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


def load_classifier_data(config) -> tuple[dict, dict]:
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


def train_and_evaluate(
    config: ml_collections.ConfigDict, workdir, *, num_devices: int | None = None
) -> dict[str, Any]:
    """Trains the classifier; writes checkpoints, metrics, eval.jsonl and results.json."""
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.json").write_text(config.to_json_best_effort(indent=2, sort_keys=True))
    train, test = load_classifier_data(config)
    num_classes = int(max(train["label"].max(), test["label"].max())) + 1
    image_shape = tuple(train["image"].shape[1:])
    (workdir / "data_info.json").write_text(
        json.dumps(
            {
                "image_shape": list(image_shape),
                "num_classes": num_classes,
                "num_train_examples": len(train["image"]),
                "num_test_examples": len(test["image"]),
                "task": "classifier",
            }
        )
    )
    mesh = parallel.create_mesh(num_devices)
    bs = config.train.batch_size
    parallel.check_batch_size(bs, mesh)
    steps_per_epoch = max(len(train["image"]) // bs, 1)  # BatchIterator below rejects too few.
    num_steps = derive_num_steps(config.train, steps_per_epoch)
    init_key, loop_key = jax.random.split(jax.random.key(config.seed))
    state = create_classifier_state(
        config, image_shape, num_classes, init_key, steps_per_epoch, num_steps
    )
    state, state_sharding, checkpointer = replicate_and_resume(
        state, mesh, workdir, config.ckpt.max_to_keep
    )
    start_step = int(state.step)
    iterator = BatchIterator(
        train, batch_size=bs, seed=config.seed, start_step=start_step, keys=("image", "label")
    )
    batches = prefetch(
        iterator, functools.partial(parallel.put_batch, sharding=parallel.batch_sharding(mesh, 1))
    )
    step_fn = jit_step(classifier_train_step, mesh, state_sharding, batch_axis=1)
    writer = metric_writers.create_default_writer(workdir)
    eval_every = config.eval.every_steps or steps_per_epoch
    logging.info(
        "Classifier on %s %s, %d classes: %d steps (%d per epoch), workdir %s",
        config.data.name,
        image_shape,
        num_classes,
        num_steps,
        steps_per_epoch,
        workdir,
    )
    pending, last, test_acc = [], {}, None
    t0, step = time.perf_counter(), start_step
    try:
        for step in range(start_step + 1, num_steps + 1):
            state, metrics = step_fn(state, next(batches), loop_key)
            pending.append(metrics)
            is_ckpt = step % (config.ckpt.every_steps or num_steps) == 0 or step == num_steps
            if step % config.train.log_every_steps == 0 or is_ckpt:
                last = pull_metrics(pending, step, checkpointer)
                pending = []
                writer.write_scalars(step, {f"train/{k}": v for k, v in last.items()})
                rate = (step - start_step) / (time.perf_counter() - t0)
                eta = (num_steps - step) / rate
                logging.info(
                    "classifier step %d/%d  loss %.4f  train acc %.4f  %.1f steps/s  ETA %dm%02ds",
                    step,
                    num_steps,
                    last["loss"],
                    last["accuracy"],
                    rate,
                    eta // 60,
                    eta % 60,
                )
            if step % eval_every == 0 or step == num_steps:
                test_acc = accuracy(state, test["image"], test["label"])
                writer.write_scalars(step, {"eval/test_accuracy": test_acc})
                with open(workdir / "eval.jsonl", "a") as f:
                    f.write(json.dumps({"step": step, "test_accuracy": test_acc}) + "\n")
                logging.info("classifier step %d: test accuracy %.4f", step, test_acc)
            if is_ckpt:
                save_checkpoint(checkpointer, step, state)
    finally:
        checkpointer.close()
        writer.close()
    if test_acc is None:  # Resumed at the end: measure the restored classifier.
        test_acc = accuracy(state, test["image"], test["label"])
    results = {
        "step": int(state.step),
        "test_accuracy": test_acc,
        "num_classes": num_classes,
        "num_test": len(test["image"]),
        "train_loss": last.get("loss"),
        "wall_seconds": time.perf_counter() - t0,
        "checkpoints": str(checkpointer.directory),
    }
    (workdir / "results.json").write_text(json.dumps(results, indent=2))
    return results
