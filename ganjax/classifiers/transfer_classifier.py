"""Transfer classifiers (`config.task = "classifier"`, `config.model.name = "transfer"`): the
entry that hands the transfer head (ganjax/methods/transfer_head.py, a method of the one loop)
its frozen feature network.

Feature networks (`config.model.extractor`):
  discriminator:<run>   D's last convolution block (flattened) of a trained GAN / VAE-GAN run.
                        Trained without labels on the same images: the natural choice here, as
                        the label budget then covers only the head. Restoring a run sits above
                        the methods, which is why this module builds it.
  classifier:<path>     the penultimate layer of a classifier run (another task or dataset; a
                        classifier of the *same* dataset would leak its labels).
  inception_v3          the FID Inception network's pool3 features (weights file needed).
"""

from __future__ import annotations

import pathlib
from typing import Any

import jax
import jax.numpy as jnp

from ganjax.data import to_float_images
from ganjax.errors import IncompatibleRunError
from ganjax.evaluators import frozen_features, inception_weights
from ganjax.methods.transfer_head import TransferHead
from ganjax.training import sampling, train


def feature_network(
    spec: str,
    data_cfg,
    batch: int = 500,
    cache_dir: str | pathlib.Path | None = None,
    classifier_arg: str = "",
) -> tuple[frozen_features.Featurize, str]:
    """(uint8 images -> float32 features [N, F], a description for results.json); the network
    sees `batch` images per call (ganjax/evaluators/frozen_features.py: fixed padded batches,
    and with `cache_dir` features kept by a sha256 of the network's weights and of the
    images)."""
    kind, _, arg = spec.partition(":")
    if not (kind == "discriminator" and arg):
        return frozen_features.extractor_features(spec, data_cfg, batch, cache_dir, classifier_arg)
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
    compute = frozen_features.batched(fn, batch)
    return frozen_features.cached(compute, cache_dir, kind, net_hash), desc


def train_and_evaluate(config, workdir, *, num_devices: int | None = None) -> dict[str, Any]:
    """Builds the feature network, then trains the head in the one loop (results.json: the test
    accuracy and the feature network)."""
    method = TransferHead(config)  # Refuses a config without a feature network first.
    featurize, desc = feature_network(
        config.model.extractor,
        config.data,
        int(config.model.get("feature_batch", 500)),
        cache_dir=config.data.get("cache_dir") or None,
        classifier_arg=config.eval.get("classifier_arg", ""),
    )
    method.featurize, method.description = featurize, desc
    return train.train_and_evaluate(config, workdir, num_devices=num_devices, method=method)
