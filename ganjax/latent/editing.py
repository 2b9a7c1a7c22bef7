"""Attribute vectors of a trained run and the editing figures drawn with them.

`compute_vector` encodes N labeled real images per side of an attribute
(ganjax/latent/attributes.py)
through the run's code space (ganjax/latent/code_space.py) and writes
<workdir>/attributes/<attribute>.npz; the `*_grid` functions draw
  edit grid:          per row a real image, its reconstruction, then decode(z + k * v) per k;
  interpolation grid: decode of codes on the line between two real images (rows: pairs);
  arithmetic grid:    image, reconstruction, + attribute A, - attribute B, + A - B.
"""

from __future__ import annotations

import pathlib
import re

import numpy as np

from ganjax.data import attribute_specs
from ganjax.evaluators import samples
from ganjax.latent import attributes
from ganjax.latent.code_space import CodeSpace


def attributes_dir(workdir: str | pathlib.Path) -> pathlib.Path:
    return pathlib.Path(workdir) / "attributes"


def file_stem(spec: str) -> str:
    """A file name for an attribute spec: class=6:0 -> class_6_vs_0, Male -> Male."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", spec.replace(":", "_vs_")).strip("_")


def compute_vector(
    space: CodeSpace,
    train: dict[str, np.ndarray],
    spec: str,
    num_labeled: int,
    seed: int,
    out_dir: str | pathlib.Path | None = None,
) -> tuple[attributes.AttributeVector, attribute_specs.Sides]:
    """The attribute vector from `num_labeled` random labeled images per side of `train`."""
    sides = attribute_specs.select_sides(train, spec)
    pos, neg = attribute_specs.labeled_subset(sides, num_labeled, seed)
    codes = space.encode(train["image"][np.concatenate([pos, neg])])
    n = len(pos)
    vec = attributes.attribute_vector(codes, slice(0, n), slice(n, None), name=spec)
    if out_dir is not None:
        vec.save(
            pathlib.Path(out_dir) / f"{file_stem(spec)}.npz",
            description=sides.description,
            num_labeled_per_side=num_labeled,
            seed=seed,
            positive_indices=pos.tolist(),
            negative_indices=neg.tolist(),
            code_space=space.source,
        )
    return vec, sides


def _real(images_u8: np.ndarray) -> np.ndarray:
    """uint8 images -> [-1, 1], the range decoded images and make_grid use."""
    return np.asarray(images_u8, np.float32) / 127.5 - 1.0


def edit_grid(
    space: CodeSpace, images_u8: np.ndarray, direction: np.ndarray, strengths
) -> np.ndarray:
    """uint8 grid: rows of [image, reconstruction, decode(z + k v) for k in strengths]."""
    z = space.encode(images_u8)
    rec = space.decode(z)
    edits = attributes.edit(z, direction, strengths)  # [N, K, D]
    dec = space.decode(edits.reshape(-1, edits.shape[-1])).reshape(
        len(z), len(strengths), *space.image_shape
    )
    rows = [
        np.concatenate([_real(images_u8[i][None]), rec[i][None], dec[i]]) for i in range(len(z))
    ]
    return samples.make_grid(np.concatenate(rows), ncols=2 + len(strengths))


def interpolation_grid(
    space: CodeSpace, a_u8: np.ndarray, b_u8: np.ndarray, steps: int = 8
) -> np.ndarray:
    """uint8 grid: per pair, [image a, decoded line from code(a) to code(b), image b]."""
    za, zb = space.encode(a_u8), space.encode(b_u8)
    rows = []
    for i in range(len(za)):
        line = space.decode(attributes.interpolate(za[i], zb[i], steps))
        rows.append(np.concatenate([_real(a_u8[i][None]), line, _real(b_u8[i][None])]))
    return samples.make_grid(np.concatenate(rows), ncols=steps + 2)


def arithmetic_grid(
    space: CodeSpace, images_u8: np.ndarray, add: np.ndarray, remove: np.ndarray
) -> np.ndarray:
    """uint8 grid: rows of [image, reconstruction, +add, -remove, +add -remove]."""
    z = space.encode(images_u8)
    variants = [
        z,
        attributes.arithmetic(z, add, None),
        attributes.arithmetic(z, None, remove),
        attributes.arithmetic(z, add, remove),
    ]
    dec = [space.decode(v) for v in variants]
    rows = [
        np.concatenate([_real(images_u8[i][None])] + [d[i][None] for d in dec])
        for i in range(len(z))
    ]
    return samples.make_grid(np.concatenate(rows), ncols=5)


def save(grid: np.ndarray, path: str | pathlib.Path) -> pathlib.Path:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    samples.save_png(grid, path)
    return path
