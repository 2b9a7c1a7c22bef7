"""The train step and the real train_and_evaluate loop on tiny configs."""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import fashion_mnist_dcgan, fashion_mnist_gan
from ganjax import checkpointing, losses, train
from ganjax.data import pipeline

REPO = pathlib.Path(__file__).resolve().parents[1]


def tiny(module, data_dir, **overrides):
    c = module.get_config("tiny")
    c.data.manual_dir = str(data_dir)
    for key, value in overrides.items():
        node = c
        *path, last = key.split(".")
        for p in path:
            node = node[p]
        node[last] = value
    return c


def _params(state):
    return jax.device_get({"g": state.g_params, "d": state.d_params})


def test_discriminator_step_lowers_its_loss(mnist_dir):
    config = tiny(fashion_mnist_dcgan, mnist_dir)
    state = train.create_train_state(config, (28, 28, 1), jax.random.key(0), 10, 100)
    rng = np.random.default_rng(0)
    batch = {"image": jnp.asarray(rng.integers(0, 256, (1, 16, 28, 28, 1), dtype=np.uint8))}
    fake = jnp.asarray(rng.uniform(-1, 1, (16, 28, 28, 1)), jnp.float32)
    real = train.to_float_images(batch["image"][0])

    def d_loss(s):
        r, _ = train._apply(s.d_apply_fn, s.d_params, s.d_batch_stats, real)
        f, _ = train._apply(s.d_apply_fn, s.d_params, s.d_batch_stats, fake)
        return float(losses.discriminator_loss(real_logits=r, fake_logits=f, loss_type="non_saturating")[0])

    before = d_loss(state)
    new_state, metrics = jax.jit(train.train_step, static_argnums=3)(state, batch, jax.random.key(1), train.step_config(config))
    assert int(new_state.step) == 1
    assert d_loss(new_state) < before
    assert set(metrics) >= {"d/loss", "d/loss_real", "d/loss_fake", "g/loss", "d/grad_norm", "g/grad_norm"}
    assert all(np.isfinite(float(v)) for v in metrics.values())


def test_train_and_evaluate_writes_everything(mnist_dir, tmp_path):
    config = tiny(fashion_mnist_gan, mnist_dir)
    results = train.train_and_evaluate(config, tmp_path)
    assert results["step"] == 6
    assert np.isfinite(results["d_loss"]) and np.isfinite(results["g_loss"]) and results["images_per_sec"] > 0
    assert json.loads((tmp_path / "results.json").read_text())["g_loss"] == results["g_loss"]
    assert json.loads((tmp_path / "config.json").read_text())["data"]["name"] == "fashion_mnist"
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["step_0000003.png", "step_0000006.png"]
    assert (tmp_path / "loss_curves.png").stat().st_size > 1000
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    records = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 3, 4, 6]
    assert sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()) == [3, 6]
    from PIL import Image

    grid = np.asarray(Image.open(tmp_path / "samples" / "step_0000006.png"))
    assert grid.shape == (4 * 30 + 2, 4 * 30 + 2) and grid.std() > 0  # 16 samples, 2 px padding.


def test_resume_matches_uninterrupted_run(mnist_dir, tmp_path, monkeypatch):
    config = tiny(fashion_mnist_dcgan, mnist_dir, **{"model.ema_decay": 0.9})
    full = train.train_and_evaluate(config, tmp_path / "full")
    reference = _params(checkpointing.Checkpointer(tmp_path / "full").restore(
        train.create_train_state(config, (28, 28, 1), jax.random.key(0), 16, 6)))

    original = pipeline.BatchIterator.batch_at

    def crash_at_step_4(self, step):
        if step == 3:  # Batch 3 feeds training step 4: the run dies after checkpoint 3.
            raise KeyboardInterrupt("simulated preemption")
        return original(self, step)

    monkeypatch.setattr(pipeline.BatchIterator, "batch_at", crash_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        train.train_and_evaluate(config, tmp_path / "resumed")
    assert checkpointing.Checkpointer(tmp_path / "resumed").latest_step() == 3
    monkeypatch.setattr(pipeline.BatchIterator, "batch_at", original)
    resumed = train.train_and_evaluate(config, tmp_path / "resumed")
    got = _params(checkpointing.Checkpointer(tmp_path / "resumed").restore(
        train.create_train_state(config, (28, 28, 1), jax.random.key(0), 16, 6)))
    diff = max(float(np.abs(a - b).max()) for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(reference)))
    print(f"resume max |param diff| = {diff:.3g}")
    assert diff <= 1e-6
    assert resumed["g_loss"] == pytest.approx(full["g_loss"], abs=1e-6)


def test_divergence_stops_with_clear_error_and_keeps_checkpoint(mnist_dir, tmp_path):
    config = tiny(fashion_mnist_gan, mnist_dir, **{"train.num_steps": 12})
    config.optim.d.learning_rate = 1e30  # Certain to blow up after the first updates.
    config.optim.g.learning_rate = 1e30
    with pytest.raises(train.NonFiniteError, match="learning_rate") as info:
        train.train_and_evaluate(config, tmp_path)
    assert "non-finite" in str(info.value)
    ckpt = checkpointing.Checkpointer(tmp_path)
    for step in ckpt.all_steps():  # Whatever was saved is finite.
        state = ckpt.restore(train.create_train_state(config, (28, 28, 1), jax.random.key(0), 16, 12), step)
        assert checkpointing.tree_is_finite(state)


def test_corrupt_checkpoint_gives_clear_error(mnist_dir, tmp_path):
    config = tiny(fashion_mnist_gan, mnist_dir)
    train.train_and_evaluate(config, tmp_path)
    for f in (tmp_path / "checkpoints" / "6").rglob("*"):
        if f.is_file():
            f.write_bytes(b"garbage")
    with pytest.raises(checkpointing.CheckpointError, match="resume from step 3"):
        train.train_and_evaluate(config, tmp_path)


def test_interrupted_save_leaves_previous_checkpoint_readable(mnist_dir, tmp_path):
    config = tiny(fashion_mnist_gan, mnist_dir)
    train.train_and_evaluate(config, tmp_path)
    # A save killed mid-write leaves orbax's temporary folder behind, never a final step folder.
    partial = tmp_path / "checkpoints" / "9.orbax-checkpoint-tmp-1234"
    partial.mkdir()
    (partial / "junk").write_bytes(b"\0" * 10)
    ckpt = checkpointing.Checkpointer(tmp_path)
    assert ckpt.latest_step() == 6
    state = ckpt.restore(train.create_train_state(config, (28, 28, 1), jax.random.key(0), 16, 6))
    assert int(state.step) == 6


def test_one_device_equals_four_devices(mnist_dir, tmp_path):
    """Same global batch on 1 and on 4 (forced CPU) devices: same losses and parameters."""
    script = textwrap.dedent(f"""
        import json, jax, numpy as np
        from configs import fashion_mnist_dcgan
        from ganjax import checkpointing, train
        assert jax.device_count() == 4
        out = {{}}
        params = {{}}
        for n in (1, 4):
            c = fashion_mnist_dcgan.get_config("tiny")
            c.data.manual_dir = {str(mnist_dir)!r}
            wd = {str(tmp_path)!r} + f"/dev{{n}}"
            r = train.train_and_evaluate(c, wd, num_devices=n)
            out[f"g_loss_{{n}}"], out[f"d_loss_{{n}}"] = r["g_loss"], r["d_loss"]
            s = checkpointing.Checkpointer(wd).restore(train.create_train_state(c, (28, 28, 1), jax.random.key(0), 16, 6))
            params[n] = jax.device_get((s.g_params, s.d_params, s.g_batch_stats, s.d_batch_stats))
        out["max_param_diff"] = max(float(np.abs(a - b).max()) for a, b in zip(jax.tree.leaves(params[1]), jax.tree.leaves(params[4])))
        print(json.dumps(out))
    """)
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print(out)
    assert out["max_param_diff"] < 1e-5
    assert out["g_loss_1"] == pytest.approx(out["g_loss_4"], abs=1e-5)
    assert out["d_loss_1"] == pytest.approx(out["d_loss_4"], abs=1e-5)
