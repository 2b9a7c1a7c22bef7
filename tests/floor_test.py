"""The real-vs-real floor without a run: experiments.floor and ganjax.evaluators.floor."""

import json

import numpy as np
import pytest

from configs import fashion_mnist_dcgan, fashion_mnist_pix2pix
from ganjax import metrics
from ganjax.data import translation_tasks
from ganjax.evaluators import extractors, fid, floor
from ganjax.training import parallel
from tests.experiments_test import run


def _image_config(mnist_dir, cache_dir, tiny_classifier):
    c = fashion_mnist_dcgan.get_config("tiny")
    c.data.manual_dir, c.data.cache_dir = str(mnist_dir), str(cache_dir)
    c.eval.extractor = f"classifier:{tiny_classifier}"
    c.eval.fid_num_samples, c.eval.fid_batch_size = 64, 32
    c.eval.kid_subset_size, c.eval.kid_subsets = 32, 10
    return c


def test_image_floor_is_the_evaluators_floor(mnist_dir, tmp_path, tiny_classifier):
    c = _image_config(mnist_dir, tmp_path, tiny_classifier)
    got = floor.real_vs_real(c, num_devices=1)
    want = fid.SampleQualityEvaluator(c, parallel.create_mesh(1), (28, 28, 1)).real_vs_real()
    assert {k: got[k] for k in want} == want
    assert got["protocol"]["extractor"] == f"classifier:{tiny_classifier}"
    assert got["fid"] > 0 and got["num_images"] == 64


def test_paired_floor_compares_test_targets_with_train_targets(
    mnist_dir, tmp_path, tiny_classifier
):
    c = fashion_mnist_pix2pix.get_config("tiny")
    c.data.manual_dir, c.data.cache_dir = str(mnist_dir), str(tmp_path)
    c.eval.extractor = f"classifier:{tiny_classifier}"
    c.eval.kid_subset_size, c.eval.kid_subsets = 16, 10
    got = floor.real_vs_real(c, num_devices=1)
    d = c.data
    test = translation_tasks.load_paired_split(d, d.test_split, d.crop_size)["target"]
    train = translation_tasks.load_paired_split(d, d.train_split, d.crop_size)["target"]
    ex = extractors.create_extractor(c.eval.extractor, d)
    feats = [np.asarray(extractors.features_fn(ex)(ex.variables, x)[0]) for x in (train, test)]
    assert got["fid"] == pytest.approx(metrics.fid_from_features(*feats), rel=1e-4)
    assert got["num_images"] == len(test) and got["protocol"]["num_real"] == len(train)


def test_cyclegan_has_no_floor_here_and_says_where_it_is():
    from configs import horse2zebra_cyclegan

    with pytest.raises(ValueError, match="CycleGAN's unpaired floor"):
        floor.real_vs_real(horse2zebra_cyclegan.get_config("tiny"), num_devices=1)


def test_floor_command_prints_and_writes_the_floor(mnist_dir, tmp_path, tiny_classifier):
    out = tmp_path / "floor.json"
    proc = run(
        "experiments.floor",
        "--config=configs/fashion_mnist_dcgan.py:tiny",
        f"--config.data.manual_dir={mnist_dir}",
        f"--config.data.cache_dir={tmp_path}",
        f"--config.eval.extractor=classifier:{tiny_classifier}",
        "--config.eval.fid_num_samples=64",
        f"--out={out}",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["fid"] > 0 and result["protocol"]["extractor"].startswith("classifier:")
    bad = run(
        "experiments.floor",
        "--config=configs/fashion_mnist_dcgan.py:tiny",
        f"--config.data.manual_dir={tmp_path / 'nowhere'}",
    )
    assert bad.returncode != 0 and "is not a directory" in bad.stderr
