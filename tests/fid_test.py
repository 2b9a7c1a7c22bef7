"""The sample-quality evaluator: protocol, reference cache, floor, best checkpoint, devices."""

import json
import textwrap

import jax.numpy as jnp
import numpy as np
import pytest

from configs import fashion_mnist_dcgan
from ganjax.evaluators import evaluation, extractors, fid, reference_stats
from ganjax.training import checkpointing, parallel, sampling, train
from tests import fixtures


def _config(mnist_dir, cache_dir, extractor, num_samples=64):
    c = fashion_mnist_dcgan.get_config("tiny")
    c.data.manual_dir, c.data.cache_dir = str(mnist_dir), str(cache_dir)
    c.eval.extractor = extractor
    c.eval.fid_num_samples = num_samples
    c.eval.fid_batch_size = 32
    c.eval.kid_subset_size = 32
    c.eval.kid_subsets = 10
    return c


def _real_generator(mnist_dir):
    """A 'generator' that returns real training images (what a perfect one would)."""
    from ganjax.data import load_split

    images = jnp.asarray(
        load_split("fashion_mnist", "train", manual_dir=str(mnist_dir))["image"], jnp.float32
    )
    images = images / 127.5 - 1.0

    def generate(z):
        idx = (jnp.abs(z[:, 0]) * 1e6).astype(jnp.int32) % images.shape[0]  # A row per latent.
        return images[idx]

    return generate


def test_metrics_rank_generators_and_protocol_is_complete(mnist_dir, tmp_path, tiny_classifier):
    c = _config(mnist_dir, tmp_path, f"classifier:{tiny_classifier}")
    ev = fid.SampleQualityEvaluator(c, parallel.create_mesh(1), (28, 28, 1))
    good = ev.evaluate(
        _real_generator(mnist_dir), latent_dim=8, latent_dist="normal", generator_weights="raw"
    )
    noise = ev.evaluate(
        lambda z: jnp.tanh(jnp.tile(z[:, :1, None, None], (1, 28, 28, 1)) * 3),
        latent_dim=8,
        latent_dist="normal",
        generator_weights="raw",
    )
    assert good["fid"] < noise["fid"] / 5 and good["kid"] < noise["kid"]
    assert (
        good["precision"] > 0.5
        and noise["precision"] < 0.1
        and noise["coverage"] < good["coverage"]
    )
    p = good["protocol"]
    assert (
        p["real_vs_real_fid"] >= 0
        and np.isfinite(p["real_vs_real_fid"])
        and good["fid"] < 10 * p["real_vs_real_fid"] + 1
    )
    assert (
        p["extractor"] == f"classifier:{tiny_classifier}" and len(p["extractor_weights_hash"]) == 16
    )
    assert p["num_samples"] == 64 and p["reference"] == {
        "split": "train",
        "num_images": 256,
        "kid_prdc_rows": 64,
        "stats_file": p["reference"]["stats_file"],
    }
    assert p["heldout"] == {"split": "test", "num_images": 64} and p["kid"]["subset_size"] == 32
    assert p["generator_weights"] == "raw" and "uint8" in p["quantization"]
    assert set(fid.METRIC_KEYS) <= set(good) and all(np.isfinite(good[k]) for k in fid.METRIC_KEYS)
    # The reference statistics are exactly numpy's over all 256 training images' features.
    from ganjax.data import load_split

    real = load_split("fashion_mnist", "train", manual_dir=str(mnist_dir))["image"]
    feats = np.asarray(
        extractors.features_fn(ev.extractor)(ev.extractor.variables, jnp.asarray(real))[0],
        np.float64,
    )
    np.testing.assert_allclose(ev.reference.mu, feats.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        ev.reference.sigma, np.cov(feats, rowvar=False), rtol=1e-4, atol=1e-6
    )


def test_reference_statistics_are_cached_and_checked(
    mnist_dir, tmp_path, tiny_classifier, monkeypatch
):
    c = _config(mnist_dir, tmp_path, f"classifier:{tiny_classifier}")
    first = fid.SampleQualityEvaluator(c, parallel.create_mesh(1), (28, 28, 1))
    first.real_vs_real()
    cached = sorted(p.name for p in (tmp_path / "fid_stats").iterdir())
    assert len(cached) == 2 and cached[0].startswith("fashion_mnist_test_28x28x1_classifier-")

    def no_loading(*a, **k):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(fid, "load_config_split", no_loading)
    second = fid.SampleQualityEvaluator(c, parallel.create_mesh(1), (28, 28, 1))
    assert second.real_vs_real() == first.real_vs_real()
    # The same dataset name read from other files (another copy or subset) has its own cache...
    monkeypatch.undo()
    c.data.manual_dir = str(fixtures.make_mnist(tmp_path / "copy", n_train=128, n_test=64))
    third = fid.SampleQualityEvaluator(c, parallel.create_mesh(1), (28, 28, 1))
    assert third.reference.count == 128 and third.reference.path != first.reference.path
    # ...and an explicit statistics file made from other files is refused, naming that.
    c.eval.reference_stats = str(first.reference.path)
    with pytest.raises(
        reference_stats.ReferenceStatsError,
        match="source_fingerprint: file has '[0-9a-f]{16}'.*other data files",
    ):
        fid.SampleQualityEvaluator(c, parallel.create_mesh(1), (28, 28, 1))
    c.data.manual_dir = str(mnist_dir)
    # A statistics file made with another extractor is refused, naming the mismatch. The
    # dataset's classifier is trained beforehand (evaluation never trains one): the fixture's.
    c.eval.reference_stats = str(first.reference.path)
    c.eval.extractor = "classifier:fashion_mnist"
    c.eval.classifier_arg = "tiny"
    cached = extractors.classifier_cache_dir(c.data, "fashion_mnist", "tiny")
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.symlink_to(tiny_classifier)
    monkeypatch.undo()
    with pytest.raises(
        reference_stats.ReferenceStatsError,
        match="extractor: file has 'classifier:/.*classifier:fashion_mnist",
    ):
        fid.SampleQualityEvaluator(c, parallel.create_mesh(1), (28, 28, 1))


def test_cache_file_names_keep_the_extractor_kind():
    """A long run path is cut from its start, but the kind in front of it stays in the name."""
    run = "classifier:/tmp/pytest-of-root/pytest-30/popen-gw1/a_long_run_folder_name/classifier0"
    src = "0123456789abcdef"  # A source fingerprint (ganjax.data.sources.source_fingerprint).
    path = reference_stats.cache_path("~/c", "fashion_mnist", "test", (28, 28, 1), run, "c6b6", src)
    assert path.name.startswith("fashion_mnist_test_28x28x1_classifier-"), path.name
    assert path.name.endswith(f"_a_long_run_folder_name_classifier0_c6b6_src{src}.npz"), path.name
    assert len(path.name) < 128
    named = reference_stats.cache_path(
        "/c", "svhn", "train", (32, 32, 3), "inception_v3", "ab", src
    )
    assert str(named) == f"/c/fid_stats/svhn_train_32x32x3_inception_v3_ab_src{src}.npz"
    ours = reference_stats.cache_path(
        "/c", "celeba", "train", (64, 64, 3), "classifier:celeba", "h", src
    )
    assert ours.name == f"celeba_train_64x64x3_classifier-celeba_h_src{src}.npz"
    other = reference_stats.cache_path(
        "/c", "celeba", "train", (64, 64, 3), "classifier:celeba", "h", "fedcba9876543210"
    )
    assert other != ours  # Other files under the same dataset name: another cache.


def test_best_checkpoint_keeps_the_lowest_fid(tmp_path):
    best = checkpointing.BestCheckpointer(tmp_path)
    for step, value in ((3, 5.0), (6, 3.0), (9, 4.0)):
        best.save(step, {"w": jnp.full((2,), float(step))}, value)
    best.close()
    assert sorted(
        int(p.name) for p in (tmp_path / "best_checkpoint").iterdir() if p.name.isdigit()
    ) == [6]
    restored = checkpointing.Checkpointer(tmp_path, subdir="best_checkpoint").restore(
        {"w": jnp.zeros((2,))}
    )
    assert float(restored["w"][0]) == 6.0


def test_fid_during_training_logs_keeps_best_and_reports(mnist_dir, tmp_path, tiny_classifier):
    c = _config(mnist_dir, tmp_path / "cache", f"classifier:{tiny_classifier}")
    c.eval.fid_every_steps = 3
    results = train.train_and_evaluate(c, tmp_path / "run")
    for key in (
        "fid",
        "kid",
        "kid_std",
        "precision",
        "recall",
        "inception_score",
        "density",
        "coverage",
    ):
        assert np.isfinite(results[key]), key
    # The floor (two disjoint real halves) is positive and far below a 6-step generator's FID.
    assert 0 < results["protocol"]["real_vs_real_fid"] < results["fid"] / 2
    assert results["fid_step"] == 6
    records = [
        json.loads(line)
        for line in (tmp_path / "run" / "eval" / "quality.jsonl").read_text().splitlines()
    ]
    assert [r["step"] for r in records] == [3, 6]
    assert results["best_fid"] == min(r["fid"] for r in records)
    best = [
        int(p.name) for p in (tmp_path / "run" / "best_checkpoint").iterdir() if p.name.isdigit()
    ]
    assert best == [results["best_fid_step"]]
    logged = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["eval/fid"] for r in logged if "eval/fid" in r] == [r["fid"] for r in records]
    # experiments.evaluate's library path on the same run gives the training-time figure.
    path, again = evaluation.evaluate_run(
        tmp_path / "run", extractor=f"classifier:{tiny_classifier}", num_samples=64
    )
    assert (
        path.name
        == f"6_classifier-{str(tiny_classifier).strip('/').replace('/', '_').replace('-', '_')}"
        ".json"
    )
    assert again["fid"] == pytest.approx(results["fid"], rel=1e-5)


def test_inception_random_weights_plumbing(tmp_path, tiny_gan_run):
    """The Inception extractor end to end (random weights: real ones are not on CI machines), on a
    copy of the tiny run whose dataset is cut to 24 + 12 images (Inception costs ~6 GFLOP each)."""
    import shutil

    from tests import fixtures

    run = tmp_path / "run"
    shutil.copytree(tiny_gan_run, run)
    config = json.loads((run / "config.json").read_text())
    config["data"]["manual_dir"] = str(
        fixtures.make_mnist(tmp_path / "small", n_train=24, n_test=12)
    )
    (run / "config.json").write_text(json.dumps(config))
    path, r = evaluation.evaluate_run(
        run,
        extractor="inception_v3:random",
        num_samples=16,
        fid_batch_size=16,
        cache_dir=str(tmp_path),
        kid_subset_size=16,
        kid_subsets=5,
    )
    p = r["protocol"]
    assert (
        p["extractor"] == "inception_v3:random"
        and p["feature_dim"] == 2048
        and "299" in p["preprocessing"]
    )
    assert "not comparable" in p["extractor_weights"]
    assert np.isfinite(r["fid"]) and r["fid"] > 0 and np.isfinite(p["real_vs_real_fid"])
    assert path.name == "6_inception_v3-random.json"


def test_missing_inception_weights_is_one_clear_message(tiny_gan_run, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("GANJAX_INCEPTION_WEIGHTS", raising=False)
    with pytest.raises(
        FileNotFoundError, match="pt_inception-2015-12-05-6726825d.pth.*GANJAX_INCEPTION_WEIGHTS"
    ):
        evaluation.evaluate_run(tiny_gan_run, extractor="inception_v3", num_samples=16)


def test_run_without_generator_is_refused(tiny_classifier, tmp_path):
    with pytest.raises(sampling.NoGeneratorError, match="'classifier' run"):
        sampling.restore_generator(tiny_classifier)
    with pytest.raises(FileNotFoundError, match="not a ganjax run folder"):
        evaluation.evaluate_run(tmp_path)


def test_one_device_equals_four_devices(mnist_dir, tmp_path, tiny_gan_run, tiny_classifier):
    """Feature extraction and generation sharded over 4 (forced CPU) devices: same metrics."""
    script = textwrap.dedent(f"""
        import json, jax
        from ganjax.evaluators import evaluation
        assert jax.device_count() == 4
        out = {{}}
        for n in (1, 4):
            _, r = evaluation.evaluate_run(
                {str(tiny_gan_run)!r}, extractor="classifier:{tiny_classifier}",
                num_samples=64, num_devices=n, fid_batch_size=32,
                cache_dir={str(tmp_path)!r} + f"/c{{n}}", kid_subset_size=32)
            keys = ("fid", "kid", "precision", "recall", "density", "coverage", "inception_score")
            out[n] = {{k: r[k] for k in keys}}
            out[n]["floor"] = r["protocol"]["real_vs_real_fid"]
            out[n]["devices"] = r["protocol"]["num_devices"]
        print(json.dumps(out))
    """)
    out = fixtures.run_on_forced_devices(script)
    print(out)
    assert out["1"]["devices"] == 1 and out["4"]["devices"] == 4
    for k in out["1"]:
        if k != "devices":
            assert out["4"][k] == pytest.approx(out["1"][k], rel=1e-4, abs=1e-6), k
