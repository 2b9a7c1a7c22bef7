"""The post-hoc encoder of a trained DCGAN (ganjax/posthoc_encoder.py) and the code spaces of
runs (ganjax/code_space.py)."""

from __future__ import annotations

import json
import shutil

import jax.numpy as jnp
import numpy as np
import pytest

from ganjax import code_space, posthoc_encoder
from ganjax.data import load_split


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
    again = posthoc_encoder.train(run, settings)  # Finished: found, not retrained.
    assert again == json.loads((run / "encoder" / "encoder.json").read_text())
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


def test_runs_that_cannot_take_a_posthoc_encoder(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"method": "ssl_gan", "model": {"name": "dcgan"}}))
    (run / "data_info.json").write_text(json.dumps({"image_shape": [28, 28, 1]}))
    with pytest.raises(ValueError, match="unconditional DCGAN"):
        code_space.load_code_space(run)
    with pytest.raises(FileNotFoundError, match="not a ganjax run"):
        code_space.load_code_space(tmp_path / "nothing")
