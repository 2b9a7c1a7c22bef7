"""Synthetic labeled datasets: generated images with known labels, stored as a ganjax dataset
(`config.data.name = "synthetic"`, `config.data.manual_dir = <the folder>`).

A folder holds
  images.npy      uint8 [N, H, W, C]
  labels.npy      int32 [N]
  synthetic.json  how it was generated (run, encoder, attribute or classes, strategy, label
                  budget, seed), the class names, and N; written last, so a folder without it
                  is an interrupted write.
The only split is "train": a synthetic set is scored on a real dataset's test split
(`config.data.test_dataset`).
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

import numpy as np

from ganjax.errors import BadFileError, ConfigError, MissingFileError

META = "synthetic.json"


def write_dataset(
    directory: str | pathlib.Path, images: np.ndarray, labels: np.ndarray, meta: dict[str, Any]
) -> pathlib.Path:
    """Writes images (uint8 NHWC), labels (int) and `meta` to `directory` (atomically per file)."""
    images, labels = np.asarray(images), np.asarray(labels)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"images must be uint8 [N, H, W, C], got {images.dtype} {images.shape}")
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be integers [{len(images)}], got {labels.dtype} {labels.shape}"
        )
    if len(labels) and labels.min() < 0:
        raise ValueError("labels must be >= 0")
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / META).unlink(missing_ok=True)  # Incomplete until the meta is back.
    for name, array in (("images.npy", images), ("labels.npy", labels.astype(np.int32))):
        tmp = directory / f".{name}.tmp"
        with open(tmp, "wb") as f:
            np.save(f, array)
        os.replace(tmp, directory / name)
    full = {
        **meta,
        "num_examples": len(images),
        "image_shape": list(images.shape[1:]),
        "label_counts": np.bincount(labels).tolist(),
    }
    (directory / META).write_text(json.dumps(full, indent=2, sort_keys=True))
    return directory


def read_meta(directory: str | pathlib.Path) -> dict[str, Any]:
    path = pathlib.Path(directory) / META
    if not path.exists():
        raise MissingFileError(
            f"{directory} is not a synthetic dataset (no {META}; an interrupted write leaves "
            "none): write one with python -m experiments.synthesize"
        )
    return json.loads(path.read_text())


def load_synthetic(directory: str | pathlib.Path | None, split: str) -> dict[str, np.ndarray]:
    """{"image": uint8 [N, H, W, C], "label": int32 [N]} of a synthetic dataset folder."""
    if not directory:
        raise MissingFileError(
            "config.data.name=synthetic needs config.data.manual_dir: the folder "
            "python -m experiments.synthesize wrote"
        )
    if split != "train":
        raise ConfigError(
            f"A synthetic dataset has only a 'train' split, not '{split}': score its classifier "
            "on real data with config.data.test_dataset=<dataset>"
        )
    directory = pathlib.Path(directory).expanduser()
    meta = read_meta(directory)
    images = np.load(directory / "images.npy", mmap_mode="r")
    labels = np.load(directory / "labels.npy")
    if len(images) != meta["num_examples"] or len(labels) != len(images):
        raise BadFileError(
            f"{directory}: {len(images)} images and {len(labels)} labels but {META} says "
            f"{meta['num_examples']}; the folder is damaged, write it again"
        )
    return {"image": np.asarray(images), "label": labels.astype(np.int32)}
