"""Synthetic labeled datasets (ganjax/data/synthetic.py) read back through `load_split`, and a
classifier trained on one and scored on a real test split (ganjax/methods/classifier.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from configs import fashion_mnist_classifier
from ganjax.data import load_split
from ganjax.data.synthetic import write_dataset
from ganjax.methods import classifier as classifier_method
from ganjax.training import train


def test_round_trip_keeps_images_labels_and_meta(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (30, 28, 28, 1), dtype=np.uint8)
    labels = rng.integers(0, 10, 30)
    write_dataset(tmp_path / "syn", images, labels, {"strategy": "subset_mean", "seed": 3})
    data = load_split("synthetic", "train", manual_dir=str(tmp_path / "syn"))
    np.testing.assert_array_equal(data["image"], images)
    np.testing.assert_array_equal(data["label"], labels)
    assert data["label"].dtype == np.int32
    meta = json.loads((tmp_path / "syn" / "synthetic.json").read_text())
    assert meta["strategy"] == "subset_mean" and meta["num_examples"] == 30
    assert meta["label_counts"] == np.bincount(labels).tolist()
    assert (
        len(
            load_split("synthetic", "train", manual_dir=str(tmp_path / "syn"), max_examples=7)[
                "image"
            ]
        )
        == 7
    )


def test_bad_synthetic_folders_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="needs config.data.manual_dir"):
        load_split("synthetic", "train")
    with pytest.raises(FileNotFoundError, match="experiments.synthesize"):
        load_split("synthetic", "train", manual_dir=str(tmp_path))  # No synthetic.json.
    write_dataset(tmp_path, np.zeros((2, 4, 4, 1), np.uint8), np.zeros(2, np.int64), {})
    with pytest.raises(ValueError, match="only a 'train' split.*test_dataset"):
        load_split("synthetic", "test", manual_dir=str(tmp_path))
    np.save(tmp_path / "labels.npy", np.zeros(5, np.int32))  # Damaged: counts disagree.
    with pytest.raises(ValueError, match="damaged"):
        load_split("synthetic", "train", manual_dir=str(tmp_path))
    with pytest.raises(ValueError, match="uint8"):
        write_dataset(tmp_path / "x", np.zeros((2, 4, 4, 1), np.float32), np.zeros(2, int), {})
    with pytest.raises(ValueError, match="integers"):
        write_dataset(tmp_path / "x", np.zeros((2, 4, 4, 1), np.uint8), np.zeros(2), {})
    with pytest.raises(ValueError, match="Unknown dataset 'nonsense'.*'synthetic'"):
        load_split("nonsense", "train")


def test_classifier_trains_on_synthetic_and_scores_on_real(mnist_dir, tmp_path):
    real = load_split("fashion_mnist", "train", manual_dir=str(mnist_dir))
    write_dataset(tmp_path / "syn", real["image"], real["label"], {"note": "real copy"})
    c = fashion_mnist_classifier.get_config("tiny")
    c.data.name = "synthetic"
    c.data.manual_dir = str(tmp_path / "syn")
    c.data.test_dataset = "fashion_mnist"
    c.data.test_manual_dir = str(mnist_dir)
    c.data.max_test_examples = 0
    _, test = classifier_method.load_classifier_data(c)
    want = load_split("fashion_mnist", "test", manual_dir=str(mnist_dir))
    np.testing.assert_array_equal(test["image"], want["image"])
    # A binary attribute: only the test images of its two sides, labeled 1 / 0.
    c.data.test_attribute = "class=6:0"
    _, test = classifier_method.load_classifier_data(c)
    keep = np.isin(want["label"], [6, 0])
    np.testing.assert_array_equal(test["image"], want["image"][keep])
    np.testing.assert_array_equal(test["label"], (want["label"][keep] == 6).astype(np.int32))
    c.data.test_attribute = ""
    results = train.train_and_evaluate(c, tmp_path / "cls")
    assert results["num_test"] == len(want["image"]) and 0.0 <= results["test_accuracy"] <= 1.0
    c.data.test_dataset = ""
    with pytest.raises(ValueError, match="no test split: set config.data.test_dataset"):
        classifier_method.load_classifier_data(c)
