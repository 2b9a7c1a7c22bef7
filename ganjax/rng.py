"""Named random streams for host-side randomness: data order, label budgets, splits, synthesis.

Every host-side draw comes from `stream(seed, name, *index)`: a `np.random.Generator` that is a
pure function of the run's seed, the stream's name and an index (an epoch, a step, an example),
so a restarted run redraws exactly what an uninterrupted one drew, with no stored RNG state.

The generator is seeded with a fixed-width encoding of (seed, stream id, number of indices,
indices...), each value as two 32-bit words. Stream ids are 64-bit values derived from the
names (SHA-256), all above 2**32: two different (seed, name, index) tuples never give the same
seed material, so no stream coincides with another, and none with an epoch number or a
`[seed, k]` array of small integers. (Plain `default_rng([seed, k])` arrays collide: numpy
zero-pads short seed arrays, so `[s]`, `[s, 0]` and `[s, 0, 0]` are one stream, and `[s, 12]`
is both "attribute subset" and "epoch 12's order".)

`key(seed, name, *index)` is the JAX-key variant, for host code that needs a `jax.random` key
(fixed latents of a held-out check, say). Inside jitted steps, derive keys from the loop key with
`jax.random.fold_in` (ganjax/training/train.py), not from here.

A new kind of draw gets a new name in `STREAMS`; an unknown name raises, so a typo cannot
silently alias a stream.
"""

from __future__ import annotations

import hashlib

import numpy as np

# The named streams (what draws from each). Add a name here for any new kind of draw.
STREAMS = (
    "data_order",  # BatchIterator: the permutation of epoch e (index: epoch).
    "labeled_subset",  # data/labeled.py: which training images carry labels.
    "validation_split",  # data/labeled.py: the validation part of the test set.
    "ssl_init_images",  # ssl_gan: the images of D's data-dependent init.
    "ssl_labeled_order",  # data/labeled.py: the labeled set's passes (index: period, pass).
    "ssl_labeled_whole",  # data/labeled.py: whole passes when batch > labeled (index: step, i).
    "ssl_unlabeled_order",  # ssl_gan: the unlabeled batches (index: epoch).
    "ssl_unlabeled2_order",  # ssl_gan: the second unlabeled stream, G's feature matching.
    "cyclegan_b_index",  # cyclegan: the random B indices (index: step).
    "jitter",  # data/jitter.py: crops and flips (index: step, example).
    "attribute_labeled",  # attributes.py: the N labeled images per side of an attribute.
    "class_labeled",  # synthesis.py: the N labeled images per class.
    "synthesis_codes",  # synthesis.py: labels and subset choices of synthetic codes.
    "synthesis_pool",  # synthesis.py: the unlabeled pool of the "shift" strategy.
    "attribute_grid_rows",  # experiments/attributes.py: the images of editing grids.
    "posthoc_heldout",  # posthoc_encoder.py: held-out latents of the encoder's check.
    "ema_batch_stats",  # ema_batch_stats.py: batches that set EMA batch-norm stats (index: net).
)


def _stream_id(name: str) -> int:
    """A 64-bit id of the name, at least 2**32 (never a small integer such as an epoch)."""
    digest = hashlib.sha256(f"ganjax.rng/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") | (1 << 32)


STREAM_IDS = {name: _stream_id(name) for name in STREAMS}


def _words(value: int, what: str) -> list[int]:
    value = int(value)
    if not 0 <= value < 2**64:
        raise ValueError(f"{what} must be in [0, 2**64), got {value}")
    return [value & 0xFFFFFFFF, value >> 32]


def seed_material(seed: int, name: str, *index: int) -> np.ndarray:
    """The uint32 words that seed the stream (fixed width: distinct inputs, distinct words)."""
    if name not in STREAM_IDS:
        raise ValueError(f"Unknown random stream {name!r}; add it to ganjax.rng.STREAMS")
    words = _words(seed, "seed") + _words(STREAM_IDS[name], "stream id") + [len(index)]
    for i, value in enumerate(index):
        words += _words(value, f"index {i} of stream {name!r}")
    return np.asarray(words, np.uint32)


def stream(seed: int, name: str, *index: int) -> np.random.Generator:
    """The numpy generator of stream `name` for (seed, *index).

    Args:
      seed: the run's seed (>= 0).
      name: one of `STREAMS`.
      *index: non-negative integers that select a draw within the stream (epoch, step, ...).

    Raises:
      ValueError: an unknown name, or a negative or too large seed or index.
    """
    return np.random.default_rng(seed_material(seed, name, *index))


def key(seed: int, name: str, *index: int):
    """A `jax.random` key of stream `name` for (seed, *index) (see `stream`)."""
    import jax

    return jax.random.key(int(stream(seed, name, *index).integers(0, 2**63)))
