"""Attribute directions in a generative model's code space (Larsen et al. 2016, sec. 5; the
"male/female vector" of Langr's VAE-GAN chapter).

An attribute is two sides of labeled real images: those that have it and those that do not.
Encoding both sides and averaging gives the mean code of each side; their difference is the
attribute's direction. Moving a code along it (z + k * direction) and decoding edits the image.

Attribute specs (`--attribute=`):
  <Name>            a CelebA attribute (list_attr_celeba.txt; e.g. Male, Smiling):
                    images with it vs images without it.
  class=3           class 3 vs every other class (labeled datasets).
  class=5,7,9       a grouping (e.g. Fashion-MNIST's footwear) vs the rest.
  class=6:0         class 6 vs class 0 (a class-to-class direction; e.g. shirt vs T-shirt).
  class=5,7,9:1,3   one grouping vs another.

Everything here is numpy on codes; ganjax/latent/code_space.py supplies encode and decode.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import re

import numpy as np

from ganjax import rng as rng_lib
from ganjax.errors import ConfigError, DataError, MissingFileError

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


@dataclasses.dataclass
class AttributeVector:
    """Mean codes of both sides and their difference (positive minus negative)."""

    name: str
    mean_positive: np.ndarray  # [latent_dim]
    mean_negative: np.ndarray
    num_positive: int
    num_negative: int

    @property
    def direction(self) -> np.ndarray:
        return self.mean_positive - self.mean_negative

    def save(self, path: str | pathlib.Path, **meta) -> pathlib.Path:
        """Writes an .npz (vectors) and its meta beside it as JSON in the same file."""
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            mean_positive=self.mean_positive,
            mean_negative=self.mean_negative,
            direction=self.direction,
            num_positive=self.num_positive,
            num_negative=self.num_negative,
            name=np.asarray(self.name),
            meta=np.asarray(json.dumps(meta, sort_keys=True)),
        )
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | pathlib.Path) -> AttributeVector:
        path = pathlib.Path(path)
        if not path.exists():
            raise MissingFileError(
                f"No attribute vector at {path}; compute it with python -m experiments.attributes"
            )
        with np.load(path) as z:
            return cls(
                str(z["name"]),
                z["mean_positive"],
                z["mean_negative"],
                int(z["num_positive"]),
                int(z["num_negative"]),
            )


def attribute_vector(
    codes: np.ndarray, positive: np.ndarray, negative: np.ndarray, name: str = ""
) -> AttributeVector:
    """The attribute vector of `codes` [N, D] from boolean (or index) selections of both sides."""
    codes = np.asarray(codes, np.float64)
    pos, neg = codes[positive], codes[negative]
    if len(pos) == 0 or len(neg) == 0:
        raise DataError(f"attribute '{name}': both sides need at least one code")
    return AttributeVector(
        name, pos.mean(0).astype(np.float32), neg.mean(0).astype(np.float32), len(pos), len(neg)
    )


def class_means(codes: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """[num_classes, D] mean code of each class (ValueError when a class has no code)."""
    codes, labels = np.asarray(codes, np.float64), np.asarray(labels)
    missing = [c for c in range(num_classes) if not np.any(labels == c)]
    if missing:
        raise DataError(f"classes {missing} have no labeled images")
    return np.stack([codes[labels == c].mean(0) for c in range(num_classes)]).astype(np.float32)


def edit(codes: np.ndarray, direction: np.ndarray, strengths) -> np.ndarray:
    """[N, K, D]: each code moved by k * direction for each k in `strengths`."""
    codes = np.asarray(codes, np.float32)
    ks = np.asarray(strengths, np.float32)
    return codes[:, None, :] + ks[None, :, None] * np.asarray(direction, np.float32)[None, None]


def interpolate(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """[steps, D] codes on the straight line from a to b (both ends included)."""
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return (1 - t) * np.asarray(a, np.float32)[None] + t * np.asarray(b, np.float32)[None]


def arithmetic(codes: np.ndarray, add: np.ndarray | None, remove: np.ndarray | None) -> np.ndarray:
    """Codes with one attribute's direction added and another's subtracted."""
    out = np.asarray(codes, np.float32).copy()
    if add is not None:
        out = out + add
    if remove is not None:
        out = out - remove
    return out
