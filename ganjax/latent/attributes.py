"""Attribute directions in a generative model's code space (Larsen et al. 2016, sec. 5; the
"male/female vector" of Langr's VAE-GAN chapter).

An attribute is two sides of labeled real images: those that have it and those that do not.
Encoding both sides and averaging gives the mean code of each side; their difference is the
attribute's direction. Moving a code along it (z + k * direction) and decoding edits the image.

Attribute specs (`--attribute=`, e.g. Male or class=6:0): ganjax/data/attribute_specs.py.

Everything here is numpy on codes; ganjax/latent/code_space.py supplies encode and decode.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import numpy as np

from ganjax.errors import DataError, MissingFileError


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
