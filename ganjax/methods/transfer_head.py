"""A transfer classifier as a method of the one loop (`config.task = "classifier"`,
`config.model.name = "transfer"`): a frozen feature network and a small MLP head trained on its
features, the way Langr's chapter put a head on VGG features.

The feature network is frozen, so features are computed once for the train and test splits,
before the loop starts (`load_data`); the head (ganjax/models/classifier.py: MLPHead) is trained
with AdamW on standardized features, and scored on the test split at every evaluation (default:
every epoch). The state is a `TrainState` with the head and the standardization (`extra`:
feature_mean, feature_std), so the loop checkpoints, resumes and restores it like any method.

Feature networks (`config.model.extractor`):
  inception_v3          the FID Inception network's pool3 features (weights file needed);
  classifier:<path>     the penultimate layer of a classifier run (another task or dataset; a
                        classifier of the *same* dataset would leak its labels);
  discriminator:<run>   D's last block of a trained GAN / VAE-GAN run. Restoring a run sits above
                        the methods, so ganjax/classifiers/transfer_classifier.py builds it and
                        hands it in (`featurize=`); runs of this task go through it.

Randomness is the head's own stream, as before it joined the loop: the initialization and each
step's batch and dropout keys come from `jax.random.key(config.seed)` (step i: its fold_in i;
the batch is `choice(..., replace=False)` of the training features), so earlier transfer runs
reproduce.
"""

from __future__ import annotations

from typing import Any, Iterator

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ganjax.errors import ConfigError
from ganjax.evaluators import frozen_features
from ganjax.methods.base import Data, Method
from ganjax.methods.classifier import accuracy_results, load_classifier_data
from ganjax.methods.registry import register
from ganjax.models.classifier import MLPHead
from ganjax.training.train_state import NetState, TrainState


class _HeadBatches:
    """Host batches of the head's stream: step i (from 0) draws `choice(fold_in(key, i)'s first
    split, N, (batch,), replace=False)` rows of the training features."""

    def __init__(self, features, labels, batch_size: int, seed: int, start_step: int):
        self.features, self.labels = features, labels
        self.batch_size, self.key, self.step = batch_size, jax.random.key(seed), start_step
        self.steps_per_epoch = max(len(features) // batch_size, 1)
        n = len(features)
        self._choose = jax.jit(
            lambda k: jax.random.choice(jax.random.split(k)[0], n, (batch_size,), replace=False)
        )

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        idx = np.asarray(self._choose(jax.random.fold_in(self.key, self.step)))
        self.step += 1
        return {"feature": self.features[idx], "label": self.labels[idx]}


@register
class TransferHead(Method):
    """An MLP head on the features of a frozen network."""

    name = "transfer_head"
    example_config = "configs/fashion_mnist_classifier.py:tiny,transfer"
    batch_axis = 0
    progress_keys = (("loss", "c/loss"), ("train acc", "c/accuracy"))
    loss_keys = ("c/loss",)
    eval_curves = ("test_accuracy",)
    eval_curves_label = "accuracy"

    def __init__(self, config, featurize=None, description: str = ""):
        """`featurize` (uint8 images -> features) and its `description` replace the network that
        config.model.extractor names (ganjax/classifiers/transfer_classifier.py passes D's)."""
        super().__init__(config)
        if not config.model.get("extractor"):
            raise ConfigError(
                "config.model.name=transfer needs config.model.extractor (discriminator:<run>, "
                "classifier:<path> or inception_v3)"
            )
        self.featurize, self.description = featurize, description

    def _feature_network(self):
        if self.featurize is not None:
            return self.featurize, self.description
        spec = self.config.model.extractor
        if spec.startswith("discriminator:"):
            raise ConfigError(
                f"config.model.extractor={spec}: D's features come from a trained run, which "
                "ganjax/classifiers/transfer_classifier.py restores; run this config through "
                "python -m experiments.train (or ganjax.tools.tasks.train_and_evaluate)."
            )
        c = self.config
        return frozen_features.extractor_features(
            spec,
            c.data,
            int(c.model.get("feature_batch", 500)),
            cache_dir=c.data.get("cache_dir") or None,
            classifier_arg=c.eval.get("classifier_arg", ""),
        )

    # -- data -------------------------------------------------------------------------------
    def load_data(self) -> Data:
        train, test = load_classifier_data(self.config)
        featurize, description = self._feature_network()
        f_train, f_test = featurize(train["image"]), featurize(test["image"])
        mean, std = f_train.mean(0), f_train.std(0) + 1e-6
        num_classes = int(max(train["label"].max(), test["label"].max())) + 1
        info = {
            "image_shape": list(train["image"].shape[1:]),
            "num_classes": num_classes,
            "feature_dim": int(f_train.shape[1]),
            "num_train_examples": len(f_train),
            "num_test_examples": len(f_test),
            "task": "classifier",
        }
        splits = {
            "train": {"feature": (f_train - mean) / std, "label": train["label"]},
            "test": {"feature": (f_test - mean) / std, "label": test["label"]},
            "standardization": {"feature_mean": mean, "feature_std": std},
        }
        data = Data(tuple(train["image"].shape[1:]), info, splits)
        self.description = description
        return data

    def _batch_size(self, data: Data) -> int:
        return min(int(self.config.train.batch_size), int(data.info["num_train_examples"]))

    def steps_per_epoch(self, data: Data) -> int:
        return max(int(data.info["num_train_examples"]) // self._batch_size(data), 1)

    def batches(self, data: Data, start_step: int) -> Iterator[dict[str, np.ndarray]]:
        train = data.train
        return _HeadBatches(
            train["feature"], train["label"], self._batch_size(data), self.config.seed, start_step
        )

    # -- state and step ---------------------------------------------------------------------
    def _head(self, data: Data) -> MLPHead:
        m = self.config.model
        return MLPHead(int(data.info["num_classes"]), int(m.head_hidden), float(m.dropout))

    def create_state(self, data: Data, key, steps_per_epoch: int, num_steps: int) -> TrainState:
        del key, steps_per_epoch, num_steps  # The head's own stream; a constant rate.
        head, dim = self._head(data), int(data.info["feature_dim"])
        variables = head.init(jax.random.key(self.config.seed), jnp.zeros((1, dim)))
        tx = optax.adamw(float(self.config.optim.d.learning_rate), weight_decay=1e-4)
        std = data.splits.get("standardization")
        extra = {
            "feature_mean": jnp.asarray(std["feature_mean"] if std else np.zeros(dim, np.float32)),
            "feature_std": jnp.asarray(std["feature_std"] if std else np.ones(dim, np.float32)),
        }
        net = NetState.create(apply_fn=head.apply, variables=variables, tx=tx)
        return TrainState.create({"head": net}, extra=extra)

    def train_step(self, state: TrainState, batch, key):
        del key  # The head's own stream (see the module docstring).
        k_drop = jax.random.split(jax.random.fold_in(jax.random.key(self.config.seed), state.step))
        head = state["head"]

        def loss_fn(params):
            logits = head.apply_fn(
                {"params": params}, batch["feature"], train=True, rngs={"dropout": k_drop[1]}
            )
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]).mean()
            return loss, logits

        (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(head.params)
        new = state.with_nets(head=head.apply_gradients(grads)).replace(step=state.step + 1)
        accuracy = jnp.mean(jnp.argmax(logits, -1) == batch["label"])
        return new, {"c/loss": loss, "c/accuracy": accuracy}

    # -- outputs ----------------------------------------------------------------------------
    def evaluate(self, state: TrainState, data: Data, step: int) -> dict[str, float]:
        test = data.splits["test"]
        logits = state["head"].apply_fn(
            {"params": state["head"].params}, jnp.asarray(test["feature"])
        )
        acc = jnp.mean(jnp.argmax(logits, -1) == jnp.asarray(test["label"]))
        return {"test_accuracy": float(acc)}

    def results(self, state: TrainState, data: Data, last_eval: dict[str, Any]) -> dict[str, Any]:
        return {
            **accuracy_results(self, state, data, last_eval),
            "num_train": int(data.info["num_train_examples"]),
            "extractor": self.config.model.extractor,
            "extractor_description": self.description,
        }
