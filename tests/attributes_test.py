"""Attribute vectors (ganjax/latent/attributes.py), synthetic codes (ganjax/latent/synthesis.py) and
the
editing grids (ganjax/latent/editing.py), on constructed code spaces where the answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from ganjax.data import attribute_specs
from ganjax.latent import attributes, editing, synthesis
from ganjax.latent.code_space import CodeSpace


def test_attribute_vector_recovers_a_planted_direction():
    rng = np.random.default_rng(0)
    dim, n = 32, 4000
    planted = rng.normal(size=dim)
    planted *= 3.0 / np.linalg.norm(planted)
    has = rng.random(n) < 0.3
    codes = rng.normal(size=(n, dim)) + np.where(has[:, None], planted, 0.0)
    vec = attributes.attribute_vector(codes, has, ~has, name="planted")
    # Exactly the difference of the two sides' means...
    np.testing.assert_allclose(
        vec.direction, codes[has].mean(0) - codes[~has].mean(0), rtol=1e-5, atol=1e-6
    )
    # ...which recovers the planted direction and its length (noise ~ 1/sqrt(n per side)).
    cos = vec.direction @ planted / np.linalg.norm(vec.direction) / np.linalg.norm(planted)
    assert cos > 0.98
    assert np.linalg.norm(vec.direction) == pytest.approx(3.0, rel=0.1)
    # With the label budget of the experiments (50 per side) it is still clearly found.
    sides = attribute_specs.Sides("planted", has, ~has, "")
    pos, neg = attribute_specs.labeled_subset(sides, 50, seed=1)
    small = attributes.attribute_vector(codes, pos, neg)
    assert small.direction @ planted / np.linalg.norm(small.direction) / 3.0 > 0.75
    # Moving a code without the attribute by +1 x the vector lands it on the other side's mean.
    moved = attributes.edit(codes[~has][:5], vec.direction, [0.0, 1.0])
    np.testing.assert_allclose(
        moved[:, 1] - moved[:, 0], np.tile(vec.direction, (5, 1)), rtol=1e-5, atol=1e-6
    )


def test_vector_save_load_round_trip(tmp_path):
    v = attributes.AttributeVector(
        "Male", np.arange(3, dtype=np.float32), np.ones(3, np.float32), 7, 9
    )
    path = v.save(tmp_path / "a" / "Male.npz", seed=3)
    back = attributes.AttributeVector.load(path)
    assert back.name == "Male" and (back.num_positive, back.num_negative) == (7, 9)
    np.testing.assert_array_equal(back.direction, v.direction)
    with pytest.raises(FileNotFoundError, match="experiments.attributes"):
        attributes.AttributeVector.load(tmp_path / "missing.npz")


def _labeled(labels):
    return {"image": np.zeros((len(labels), 2, 2, 1), np.uint8), "label": np.asarray(labels)}


def test_class_specs_select_the_right_sides():
    data = _labeled([0, 1, 2, 5, 6, 7, 9, 0, 6])
    s = attribute_specs.select_sides(data, "class=6:0")
    assert s.positive.tolist() == [0, 0, 0, 0, 1, 0, 0, 0, 1]
    assert s.negative.tolist() == [1, 0, 0, 0, 0, 0, 0, 1, 0]
    s = attribute_specs.select_sides(data, "class=5,7,9")  # A grouping vs every other class.
    assert s.positive.tolist() == [0, 0, 0, 1, 0, 1, 1, 0, 0]
    assert (s.positive ^ s.negative).all()
    for spec, match in [
        ("class=3:3", "both sides"),
        ("class=12", "out of range"),
        ("class=3", "no images on the positive"),
        ("classes=1", "not a class"),
        ("Male", "no named attributes"),
    ]:
        with pytest.raises(ValueError, match=match):
            attribute_specs.select_sides(data, spec)


def test_celeba_attribute_sides():
    data = {
        "image": np.zeros((4, 2, 2, 3), np.uint8),
        "label": np.zeros(4, np.int32),
        "attributes": np.array([[1, 0], [0, 0], [1, 1], [0, 1]], np.int8),
        "attribute_names": np.array(["Male", "Smiling"]),
    }
    s = attribute_specs.select_sides(data, "Smiling")
    assert s.positive.tolist() == [False, False, True, True]
    assert s.negative.tolist() == [True, True, False, False]
    with pytest.raises(ValueError, match="Unknown attribute 'Bald'.*Male, Smiling"):
        attribute_specs.select_sides(data, "Bald")


def test_labeled_subset_takes_n_per_side_deterministically():
    labels = np.repeat(np.arange(3), 100)
    sides = attribute_specs.select_sides(_labeled(labels), "class=2:0")
    pos, neg = attribute_specs.labeled_subset(sides, 10, seed=4)
    assert len(pos) == len(neg) == 10 and (labels[pos] == 2).all() and (labels[neg] == 0).all()
    again = attribute_specs.labeled_subset(sides, 10, seed=4)
    assert pos.tolist() == again[0].tolist() and neg.tolist() == again[1].tolist()
    assert pos.tolist() != attribute_specs.labeled_subset(sides, 10, seed=5)[0].tolist()


def test_subset_mean_codes_are_means_of_same_class_labeled_codes():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(12, 5)).astype(np.float32)
    labels = np.repeat(np.arange(3), 4)
    z, y = synthesis.synthesize_codes("subset_mean", codes, labels, 300, seed=0)
    assert np.bincount(y).tolist() == [100, 100, 100]  # Balanced labels.
    for zi, yi in zip(z, y):
        own = codes[labels == yi].astype(np.float64)
        # zi = mean of a subset: find it by brute force over the 15 non-empty subsets.
        means = [own[[j for j in range(4) if m >> j & 1]].mean(0) for m in range(1, 16)]
        assert min(np.abs(zi - m).max() for m in means) < 1e-5
    # One labeled code per class: every synthetic code is that code.
    z1, y1 = synthesis.synthesize_codes("subset_mean", codes[::4], np.arange(3), 9, seed=1)
    np.testing.assert_allclose(z1, codes[::4][y1])


def test_shift_sets_class_coordinates_and_keeps_the_rest():
    rng = np.random.default_rng(1)
    dim = 8
    codes = rng.normal(size=(30, dim)).astype(np.float32)
    labels = np.repeat(np.arange(3), 10)
    pool = rng.normal(size=(50, dim)).astype(np.float32)
    z, y = synthesis.synthesize_codes("shift", codes, labels, 60, seed=2, pool_codes=pool)
    means = np.stack([codes[labels == c].mean(0) for c in range(3)]).astype(np.float64)
    center = means.mean(0)
    # An independent projection: least squares onto the two centered class-mean columns.
    a = (means[:2] - center).T  # [D, 2]; the third centered mean is minus their sum.
    proj = a @ np.linalg.pinv(a)
    for zi, yi in zip(z.astype(np.float64), y):
        np.testing.assert_allclose(proj @ (zi - center), proj @ (means[yi] - center), atol=1e-4)
        rest = (np.eye(dim) - proj) @ zi
        # The orthogonal part is one of the pool codes' orthogonal parts.
        dists = np.abs((np.eye(dim) - proj) @ pool.T.astype(np.float64) - rest[:, None]).max(0)
        assert dists.min() < 1e-4
    with pytest.raises(ValueError, match="needs codes of unlabeled"):
        synthesis.synthesize_codes("shift", codes, labels, 5, seed=0)
    with pytest.raises(ValueError, match="Unknown synthesis strategy"):
        synthesis.synthesize_codes("nope", codes, labels, 5, seed=0)


def test_shift_with_two_classes_moves_along_the_attribute_direction():
    rng = np.random.default_rng(3)
    codes = rng.normal(size=(20, 6)).astype(np.float32)
    labels = np.repeat([0, 1], 10)
    pool = rng.normal(size=(1, 6)).astype(np.float32)
    z, y = synthesis.synthesize_codes("shift", codes, labels, 2, seed=0, pool_codes=pool)
    d = codes[10:].mean(0) - codes[:10].mean(0)
    for zi in z:  # Each output differs from the pool code only along d.
        delta = zi - pool[0]
        np.testing.assert_allclose(delta - (delta @ d) / (d @ d) * d, 0.0, atol=1e-5)
    assert (z[y == 1] - z[y == 0]) @ d == pytest.approx(d @ d, rel=1e-4)


def _linear_space(dim=4, shape=(2, 2, 1)):
    """decode(z) = tanh-free linear map; encode = its pseudo-inverse (on [-1, 1] images)."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(dim, int(np.prod(shape)))).astype(np.float32) * 0.1
    w_pinv = np.linalg.pinv(w).astype(np.float32)
    return CodeSpace(
        encode_batch=lambda x: np.asarray(x).reshape(len(x), -1) @ w_pinv,
        decode_batch=lambda z: (np.asarray(z) @ w).reshape(len(z), *shape),
        latent_dim=dim,
        image_shape=shape,
        config=None,
        source="linear",
        batch_size=3,
    )


def test_edit_interpolation_and_arithmetic_grids_have_one_cell_per_image():
    space = _linear_space()
    imgs = np.full((5, 2, 2, 1), 128, np.uint8)
    pad = 2
    grid = editing.edit_grid(space, imgs, np.ones(4, np.float32), [-1.0, 0.0, 1.0])
    assert grid.shape == (5 * (2 + pad) + pad, 5 * (2 + pad) + pad, 1)  # 5 rows, 2 + 3 columns
    grid = editing.interpolation_grid(space, imgs[:2], imgs[2:4], steps=4)
    assert grid.shape == (2 * 4 + pad, 6 * 4 + pad, 1)
    grid = editing.arithmetic_grid(space, imgs[:3], np.ones(4), np.ones(4))
    assert grid.shape == (3 * 4 + pad, 5 * 4 + pad, 1)
    # The first column is the input image itself.
    np.testing.assert_array_equal(grid[pad : pad + 2, pad : pad + 2], imgs[0])
    assert editing.file_stem("class=5,7,9:1") == "class_5_7_9_vs_1"
