"""The pix2pix method (ganjax/methods/pix2pix.py), its evaluation and experiments.translate.

Resume exactness and 1-vs-4-device equality come from the loop's shared tests
(tests/train_test.py), which run every registered method.
"""

import json
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from PIL import Image

from configs import facades_pix2pix, fashion_mnist_pix2pix
from experiments import translate
from ganjax import methods
from ganjax.data import DatasetNotFoundError, to_float_images
from ganjax.evaluators.translation import SetEvaluator
from ganjax.methods.pix2pix import D, G, PairedBatchIterator, Pix2Pix, translate_images
from ganjax.models.patchgan import conditional_input
from ganjax.training import sampling, train
from tests import fixtures
from tests.metrics_test import refs  # noqa: F401, F811 (a fixture: pytorch-fid's FID)
from tests.train_test import tiny


def _config(mnist_dir, **overrides):
    return tiny(fashion_mnist_pix2pix, mnist_dir, **overrides)


@pytest.fixture(scope="module")
def p2p_run(mnist_dir, tmp_path_factory) -> pathlib.Path:
    """A tiny run trained through the command line (its summary line is checked too)."""
    workdir = tmp_path_factory.mktemp("p2p") / "run"
    summary = "Test: L1 "
    return fixtures.train_tiny_by_command("fashion_mnist_pix2pix.py", mnist_dir, workdir, summary)


def test_tiny_run_writes_metrics_protocol_and_grids(p2p_run):
    results = json.loads((p2p_run / "results.json").read_text())
    for key in ("l1", "psnr", "ssim", "fid", "kid", "precision", "recall"):
        assert np.isfinite(results[key]), key
    assert 0 < results["l1"] < 1 and -1 <= results["ssim"] <= 1 and results["fid"] > 0
    p = results["protocol"]
    assert p["num_pairs"] == 24 and p["split"] == "test" and p["test_mode"] == "inference"
    assert p["distribution_metrics"]["num_real"] == 24
    evals = [json.loads(line) for line in (p2p_run / "eval.jsonl").read_text().splitlines()]
    assert [e["step"] for e in evals] == [3, 6]
    assert evals[-1]["fid"] == results["fid"]
    grid = np.asarray(Image.open(p2p_run / "samples" / "step_0000006.png"))
    assert grid.shape[:2] == (4 * 30 + 2, 3 * 30 + 2)  # 4 rows of (input, output, target).
    # The left column is the edge input, the right the garment target, as stored.
    state, config, method, data = sampling.restore_run(p2p_run)
    full = method.load_data()
    first_input = full.splits["test"]["input"][0][..., 0]
    np.testing.assert_array_equal(grid[2:30, 2:30], first_input)


def test_step_matches_direct_gradients(mnist_dir):
    """The step's gradients (one G forward pulled back through jax.vjp) equal jax.grad of the
    losses written out directly: D on (x, G(x)) and (x, y); G through the updated D."""
    c = _config(mnist_dir)
    method = Pix2Pix(c)
    data = method.load_data()
    state = method.create_state(data, jax.random.key(1), 10, 10)
    it = method.batches(data, 0)
    batch = {k: jnp.asarray(v) for k, v in next(it).items()}
    key = jax.random.key(7)
    new_state, metrics, grads = jax.jit(method.step_with_gradients)(state, batch, key)

    g, d = state[G], state[D]
    x, y = to_float_images(batch["input"]), to_float_images(batch["target"])
    rngs = {"dropout": jax.random.fold_in(key, 0)}

    def g_out(params):
        variables = {"params": params, **g.collections}
        return g.apply_fn(variables, x, train=True, rngs=rngs, mutable=["batch_stats"])[0]

    def d_out(params, stats, image):
        variables = {"params": params, "batch_stats": stats}
        out, upd = d.apply_fn(
            variables, conditional_input(x, image), train=True, mutable=["batch_stats"]
        )
        return out, upd["batch_stats"]

    def bce(logits, label):
        return optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, label)).mean()

    @jax.jit  # One program, not one compile per op (eager mode).
    def direct(g_params, d_params):
        fake = g_out(g_params)

        def d_loss(params):
            fo, stats = d_out(params, d.collections["batch_stats"], fake)
            ro, stats = d_out(params, stats, y)
            return 0.5 * (bce(ro, 1.0) + bce(fo, 0.0)), stats

        (d_value, d_stats), d_grads = jax.value_and_grad(d_loss, has_aux=True)(d_params)
        updates, _ = d.tx.update(d_grads, d.opt_state, d_params)
        new_d_params = optax.apply_updates(d_params, updates)

        def g_loss(params):
            image = g_out(params)
            out, _ = d_out(new_d_params, d_stats, image)
            return bce(out, 1.0) + 100.0 * jnp.mean(jnp.abs(image - y))

        g_value, g_grads = jax.value_and_grad(g_loss)(g_params)
        return d_value, d_grads, new_d_params, g_value, g_grads

    d_value, d_grads, d_params, g_value, g_grads = direct(g.params, d.params)
    assert float(metrics["d/loss"]) == pytest.approx(float(d_value), rel=1e-6)
    assert float(metrics["g/loss"]) == pytest.approx(float(g_value), rel=1e-6)
    for got, want in ((grads[D], d_grads), (grads[G], g_grads)):
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
            # float32 sums in another order (another program): noise ~1e-6 of the leaf's scale.
            ref_np = np.asarray(b)
            np.testing.assert_allclose(
                np.asarray(a), ref_np, rtol=1e-4, atol=1e-5 * np.abs(ref_np).max() + 1e-9
            )
    assert float(optax.global_norm(grads[G])) > 0
    leaves = zip(jax.tree.leaves(new_state[D].params), jax.tree.leaves(d_params))
    for a, b in leaves:
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)
    assert int(new_state.step) == 1


def test_paired_batches_are_aligned_and_deterministic():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 32, 32, 1), dtype=np.uint8)
    data = {"input": images, "target": images.copy()}
    kwargs = dict(batch_size=4, seed=3, load_size=32, crop_size=28, flip=True)
    it = PairedBatchIterator(data, **kwargs)
    first = it.batch_at(5)
    np.testing.assert_array_equal(first["input"], first["target"])  # Same crop and flip.
    assert first["input"].shape == (4, 28, 28, 1)
    np.testing.assert_array_equal(
        PairedBatchIterator(data, **kwargs).batch_at(5)["input"], first["input"]
    )
    # Another step (same epoch position two epochs later) draws other crops.
    later = it.batch_at(5 + 3 * it.steps_per_epoch)
    assert not np.array_equal(later["input"], first["input"])


def test_translate_modes(p2p_run):
    state, config, method, data = sampling.restore_run(p2p_run)
    inputs = method.load_data().splits["test"]["input"][:8]
    a = translate_images(state, inputs, mode="inference", batch_size=3)
    b = translate_images(state, inputs, mode="inference", batch_size=8)
    np.testing.assert_array_equal(a, b)  # Running statistics: independent of the batching.
    assert a.dtype == np.uint8 and a.shape == (8, 28, 28, 1)
    p0 = translate_images(state, inputs, mode="paper", batch_size=8, seed=0)
    np.testing.assert_array_equal(
        p0, translate_images(state, inputs, mode="paper", seed=0, batch_size=8)
    )
    assert not np.array_equal(p0, a)  # Dropout and batch statistics change the outputs.
    with pytest.raises(ValueError, match="mode"):
        translate_images(state, inputs, mode="eval")


def test_translate_command_on_odd_sized_images(p2p_run, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (37, 51, 3), dtype=np.uint8)).save(folder / "wide.jpg")
    Image.fromarray(rng.integers(0, 256, (13, 9), dtype=np.uint8)).save(folder / "small.png")
    exact = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    Image.fromarray(exact).save(folder / "exact.png")
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.translate",
            f"--workdir={p2p_run}",
            f"--input={folder}",
            f"--out={out}",
        ],
        capture_output=True,
        text=True,
        cwd=pathlib.Path(__file__).parents[1],
    )
    assert proc.returncode == 0, proc.stderr
    assert "Wrote 3 translated image(s)" in proc.stdout
    assert Image.open(out / "wide.png").size == (51, 37)
    assert Image.open(out / "small.png").size == (9, 13)
    # An input at the training size goes through G unresized.
    state, *_ = sampling.restore_run(p2p_run)
    want = translate_images(state, exact[None, :, :, None])[0, ..., 0]
    np.testing.assert_array_equal(np.asarray(Image.open(out / "exact.png")), want)
    # Errors: one line naming the problem.
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.translate",
            f"--workdir={p2p_run}",
            f"--input={tmp_path / 'missing'}",
            f"--out={out}",
        ],
        capture_output=True,
        text=True,
        cwd=pathlib.Path(__file__).parents[1],
    )
    assert proc.returncode == 1 and "does not exist" in proc.stderr
    with pytest.raises(ValueError, match="trained AtoB"):
        translate.translate_files(p2p_run, [folder / "exact.png"], out, direction="BtoA")


def test_translate_refuses_other_methods(tiny_gan_run, tmp_path):
    with pytest.raises(ValueError, match="needs a pix2pix run"):
        translate.translate_files(tiny_gan_run, [], tmp_path)


def test_bad_settings_are_refused(mnist_dir):
    with pytest.raises(ValueError, match="fid_every_steps must be 0"):
        Pix2Pix(_config(mnist_dir, **{"eval.fid_every_steps": 10}))
    with pytest.raises(ValueError, match="d_type"):
        Pix2Pix(_config(mnist_dir, **{"model.d_type": "global"}))
    with pytest.raises(ValueError, match="gan_mode"):
        Pix2Pix(_config(mnist_dir, **{"loss.gan_mode": "hinge"}))
    with pytest.raises(ValueError, match="crop_size"):
        Pix2Pix(_config(mnist_dir, **{"data.crop_size": 40}))
    assert methods.method_class("pix2pix") is Pix2Pix


def test_set_fid_matches_pytorch_fid(mnist_dir, tiny_classifier, refs):  # noqa: F811
    c = _config(mnist_dir, **{"eval.extractor": f"classifier:{tiny_classifier}"})
    from ganjax.training import parallel

    ev = SetEvaluator(c, parallel.create_mesh(1), (28, 28, 1))
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (60, 28, 28, 1), dtype=np.uint8)
    fake = np.clip(real.astype(int) + rng.integers(-60, 61, real.shape), 0, 255).astype(np.uint8)
    got = ev.score(real, fake)
    fr, ff = ev.features(real).astype(np.float64), ev.features(fake).astype(np.float64)
    want = refs.pytorch_fid(
        ff.mean(0), np.cov(ff, rowvar=False), fr.mean(0), np.cov(fr, rowvar=False)
    )
    assert got["fid"] == pytest.approx(want, rel=1e-4, abs=1e-6)
    assert ev.score(real, real)["fid"] == pytest.approx(0.0, abs=1e-6)
    few = ev.score(real[:4], fake[:4])  # Too few for the k-NN metrics: FID and KID only.
    assert np.isfinite(few["fid"]) and "precision" not in few


def test_set_features_of_cached_sets_are_extracted_once(mnist_dir, tiny_classifier):
    """CycleGAN scores the inputs against the other domain (its identity floor) every
    evaluation: both are cached real sets, so their features are reused."""
    c = _config(mnist_dir, **{"eval.extractor": f"classifier:{tiny_classifier}"})
    from ganjax.training import parallel

    ev = SetEvaluator(c, parallel.create_mesh(1), (28, 28, 1))
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (30, 28, 28, 1), dtype=np.uint8)
    b = rng.integers(0, 128, (30, 28, 28, 1), dtype=np.uint8)
    calls = []
    extract = ev.extract
    ev.extract = lambda x: calls.append(len(x)) or extract(x)
    ev.extract.batch_size = extract.batch_size
    fake = np.clip(b.astype(int) + 40, 0, 255).astype(np.uint8)
    first = (ev.score(b, fake), ev.score(a, b))  # a's and b's features, then b scored as fake.
    assert sum(calls) == 3 * len(a)
    again = ev.score(a, b)
    assert sum(calls) == 3 * len(a) and again == first[1]
    fresh = SetEvaluator(c, parallel.create_mesh(1), (28, 28, 1)).score(a, b)
    assert fresh == pytest.approx(first[1], rel=1e-6)
    assert ev.score(b, fake) == pytest.approx(first[0], rel=1e-6)  # A new fake is extracted.
    assert sum(calls) == 4 * len(a)


def _make_facades(root: pathlib.Path, split_sizes=(("train", 6), ("test", 3))) -> pathlib.Path:
    """The authors' layout: <root>/facades/<split>/<i>.jpg, photo (A) | labels (B) side by side."""
    rng = np.random.default_rng(0)
    for split, n in split_sizes:
        (root / "facades" / split).mkdir(parents=True)
        for i in range(n):
            image = rng.integers(0, 256, (40, 80, 3), dtype=np.uint8)
            Image.fromarray(image).save(root / "facades" / split / f"{i + 1}.jpg", quality=95)
    return root


def test_facades_config_runs_on_the_authors_layout(tmp_path):
    c = facades_pix2pix.get_config("tiny")
    c.data.manual_dir = str(_make_facades(tmp_path / "data"))
    c.eval.max_test_examples = 0
    c.eval.kid_subset_size = 2
    c.eval.every_steps = 6
    results = train.train_and_evaluate(c, tmp_path / "run")
    assert results["protocol"]["num_pairs"] == 3 and np.isfinite(results["ssim"])
    assert results["protocol"]["distribution_metrics"]["extractor"].startswith("inception_v3")
    info = json.loads((tmp_path / "run" / "data_info.json").read_text())
    assert info["image_shape"] == [32, 32, 3] and info["num_train_examples"] == 6


def test_facades_missing_names_the_files(tmp_path):
    c = facades_pix2pix.get_config("tiny")
    c.data.manual_dir = str(tmp_path / "nothing")
    with pytest.raises(DatasetNotFoundError, match="facades.tar.gz"):
        train.train_and_evaluate(c, tmp_path / "run")
