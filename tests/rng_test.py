"""Named random streams (ganjax/rng.py) and the consumers that draw from them."""

import itertools

import numpy as np
import pytest

from ganjax import rng
from ganjax.data import BatchIterator, labeled

SEEDS = range(4)
INDICES = [(), *[(i,) for i in range(16)], (0, 0), (1, 3), (15, 2)]


def _first_draw(g: np.random.Generator) -> int:
    return int(g.integers(0, 2**63))


def test_stream_ids_are_distinct_and_above_small_integers():
    ids = list(rng.STREAM_IDS.values())
    assert len(set(ids)) == len(ids) == len(rng.STREAMS)
    assert min(ids) >= 2**32  # Never an epoch, a step or a legacy small stream constant.


def test_no_two_named_streams_coincide():
    draws = {}
    for name, seed, index in itertools.product(rng.STREAMS, SEEDS, INDICES):
        draws[(name, seed, index)] = _first_draw(rng.stream(seed, name, *index))
    values = list(draws.values())
    assert len(set(values)) == len(values), "two (seed, stream, index) tuples share a stream"


def test_streams_are_reproducible():
    for name in rng.STREAMS:
        a = rng.stream(3, name, 7, 2).random(5)
        np.testing.assert_array_equal(a, rng.stream(3, name, 7, 2).random(5))
    k1, k2 = rng.key(1, "posthoc_heldout"), rng.key(1, "posthoc_heldout")
    import jax

    np.testing.assert_array_equal(jax.random.key_data(k1), jax.random.key_data(k2))
    assert not np.array_equal(
        jax.random.key_data(k1), jax.random.key_data(rng.key(2, "posthoc_heldout"))
    )


def test_trailing_zero_indices_are_different_streams():
    # numpy zero-pads short seed arrays ([s] == [s, 0]); the index count keeps them apart.
    for name in rng.STREAMS:
        a = _first_draw(rng.stream(0, name))
        assert a != _first_draw(rng.stream(0, name, 0))
        assert _first_draw(rng.stream(0, name, 0)) != _first_draw(rng.stream(0, name, 0, 0))


def test_unknown_name_and_bad_values_raise():
    with pytest.raises(ValueError, match="Unknown random stream"):
        rng.stream(0, "data_ordre")
    with pytest.raises(ValueError, match="seed"):
        rng.stream(-1, "data_order")
    with pytest.raises(ValueError, match="index"):
        rng.stream(0, "data_order", -3)


def _epoch_permutations(seed: int, n: int, epochs: int) -> list[np.ndarray]:
    it = BatchIterator({"image": np.arange(n)}, batch_size=1, seed=seed)
    return [it._permutation(e) for e in range(epochs)]


def test_epoch_stream_never_equals_another_stream():
    n = 64
    for seed in SEEDS:
        epochs = {tuple(p) for p in _epoch_permutations(seed, n, 16)}
        assert len(epochs) == 16
        for name, other_seed, index in itertools.product(rng.STREAMS, SEEDS, INDICES):
            if name == "data_order":
                continue
            perm = tuple(rng.stream(other_seed, name, *index).permutation(n))
            assert perm not in epochs, (seed, name, other_seed, index)


def test_validation_split_does_not_reuse_an_epoch_order():
    """The old `[seed, 2]` array of the validation split was the data order of epoch 2."""
    n, seed = 200, 5
    val, _ = labeled.split_validation(n, 0.5, seed)
    for p in _epoch_permutations(seed, n, 4):
        assert not np.array_equal(val, np.sort(p[: len(val)]))


def test_ssl_streams_do_not_alias_other_seeds():
    """The old `seed + 1000` second unlabeled stream was seed + 1000's first one."""
    from ganjax.methods.ssl_gan import SSLBatches

    n = 300
    train = {
        "image": np.arange(n, dtype=np.int64).reshape(n, 1, 1, 1),
        "label": np.arange(n) % 10,
    }
    lab = np.arange(10)
    a = SSLBatches(train, lab, 20, 0, 0)
    b = SSLBatches(train, lab, 20, 1000, 0)
    first_a, first_b = next(a), next(b)
    assert not np.array_equal(first_a["unl2_image"], first_b["unl_image"])
    assert not np.array_equal(first_a["unl_image"], first_a["unl2_image"])
