"""The command-line entry points, run as a user runs them (subprocesses)."""

import json
import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]


def run(*args, timeout=600):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_train_then_sample_end_to_end(mnist_dir, tmp_path):
    wd = tmp_path / "run"
    proc = run(
        "experiments.train",
        "--config=configs/fashion_mnist_gan.py:tiny",
        f"--workdir={wd}",
        f"--config.data.manual_dir={mnist_dir}",
        "--config.optim.d.learning_rate=1e-4",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Samples:" in proc.stdout and "step 6/6" in proc.stderr
    config = json.loads((wd / "config.json").read_text())
    assert config["optim"]["d"]["learning_rate"] == 1e-4  # The override reached the run.
    results = json.loads((wd / "results.json").read_text())
    assert {"d_loss", "g_loss", "images_per_sec"} <= set(results)

    out = tmp_path / "grid.png"
    proc = run("experiments.sample", f"--workdir={wd}", "--num=9", f"--out={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    from PIL import Image

    assert Image.open(out).size == (3 * 30 + 2, 3 * 30 + 2)


def test_mistyped_config_key_fails_loudly(tmp_path):
    proc = run(
        "experiments.train",
        "--config=configs/fashion_mnist_gan.py:tiny",
        f"--workdir={tmp_path}",
        "--config.optim.d.learnig_rate=1e-4",
    )
    assert proc.returncode != 0
    assert "learnig_rate" in proc.stderr
    assert not (tmp_path / "config.json").exists()


def test_missing_data_directory_is_one_clear_message(tmp_path):
    proc = run(
        "experiments.train",
        "--config=configs/svhn_dcgan.py:tiny",
        f"--workdir={tmp_path}",
        f"--config.data.manual_dir={tmp_path}/nowhere",
    )
    assert proc.returncode == 1
    assert (
        "ERROR:" in proc.stderr and "train_32x32.mat" in proc.stderr and "manual_dir" in proc.stderr
    )
    assert "Traceback" not in proc.stderr


def test_sample_from_empty_workdir(tmp_path):
    proc = run("experiments.sample", f"--workdir={tmp_path}")
    assert proc.returncode == 1 and "not a ganjax run folder" in proc.stderr


def test_interpolation_rows_walk_between_two_latents(tiny_gan_run, tmp_path):
    import jax
    import numpy as np
    from PIL import Image

    from ganjax import models
    from ganjax.training import sampling

    g = sampling.restore_generator(tiny_gan_run)
    rows = sampling.interpolate_images(g, rows=2, steps=5, seed=3)
    assert rows.shape == (10, 28, 28, 1)
    z = models.sample_latents(jax.random.key(3), 4, g.latent_dim, g.latent_dist)
    ends = np.asarray(g.generate(z))
    # Row r starts at latent r and ends at latent rows + r of the same draw.
    np.testing.assert_allclose(rows[[0, 4, 5, 9]], ends[[0, 2, 1, 3]], atol=1e-5)
    assert np.abs(rows[1] - rows[0]).max() > 0  # The middle moves.

    out = tmp_path / "interp.png"
    proc = run(
        "experiments.sample", f"--workdir={tiny_gan_run}", "--num=3", "--interpolate=6",
        f"--out={out}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert Image.open(out).size == (6 * 30 + 2, 3 * 30 + 2) and "interpolated" in proc.stdout
    bad = run(
        "experiments.sample", f"--workdir={tiny_gan_run}", "--interpolate=1", f"--out={out}"
    )
    assert bad.returncode == 1 and "steps >= 2" in bad.stderr


def test_evaluate_writes_result_and_table(tiny_gan_run, tiny_classifier, tmp_path):
    args = (
        "experiments.evaluate",
        f"--workdir={tiny_gan_run}",
        f"--extractor=classifier:{tiny_classifier}",
        "--num_samples=64",
        "--batch_size=32",
        "--step=3",
    )
    proc = run(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "real-vs-real" in proc.stdout and "fid" in proc.stdout
    written = proc.stdout.strip().splitlines()[-1].removeprefix("Wrote ")
    assert pathlib.Path(written).parent == tiny_gan_run / "eval" and pathlib.Path(
        written
    ).name.startswith("3_classifier-")
    result = json.loads(pathlib.Path(written).read_text())
    assert {
        "fid",
        "kid",
        "kid_std",
        "precision",
        "recall",
        "density",
        "coverage",
        "inception_score",
        "protocol",
    } <= set(result)
    p = result["protocol"]
    assert (
        p["num_samples"] == 64
        and p["generator_weights"] == "raw (step 3)"
        and "real_vs_real_fid" in p
    )
    proc = run(*args[:-1], "--real")
    assert proc.returncode == 0, proc.stderr[-3000:]
    floor = json.loads(
        (
            tiny_gan_run / "eval" / pathlib.Path(proc.stdout.strip().splitlines()[-1]).name
        ).read_text()
    )
    assert floor["fid"] == p["real_vs_real_fid"]


def test_evaluate_bad_input_is_one_clear_message(tiny_gan_run, tmp_path):
    proc = run("experiments.evaluate", f"--workdir={tiny_gan_run}", "--extractor=vgg16")
    assert (
        proc.returncode == 1
        and "Unknown extractor 'vgg16'" in proc.stderr
        and "Traceback" not in proc.stderr
    )
    proc = run("experiments.evaluate", f"--workdir={tmp_path}")
    assert proc.returncode == 1 and "not a ganjax run folder" in proc.stderr
