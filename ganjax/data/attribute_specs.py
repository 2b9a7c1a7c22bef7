"""Attribute specs: the two sides of a labeled set that an attribute names.

An attribute is two sides of labeled real images: those that have it and those that do not.
Attribute specs (`--attribute=`):
  <Name>            a CelebA attribute (list_attr_celeba.txt; e.g. Male, Smiling):
                    images with it vs images without it.
  class=3           class 3 vs every other class (labeled datasets).
  class=5,7,9       a grouping (e.g. Fashion-MNIST's footwear) vs the rest.
  class=6:0         class 6 vs class 0 (a class-to-class direction; e.g. shirt vs T-shirt).
  class=5,7,9:1,3   one grouping vs another.

Used by attribute vectors (ganjax/latent/attributes.py), synthetic data (ganjax/latent/synthesis.py)
and classifiers scored on an attribute (config.data.test_attribute).
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from ganjax import rng as rng_lib
from ganjax.errors import ConfigError, DataError

_CLASS_SPEC = re.compile(r"^class=([0-9]+(?:,[0-9]+)*)(?::([0-9]+(?:,[0-9]+)*))?$")


@dataclasses.dataclass(frozen=True)
class Sides:
    """Which images are on the positive (has it) and negative side of an attribute."""

    name: str  # The spec, e.g. "Male" or "class=6:0".
    positive: np.ndarray  # bool [N]
    negative: np.ndarray  # bool [N]
    description: str  # Human-readable, e.g. "classes [6] vs [0]".


def _classes(text: str) -> list[int]:
    return sorted({int(t) for t in text.split(",")})


def select_sides(data: dict[str, np.ndarray], spec: str) -> Sides:
    """The two sides of attribute `spec` among a split's examples (see the module docstring).

    Raises:
      ValueError: an unknown CelebA attribute, a class spec on data without labels, classes out
        of range or on both sides, or a side with no images.
    """
    spec = spec.strip()
    m = _CLASS_SPEC.match(spec)
    if m:
        if "label" not in data:
            raise ConfigError(f"--attribute={spec} needs class labels; this split has none")
        labels = np.asarray(data["label"])
        num_classes = int(labels.max()) + 1
        pos = _classes(m.group(1))
        neg = (
            _classes(m.group(2)) if m.group(2) else [c for c in range(num_classes) if c not in pos]
        )
        bad = [c for c in pos + neg if c >= num_classes]
        if bad:
            raise ConfigError(
                f"--attribute={spec}: class(es) {bad} out of range (the labels are 0.."
                f"{num_classes - 1})"
            )
        if set(pos) & set(neg):
            raise ConfigError(
                f"--attribute={spec}: classes {sorted(set(pos) & set(neg))} on both sides"
            )
        sides = Sides(spec, np.isin(labels, pos), np.isin(labels, neg), f"classes {pos} vs {neg}")
    elif spec.startswith("class"):
        raise ConfigError(
            f"--attribute={spec!r} is not a class spec: use class=3 (one class vs the rest), "
            "class=5,7,9 (a grouping vs the rest) or class=6:0 (class vs class)"
        )
    else:
        if "attributes" not in data:
            raise ConfigError(
                f"--attribute={spec}: this dataset has no named attributes (only CelebA does); for "
                "labeled datasets use class=<c> (class vs rest) or class=<a>:<b>"
            )
        names = [str(n) for n in np.asarray(data["attribute_names"])]
        if spec not in names:
            raise ConfigError(f"Unknown attribute '{spec}'; CelebA's are: {', '.join(names)}")
        has = np.asarray(data["attributes"])[:, names.index(spec)] > 0
        sides = Sides(spec, has, ~has, f"{spec} vs not {spec}")
    for side, mask in (("positive", sides.positive), ("negative", sides.negative)):
        if not mask.any():
            raise DataError(f"--attribute={spec}: no images on the {side} side in this split")
    return sides


def labeled_subset(sides: Sides, num_labeled: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of `num_labeled` random images per side (all of a side when it has fewer).

    Only these images' labels are used: this is the label budget of the experiment.
    """
    rng = rng_lib.stream(seed, "attribute_labeled")
    out = []
    for mask in (sides.positive, sides.negative):
        idx = np.flatnonzero(mask)
        n = len(idx) if num_labeled <= 0 else min(num_labeled, len(idx))
        out.append(np.sort(rng.choice(idx, n, replace=False)))
    return out[0], out[1]
