"""The synthetic-labeled-data pipeline (ganjax/latent/synthetic_pipeline.py) end to end on fixtures
in
the real file formats (Fashion-MNIST IDX; CelebA JPEGs + list_attr_celeba.txt +
list_eval_partition.txt), its resumption, and the stage commands run as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import ml_collections
import numpy as np
import pytest

from configs import celeba_synthetic, fashion_mnist_synthetic
from ganjax.classifiers import restore
from ganjax.data import load_split
from ganjax.latent import stage_keys
from ganjax.tools import tasks
from tests import fixtures

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _point_at(c, data_dir, cache_dir):
    for cfg in (c, c.generative, c.classifier):
        cfg.data.manual_dir = str(data_dir)
        cfg.data.cache_dir = str(cache_dir)


def test_fashion_mnist_pipeline_runs_resumes_and_its_stage_commands_work(mnist_dir, tmp_path):
    c = fashion_mnist_synthetic.get_config("tiny,transfer")
    _point_at(c, mnist_dir, tmp_path / "cache")
    results = tasks.train_and_evaluate(c, tmp_path / "p")
    test = load_split("fashion_mnist", "test", manual_dir=str(mnist_dir))
    # Each reported accuracy is its stage's classifier, restored from its folder, on every test
    # image (experiments.classify's loader: an independent path to the same predictions).
    for stage, key in (
        ("classifier", "test_accuracy"),
        ("baseline", "baseline_test_accuracy"),
        ("transfer", "transfer_test_accuracy"),
        ("transfer_baseline", "transfer_baseline_test_accuracy"),
    ):
        probs = restore.load_classifier(tmp_path / "p" / stage).predict(test["image"])
        hits = int(np.sum(probs.argmax(1) == test["label"]))
        assert results[key] == pytest.approx(hits / len(test["label"]), abs=1e-6), stage
    # The transfer head trained on the synthetic set, and the same head on the real labels only.
    for stage, num_train in (("transfer", 64), ("transfer_baseline", 3 * 10)):
        stage_results = json.loads((tmp_path / "p" / stage / "results.json").read_text())
        assert stage_results["num_train"] == num_train
        assert results[f"{stage}_test_accuracy"] == stage_results["test_accuracy"]
    assert results["num_test"] == len(test["image"])
    assert results["num_labeled_total"] == 3 * 10  # 3 labeled images of each of 10 classes.
    syn = load_split("synthetic", "train", manual_dir=results["stages"]["synthetic"])
    assert len(syn["image"]) == 64 and np.bincount(syn["label"]).tolist() == [7] * 4 + [6] * 6
    real = load_split("synthetic", "train", manual_dir=results["stages"]["labeled_real"])
    train = load_split("fashion_mnist", "train", manual_dir=str(mnist_dir))
    meta = json.loads((tmp_path / "p" / "labeled_real" / "synthetic.json").read_text())
    idx = np.asarray(meta["labeled_indices"])
    np.testing.assert_array_equal(real["image"], train["image"][idx])
    np.testing.assert_array_equal(real["label"], train["label"][idx])  # The labels used.
    # Run again: every stage is found done under the same key, nothing retrains or rewrites.
    ckpt = tmp_path / "p" / "generative" / "checkpoints"
    outputs = [
        *ckpt.iterdir(),
        tmp_path / "p" / "synthetic" / "images.npy",
        tmp_path / "p" / "classifier" / "results.json",
    ]
    before = {p: p.stat().st_mtime_ns for p in outputs}
    again = tasks.train_and_evaluate(c, tmp_path / "p")
    assert again == results
    assert {p: p.stat().st_mtime_ns for p in outputs} == before
    for stage in ("generative", "synthetic", "labeled_real", "classifier", "transfer"):
        key = json.loads((tmp_path / "p" / stage / "stage.json").read_text())["key"]
        assert results["stage_keys"][stage] == key
    # Settings that change a stage's output, same workdir: refused, naming the changed keys,
    # before anything is rewritten (the old code relabeled the 64 old images as the new ones).
    for name, value in (("num", 32), ("strategy", "shift")):
        changed = c.copy_and_resolve_references()
        changed.synthesis[name] = value
        with pytest.raises(stage_keys.StageMismatchError) as e:
            tasks.train_and_evaluate(changed, tmp_path / "p")
        assert f"synthesis.{name}: {c.synthesis[name]!r} -> {value!r}" in str(e.value)
        assert "  classifier:" in str(e.value)  # Downstream of the synthetic set too.
        assert "  baseline:" not in str(e.value)  # The real labels did not change.
        assert "new --workdir" in str(e.value)
    changed = c.copy_and_resolve_references()
    changed.classifier.optim.d.learning_rate *= 2  # Only the classifier stages.
    with pytest.raises(stage_keys.StageMismatchError, match="optim.d.learning_rate") as e:
        tasks.train_and_evaluate(changed, tmp_path / "p")
    assert "  synthetic:" not in str(e.value) and "  baseline:" in str(e.value)
    assert {p: p.stat().st_mtime_ns for p in outputs} == before
    assert json.loads((tmp_path / "p" / "results.json").read_text()) == results
    # The trained generative run reused by a new workdir: keyed by the run's identity (config,
    # checkpoint step, encoder), the same synthetic images; found done when run again.
    reuse = c.copy_and_resolve_references()
    reuse.generative_workdir, reuse.transfer = results["stages"]["generative"], ""
    other = tasks.train_and_evaluate(reuse, tmp_path / "q")
    assert "generative" not in other["stage_keys"]
    assert other["stage_keys"]["synthetic"] != results["stage_keys"]["synthetic"]
    identity = json.loads((tmp_path / "q" / "synthetic" / "stage.json").read_text())
    assert identity["inputs"]["upstream"]["generative"] == other["stage_keys"]["generative_run"]
    np.testing.assert_array_equal(
        load_split("synthetic", "train", manual_dir=other["stages"]["synthetic"])["image"],
        syn["image"],
    )
    assert tasks.train_and_evaluate(reuse, tmp_path / "q") == other
    # The stage commands on the generative run, as a user runs them.
    gen = results["stages"]["generative"]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}

    def run(*args):
        p = subprocess.run(
            [sys.executable, "-m", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert p.returncode == 0, p.stderr[-2000:]
        return p

    run(
        "experiments.attributes",
        f"--workdir={gen}",
        "--attribute=class=6:0",
        "--remove_attribute=class=5,7,9",
        "--num_labeled=2",
        "--rows=2",
    )
    out = tmp_path / "p" / "generative" / "attributes"
    assert {
        "class_6_vs_0.npz",
        "class_6_vs_0_edit.png",
        "class_6_vs_0_interpolation.png",
        "class_6_vs_0_plus_minus_class_5_7_9.png",
    } <= {p.name for p in out.iterdir()}
    run(
        "experiments.synthesize",
        f"--workdir={gen}",
        "--attribute=class=6:0",
        "--num=10",
        "--num_labeled=2",
        "--strategy=shift",
        "--pool_size=8",
        f"--out={tmp_path / 's'}",
    )
    pair = load_split("synthetic", "train", manual_dir=str(tmp_path / "s"))
    assert sorted(np.unique(pair["label"]).tolist()) == [0, 1]
    bad = subprocess.run(
        [sys.executable, "-m", "experiments.attributes", f"--workdir={gen}", "--attribute=Male"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "no named attributes" in bad.stderr


def test_celeba_pipeline_on_the_real_file_formats(tmp_path):
    d = fixtures.make_celeba(tmp_path / "celeba", n=40)  # 36 train, 2 validation, 2 test faces.
    # The Inception route (random weights here: plumbing) on the first 8 synthetic faces.
    c = celeba_synthetic.get_config("tiny,res=28,transfer=inception_v3:random,transfer_num=8")
    _point_at(c, d, tmp_path / "cache")
    results = tasks.train_and_evaluate(c, tmp_path / "p")
    assert results["attribute"] == "Male" and results["num_test"] == 2
    assert "transfer_test_accuracy" not in results  # No D route asked for.
    assert "inception_v3:random" in results["transfer_inception_v3_random_extractor"]
    for stage, num_train in (
        ("transfer_inception_v3_random", 8),
        ("transfer_inception_v3_random_baseline", 6),
    ):
        stage_results = json.loads((tmp_path / "p" / stage / "results.json").read_text())
        assert stage_results["num_train"] == num_train and stage_results["num_test"] == 2
        assert stage_results["extractor"] == "inception_v3:random"
        assert results[f"{stage}_test_accuracy"] == stage_results["test_accuracy"]
        assert results["stages"][stage] == str(tmp_path / "p" / stage)
    assert results["num_labeled_total"] == 6  # 3 labeled faces per side.
    syn = load_split("synthetic", "train", manual_dir=results["stages"]["synthetic"])
    assert syn["image"].shape[1:] == (28, 28, 3)
    assert sorted(np.unique(syn["label"]).tolist()) == [0, 1]
    real = load_split("synthetic", "train", manual_dir=results["stages"]["labeled_real"])
    train = load_split(
        "celeb_a", "train", manual_dir=str(d), image_size=28, cache_dir=str(tmp_path / "cache")
    )
    idx = json.loads((tmp_path / "p" / "labeled_real" / "synthetic.json").read_text())
    male = train["attributes"][:, list(train["attribute_names"]).index("Male")]
    np.testing.assert_array_equal(real["label"], male[np.asarray(idx["labeled_indices"])])


def test_transfer_routes_name_their_stages():
    from ganjax.latent import synthetic_pipeline as sp

    c = fashion_mnist_synthetic.get_config("tiny")
    assert sp.transfer_extractors(c) == []
    c = fashion_mnist_synthetic.get_config("tiny,transfer")  # The bare flag: D, as before.
    assert c.transfer == "discriminator" and sp.transfer_extractors(c) == ["discriminator"]
    c = fashion_mnist_synthetic.get_config("tiny,transfer=discriminator+inception_v3")
    assert [sp.transfer_stage(x) for x in sp.transfer_extractors(c)] == [
        "transfer",
        "transfer_inception_v3",
    ]
    assert sp.transfer_stage("inception_v3:clean") == "transfer_inception_v3_clean"
    old = c.copy_and_resolve_references().to_dict()
    old["transfer"] = True  # A config.json written when the option was a bool.
    assert sp.transfer_extractors(ml_collections.ConfigDict(old)) == ["discriminator"]
