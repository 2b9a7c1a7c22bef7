"""Transfer classifiers (`config.task = "classifier"`, `config.model.name = "transfer"`): a frozen
feature network and a small MLP head trained on its features, the way Langr's chapter put a
head on VGG features.

Feature networks (`config.model.extractor`):
  discriminator:<run>   D's last convolution block (flattened) of a trained GAN / VAE-GAN run.
                        Trained without labels on the same images: the natural choice here, as
                        the label budget then covers only the head.
  classifier:<path>     the penultimate layer of a classifier run (another task or dataset; a
                        classifier of the *same* dataset would leak its labels).
  inception_v3          the FID Inception network's pool3 features (weights file needed).

The network is frozen, so features are computed once for the train and test splits; the head
(Dense(hidden) -> ReLU -> dropout -> Dense(classes)) is trained with Adam on standardized
features. Writes results.json (test_accuracy, the extractor) and the head's checkpoint.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pathlib
import time
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from ganjax.data import to_float_images
from ganjax.errors import ConfigError, IncompatibleRunError
from ganjax.evaluators import inception_weights
from ganjax.methods.classifier import load_classifier_data
from ganjax.training import checkpointing, sampling
from ganjax.training.loop_utils import check_finite, derive_num_steps, save_checkpoint


class MLPHead(nn.Module):
    num_classes: int
    hidden: int = 256
    dropout: float = 0.3

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.relu(nn.Dense(self.hidden)(x))
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return nn.Dense(self.num_classes)(x)


def _digest(images: np.ndarray) -> str:
    a = np.ascontiguousarray(images)
    h = hashlib.sha256(f"{a.dtype}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()[:20]


def feature_network(
    spec: str, data_cfg, batch: int = 500, cache_dir: str | pathlib.Path | None = None
) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """(uint8 images -> float32 features [N, F], a description for results.json); the network
    sees `batch` images per call.

    With `cache_dir`, features are kept in <cache_dir>/transfer_features/, keyed by a sha256 of
    the network's weights and of the images themselves: the real test split, featurized once,
    serves every stage and run that scores on it (the Inception network takes minutes on a
    CPU for a few thousand images)."""
    kind, _, arg = spec.partition(":")
    if kind == "discriminator" and arg:
        state, config, _, _ = sampling.restore_run(arg)
        if "discriminator" not in state.nets:
            raise IncompatibleRunError(f"extractor {spec}: the run in {arg} has no discriminator")
        d = state["discriminator"]

        @jax.jit
        def fn(images):
            x = to_float_images(images)
            return d.apply(x, train=False, return_features=True)[0][1].astype(jnp.float32)

        desc = f"D's last-block features of {arg} ({config.method}, step {int(state.step)})"
        net_hash = inception_weights.weights_hash(d.variables()) if cache_dir else ""
    else:
        from ganjax.evaluators import extractors

        ext = extractors.create_extractor(spec, data_cfg)
        # The network's own bound (Inception at 299 px: ~33 MB of activations per image; 500 per
        # call took 15 GB and was OOM-killed on a 24 GB machine beside other runs).
        batch = min(batch, ext.max_batch_per_device or batch)
        apply = extractors.features_fn(ext)
        fn = jax.jit(
            lambda images: apply(ext.variables, images)[0], compiler_options=ext.compiler_options
        )
        desc = f"{ext.name} features ({ext.weights})"
        net_hash = ext.weights_hash  # The extractor's own sha256 of its variables.

    def compute(images: np.ndarray) -> np.ndarray:
        # Every call gets exactly `batch` rows (the last chunk padded with its own first image),
        # so a feature network compiles once for all splits and sizes.
        out = []
        for i in range(0, len(images), batch):
            chunk = images[i : i + batch]
            pad = np.concatenate([chunk, np.repeat(chunk[:1], batch - len(chunk), 0)])
            out.append(np.asarray(fn(jnp.asarray(pad)))[: len(chunk)])
        return np.concatenate(out)

    def featurize(images: np.ndarray) -> np.ndarray:
        if not cache_dir:
            return compute(images)
        path = pathlib.Path(cache_dir).expanduser() / "transfer_features"
        path = path / f"{kind}_{net_hash}_{_digest(images)}.npy"
        if path.exists():
            return np.load(path)
        features = compute(images)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, features)
        os.replace(tmp, path)  # Whole or absent, even with runs side by side.
        return features

    return featurize, desc


def train_and_evaluate(config, workdir, *, num_devices: int | None = None) -> dict[str, Any]:
    """Features once, then the head; writes results.json. `num_devices` is unused (one device:
    the head is tiny)."""
    del num_devices
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.json").write_text(config.to_json_best_effort(indent=2, sort_keys=True))
    if not config.model.get("extractor"):
        raise ConfigError(
            "config.model.name=transfer needs config.model.extractor (discriminator:<run>, "
            "classifier:<path> or inception_v3)"
        )
    train, test = load_classifier_data(config)
    t0 = time.perf_counter()
    featurize, desc = feature_network(
        config.model.extractor,
        config.data,
        int(config.model.get("feature_batch", 500)),
        cache_dir=config.data.get("cache_dir") or None,
    )
    f_train, f_test = featurize(train["image"]), featurize(test["image"])
    mean, std = f_train.mean(0), f_train.std(0) + 1e-6
    f_train, f_test = (f_train - mean) / std, (f_test - mean) / std
    num_classes = int(max(train["label"].max(), test["label"].max())) + 1
    (workdir / "data_info.json").write_text(
        json.dumps(
            {
                "image_shape": list(train["image"].shape[1:]),
                "num_classes": num_classes,
                "feature_dim": int(f_train.shape[1]),
                "num_train_examples": len(f_train),
                "num_test_examples": len(f_test),
                "task": "classifier",
            }
        )
    )
    head = MLPHead(num_classes, int(config.model.head_hidden), float(config.model.dropout))
    bs = min(int(config.train.batch_size), len(f_train))
    steps_per_epoch = max(len(f_train) // bs, 1)
    num_steps = derive_num_steps(config.train, steps_per_epoch)
    key = jax.random.key(config.seed)
    params = head.init(key, jnp.zeros((1, f_train.shape[1])))["params"]
    tx = optax.adamw(float(config.optim.d.learning_rate), weight_decay=1e-4)
    opt_state = tx.init(params)
    y_train = jnp.asarray(train["label"])
    x_train = jnp.asarray(f_train)

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(params, opt_state, i):
        k_batch, k_drop = jax.random.split(jax.random.fold_in(key, i))
        idx = jax.random.choice(k_batch, len(f_train), (bs,), replace=False)

        def loss_fn(p):
            logits = head.apply({"params": p}, x_train[idx], train=True, rngs={"dropout": k_drop})
            return optax.softmax_cross_entropy_with_integer_labels(logits, y_train[idx]).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    loss = jnp.zeros(())
    for i in range(num_steps):
        params, opt_state, loss = step(params, opt_state, i)
    logits = head.apply({"params": params}, jnp.asarray(f_test))
    test_acc = float(jnp.mean(jnp.argmax(logits, -1) == jnp.asarray(test["label"])))
    checkpointer = checkpointing.Checkpointer(workdir, max_to_keep=1, async_save=False)
    try:  # NaN/inf in the last loss or in the head: NonFiniteError, nothing saved.
        check_finite({"train_loss": float(loss)}, num_steps, checkpointer)
        save_checkpoint(
            checkpointer, num_steps, {"params": params, "feature_mean": mean, "feature_std": std}
        )
    finally:
        checkpointer.close()
    logging.info("transfer head: test accuracy %.4f (%s)", test_acc, desc)
    results = {
        "step": num_steps,
        "test_accuracy": test_acc,
        "num_classes": num_classes,
        "num_train": len(f_train),
        "num_test": len(f_test),
        "train_loss": float(loss),
        "extractor": config.model.extractor,
        "extractor_description": desc,
        "wall_seconds": time.perf_counter() - t0,
        "checkpoints": str(checkpointer.directory),
    }
    (workdir / "results.json").write_text(json.dumps(results, indent=2))
    return results
