"""The post-hoc encoder of a trained DCGAN (ganjax/latent/posthoc_encoder.py) and the code spaces of
runs (ganjax/latent/code_space.py)."""

from __future__ import annotations

import dataclasses
import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganjax.data import load_split
from ganjax.latent import code_space, posthoc_encoder, stage_keys


def test_latent_optimization_reaches_the_least_squares_code():
    """With a linear generator G(z) = z W and no feature term, the refined code is the least
    squares solution of z W = x (numpy's lstsq, an independent answer)."""
    rng = np.random.default_rng(0)
    w = jnp.asarray(rng.normal(size=(3, 2 * 2 * 1)), jnp.float32)
    x = jnp.asarray(rng.normal(size=(5, 2, 2, 1)), jnp.float32)

    def gen_fn(z):
        return (z @ w).reshape(-1, 2, 2, 1)

    z = posthoc_encoder.refine(
        jnp.zeros((5, 3)),
        x,
        gen_fn=gen_fn,
        feat_fn=lambda y: y[:, :1, 0, 0],
        steps=2000,
        lr=0.02,
        feature_weight=0.0,
        box=False,
    )
    want = np.linalg.lstsq(np.asarray(w).T, np.asarray(x).reshape(5, -1).T, rcond=None)[0].T
    np.testing.assert_allclose(np.asarray(z), want, atol=2e-3)
    # In the U(-1, 1) box, codes stay inside it.
    zb = posthoc_encoder.refine(
        jnp.zeros((5, 3)),
        50 * x,
        gen_fn=gen_fn,
        feat_fn=lambda y: y[:, :1, 0, 0],
        steps=50,
        lr=0.5,
        feature_weight=0.0,
        box=True,
    )
    assert float(jnp.abs(zb).max()) <= 1.0


def test_encoder_trains_resumes_and_gives_the_run_a_code_space(tiny_gan_run, mnist_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_gan_run, run)
    with pytest.raises(FileNotFoundError, match="experiments.encode --workdir"):
        code_space.load_code_space(run)
    settings = posthoc_encoder.Settings(
        steps=30, batch_size=8, features=8, refine_steps=30, refine_lr=0.05, feature_weight=0.0
    )
    record = posthoc_encoder.train(run, settings)
    assert record["done"] and record["settings"]["steps"] == 30
    assert (run / "encoder" / "checkpoints" / "30").is_dir()
    assert np.isfinite(record["heldout_latent_mse"])
    ckpt = run / "encoder" / "checkpoints" / "30"
    mtime = ckpt.stat().st_mtime_ns
    again = posthoc_encoder.train(run, settings)  # Finished, same key: found, not retrained.
    assert again == json.loads((run / "encoder" / "encoder.json").read_text())
    assert again["key"] == json.loads((run / "encoder" / "stage.json").read_text())["key"]
    assert ckpt.stat().st_mtime_ns == mtime
    # Other training settings: refused, naming them (the old code resumed the 30-step encoder
    # to 40 steps, or, for fewer steps, labeled it with the new count).
    for changed in (dataclasses.replace(settings, steps=40), dataclasses.replace(settings, seed=1)):
        with pytest.raises(stage_keys.StageMismatchError, match="--overwrite") as e:
            posthoc_encoder.train(run, changed)
        field = "steps: 30 -> 40" if changed.steps == 40 else "seed: 0 -> 1"
        assert f"settings.{field}" in str(e.value)
    assert not (run / "encoder" / "checkpoints" / "40").exists()
    # Only the latent optimization changed: the same encoder, its record takes the new setting.
    refine_only = posthoc_encoder.train(run, dataclasses.replace(settings, refine_steps=5))
    assert refine_only["settings"]["refine_steps"] == 5 and refine_only["key"] == again["key"]
    assert ckpt.stat().st_mtime_ns == mtime
    posthoc_encoder.train(run, settings)
    images = load_split("fashion_mnist", "test", manual_dir=str(mnist_dir))["image"][:6]
    refined = code_space.load_code_space(run)
    only = code_space.load_code_space(run, refine_steps=0)
    codes = refined.encode(images)
    assert codes.shape == (6, refined.latent_dim)
    assert np.abs(codes).max() <= 1.0  # The run's prior is U(-1, 1).
    # Latent optimization on the pixel error lowers the pixel reconstruction error.
    assert code_space.reconstruction_error(refined, images) < code_space.reconstruction_error(
        only, images
    )
    assert "post-hoc encoder" in refined.source
    # overwrite=True retrains under the new key.
    retrained = posthoc_encoder.train(run, dataclasses.replace(settings, steps=10), overwrite=True)
    assert retrained["settings"]["steps"] == 10 and retrained["key"] != again["key"]
    assert sorted(p.name for p in (run / "encoder" / "checkpoints").iterdir()) == ["10"]


def test_encoder_key_names_the_generator_weights(tiny_gan_run):
    """The key changes with the generator's step and weights (a run trained further)."""
    from ganjax.training import sampling

    state, config, _, _ = sampling.restore_run(tiny_gan_run)
    s = posthoc_encoder.Settings()
    base = posthoc_encoder.encoder_inputs(state, config, "ema", s)
    assert base["generator"]["step"] == int(state.step)
    later = state.replace(step=state.step + 1)
    assert posthoc_encoder.encoder_inputs(later, config, "ema", s) != base
    g = state["generator"]
    moved = state.with_nets(generator=g.replace(params=jax.tree.map(lambda p: p + 1e-3, g.params)))
    other = posthoc_encoder.encoder_inputs(moved, config, "ema", s)["generator"]
    assert other["weights_sha256"] != base["generator"]["weights_sha256"]
    assert other["step"] == base["generator"]["step"]


def test_runs_that_cannot_take_a_posthoc_encoder(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"method": "ssl_gan", "model": {"name": "dcgan"}}))
    (run / "data_info.json").write_text(json.dumps({"image_shape": [28, 28, 1]}))
    with pytest.raises(ValueError, match="unconditional DCGAN"):
        code_space.load_code_space(run)
    with pytest.raises(FileNotFoundError, match="not a ganjax run"):
        code_space.load_code_space(tmp_path / "nothing")


def test_encoder_inverts_the_ema_generator_with_its_own_batch_statistics(
    mnist_dir, tmp_path, monkeypatch
):
    """The EMA weights run with batch-norm statistics recomputed for them, as the run's samples
    and FID do (GAN.ema_generator_collections), in training, held-out scoring and code spaces."""
    from configs import fashion_mnist_dcgan
    from ganjax.training import sampling, train

    c = fashion_mnist_dcgan.get_config("tiny")
    c.data.manual_dir = str(mnist_dir)
    c.data.cache_dir = str(tmp_path / "cache")
    c.model.ema_decay = 0.5
    c.eval.fid_every_steps = 0
    run = tmp_path / "run"
    train.train_and_evaluate(c, run)
    state, _, method, data = sampling.restore_run(run)
    want = method.ema_generator_collections(state, data)
    raw = state["generator"].collections
    assert not all(np.allclose(a, b) for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(raw)))
    seen = []
    real_generate = posthoc_encoder.generate

    def recording(*args, **kwargs):
        seen.append(kwargs.get("collections"))
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(posthoc_encoder, "generate", recording)
    settings = posthoc_encoder.Settings(steps=2, batch_size=4, features=8, refine_steps=1)
    posthoc_encoder.train(run, settings)
    code_space.load_code_space(run).encode(np.zeros((2, *data.image_shape), np.uint8))
    assert len(seen) >= 3
    for got in seen:
        assert got is not None
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    inputs = posthoc_encoder.encoder_inputs(state, method.config, "ema", settings)
    assert inputs["generator"]["batch_stats"] == "recomputed for the EMA weights"
