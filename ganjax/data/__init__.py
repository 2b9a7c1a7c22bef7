"""Data: dataset sources (local original files or tfds) and the batch iterator."""

from ganjax.data.pipeline import BatchIterator, prefetch, to_float_images
from ganjax.data.sources import DATASETS, DatasetNotFoundError, load_config_split, load_split

__all__ = [
    "BatchIterator",
    "prefetch",
    "to_float_images",
    "DATASETS",
    "DatasetNotFoundError",
    "load_config_split",
    "load_split",
]
