"""How often a class-conditional generator draws the class it is asked for.

Protocol: for each class k, `per_class` images from latents fold_in(key(seed), k), generated with
label k, rounded to uint8 like sample PNGs, classified by the dataset's domain classifier
(`classifier:<dataset>`, ganjax/evaluators/extractors.py); accuracy = the fraction predicted as
k. The classifier's own test accuracy (in the protocol) bounds what a perfect generator scores.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import jax
import numpy as np

from ganjax import models
from ganjax.errors import ConfigError
from ganjax.evaluators import extractors, fid

_JITTED: dict[int, tuple[extractors.FeatureExtractor, Callable]] = {}


def _classifier(extractor: extractors.FeatureExtractor) -> Callable:
    """The extractor's jitted (variables, images) -> (features, logits), compiled once per
    extractor (evaluation runs every epoch during training)."""
    hit = _JITTED.get(id(extractor))
    if hit is None or hit[0] is not extractor:
        hit = _JITTED[id(extractor)] = (extractor, jax.jit(extractors.features_fn(extractor)))
    return hit[1]


def conditional_accuracy(
    generate_labeled: Callable[[jax.Array, jax.Array], jax.Array],
    extractor: extractors.FeatureExtractor,
    *,
    num_classes: int,
    latent_dim: int,
    latent_dist: str,
    per_class: int,
    seed: int = 0,
    batch_size: int = 500,
) -> dict[str, Any]:
    """Per-class accuracy of the domain classifier on generated images.

    Returns:
      {"class_accuracy": mean over classes, "class_accuracy_per_class": [K floats],
       "class_accuracy_protocol": {...}}.

    Raises:
      ValueError: when the extractor is not a classifier of the generator's K classes.
    """
    if not extractor.name.startswith("classifier:") or extractor.num_classes != num_classes:
        raise ConfigError(
            f"Class accuracy needs a domain classifier of the generator's {num_classes} classes "
            f"(classifier:<dataset>); {extractor.name} has {extractor.num_classes} outputs."
        )
    classify = _classifier(extractor)
    key = jax.random.key(seed)
    per_class_acc = []
    for k in range(num_classes):
        z_all = models.sample_latents(
            jax.random.fold_in(key, k), per_class, latent_dim, latent_dist
        )
        correct = 0
        for i in range(math.ceil(per_class / batch_size)):
            z = z_all[i * batch_size : (i + 1) * batch_size]
            labels = np.full((len(z),), k, np.int32)
            images = fid.quantize(generate_labeled(z, labels))
            _, logits = classify(extractor.variables, images)
            correct += int((np.asarray(logits).argmax(-1) == k).sum())
        per_class_acc.append(correct / per_class)
    return {
        "class_accuracy": float(np.mean(per_class_acc)),
        "class_accuracy_per_class": per_class_acc,
        "class_accuracy_protocol": {
            "per_class": per_class,
            "seed": seed,
            **extractor.protocol(),
        },
    }
