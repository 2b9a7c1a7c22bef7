"""A translation config's `config.data` -> its arrays: the Fashion-MNIST tasks or the authors' sets.

`config.data.name` picks the source:
  * "fashion_mnist_edges": the paired edges -> garment task (ganjax/data/fashion_translation.py),
    from the Fashion-MNIST IDX files in `config.data.manual_dir` (or the standard places);
  * "fashion_mnist_classes": the unpaired class_a <-> class_b task (`config.data.class_a`,
    `config.data.class_b`);
  * any other name: a pix2pix / CycleGAN set in the authors' layout or archive under
    `config.data.manual_dir` (ganjax/data/translation.py; "" searches the usual places).
"""

from __future__ import annotations

import ml_collections
import numpy as np

from ganjax.data import fashion_translation, translation

FASHION_PAIRED = "fashion_mnist_edges"
FASHION_UNPAIRED = "fashion_mnist_classes"


def load_paired_split(
    d: ml_collections.ConfigDict, split: str, load_size: int, max_examples: int | None = None
) -> dict[str, np.ndarray]:
    """{"input", "target"} uint8 [N, S, S, C] of one split, S = load_size."""
    if d.name == FASHION_PAIRED:
        size = None if load_size == 28 else load_size
        return fashion_translation.load_fashion_edges(
            split,
            manual_dir=d.manual_dir or None,
            tfds_data_dir=d.tfds_data_dir or None,
            direction=d.direction,
            load_size=size,
            max_examples=max_examples,
        )
    return translation.load_paired(
        d.name,
        split,
        root=d.manual_dir or None,
        direction=d.direction,
        load_size=load_size,
        grayscale=bool(d.get("grayscale", False)),
        max_examples=max_examples,
    )


def load_unpaired_split(
    d: ml_collections.ConfigDict, split: str, load_size: int, max_examples: int | None = None
) -> dict[str, np.ndarray]:
    """{"a", "b"} uint8 [Na | Nb, S, S, C] of one split, S = load_size."""
    if d.name == FASHION_UNPAIRED:
        return fashion_translation.load_fashion_classes(
            split,
            class_a=int(d.class_a),
            class_b=int(d.class_b),
            manual_dir=d.manual_dir or None,
            tfds_data_dir=d.tfds_data_dir or None,
            load_size=None if load_size == 28 else load_size,
            max_examples=max_examples,
        )
    return translation.load_unpaired(
        d.name,
        split,
        root=d.manual_dir or None,
        tfds_data_dir=d.tfds_data_dir or None,
        load_size=load_size,
        grayscale=bool(d.get("grayscale", False)),
        max_examples=max_examples,
    )
