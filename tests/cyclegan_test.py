"""The CycleGAN method (ganjax/methods/cyclegan.py).

Resume exactness (the history buffers included: they are leaves of the compared state) and
1-vs-4-device equality come from the loop's shared tests (tests/train_test.py).
"""

import json
import pathlib
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from configs import fashion_mnist_cyclegan, horse2zebra_cyclegan
from ganjax.data import DatasetNotFoundError, to_float_images
from ganjax.methods.cyclegan import (
    D_A,
    D_B,
    G_A,
    G_B,
    POOL_A,
    POOL_B,
    CycleGAN,
    UnpairedBatchIterator,
    translate_images,
)
from ganjax.training import sampling, train
from tests import fixtures
from tests.train_test import tiny


def _config(mnist_dir, **overrides):
    return tiny(fashion_mnist_cyclegan, mnist_dir, **overrides)


@pytest.fixture(scope="module")
def cg_run(mnist_dir, tmp_path_factory) -> pathlib.Path:
    """A tiny run trained through the command line (its summary line is checked too), once for
    all workers (tests/conftest.py's `built_once`)."""
    from tests.conftest import built_once

    def build(folder):
        summary = "Test: FID A->B "
        fixtures.train_tiny_by_command(
            "fashion_mnist_cyclegan.py", mnist_dir, folder / "run", summary
        )

    return built_once(tmp_path_factory, "cyclegan_tiny_run", build) / "run"


def test_tiny_run_writes_per_direction_metrics_and_grids(cg_run):
    results = json.loads((cg_run / "results.json").read_text())
    for key in ("fid_a2b", "fid_b2a", "cycle_l1", "fid_a2b_identity", "kid_a2b", "kid_b2a"):
        assert np.isfinite(results[key]), key
    assert 0 < results["cycle_l1"] < 1
    assert results["cycle_l1"] == pytest.approx(
        0.5 * (results["cycle_l1_a"] + results["cycle_l1_b"])
    )
    p = results["protocol"]
    assert p["split"] == "test" and 5 < p["num_test_a"] <= 12 and 5 < p["num_test_b"] <= 12
    evals = [json.loads(line) for line in (cg_run / "eval.jsonl").read_text().splitlines()]
    assert [e["step"] for e in evals] == [3, 6]
    grid = np.asarray(Image.open(cg_run / "samples" / "step_0000006.png"))
    assert grid.shape[:2] == (2 * 30 + 2, 6 * 30 + 2)  # 2 rows of 6.
    # Column 0 holds the test sneakers (A), column 3 the test ankle boots (B), as stored.
    state, config, method, _ = sampling.restore_run(cg_run)
    test = method.load_data().splits["test"]
    np.testing.assert_array_equal(grid[2:30, 2:30], test["a"][0][..., 0])
    np.testing.assert_array_equal(grid[2:30, 2 + 3 * 30 : 30 + 3 * 30], test["b"][0][..., 0])
    # The history buffers are in the checkpoint: 6 steps x 4 fakes filled the 6 slots.
    for name in (POOL_A, POOL_B):
        assert int(state.extra[name].count) == 6
        assert np.all(np.asarray(jnp.abs(state.extra[name].images).sum(axis=(1, 2, 3))) > 0)


def test_step_matches_direct_gradients(mnist_dir):
    """Every network's gradient equals jax.grad of the losses written out directly (numpy-style
    means, the authors' formulas), with D updated on the pooled fakes."""
    method = CycleGAN(_config(mnist_dir))
    data = method.load_data()
    state = method.create_state(data, jax.random.key(2), 10, 10)
    batch = {k: jnp.asarray(v) for k, v in method.batches(data, 0).batch_at(0).items()}
    key = jax.random.key(5)
    new_state, metrics, grads = jax.jit(method.step_with_gradients)(state, batch, key)

    a, b = to_float_images(batch["a"]), to_float_images(batch["b"])
    nets = {n: state[n] for n in (G_A, G_B, D_A, D_B)}

    def run(name, params, x):
        return nets[name].apply_fn({"params": params}, x, train=True)

    def g_total(pa, pb):
        fake_b, fake_a = run(G_A, pa, a), run(G_B, pb, b)
        rec_a, rec_b = run(G_B, pb, fake_b), run(G_A, pa, fake_a)
        gan = jnp.mean((run(D_A, nets[D_A].params, fake_b) - 1.0) ** 2) + jnp.mean(
            (run(D_B, nets[D_B].params, fake_a) - 1.0) ** 2
        )
        cycle = 10.0 * jnp.mean(jnp.abs(rec_a - a)) + 10.0 * jnp.mean(jnp.abs(rec_b - b))
        idt = 5.0 * jnp.mean(jnp.abs(run(G_A, pa, b) - b)) + 5.0 * jnp.mean(
            jnp.abs(run(G_B, pb, a) - a)
        )
        return gan + cycle + idt

    # Jitted: one program per reference instead of one compile per op (eager mode).
    g_value, (want_ga, want_gb) = jax.jit(jax.value_and_grad(g_total, argnums=(0, 1)))(
        nets[G_A].params, nets[G_B].params
    )
    assert float(metrics["g/loss"]) == pytest.approx(float(g_value), rel=1e-6)

    # The pools start empty and hold 6: this batch of 4 is stored and returned unchanged.
    fake_b = jax.jit(lambda p: run(G_A, p, a))(nets[G_A].params)
    fake_a = jax.jit(lambda p: run(G_B, p, b))(nets[G_B].params)

    def d_loss(params, name, real, fake):
        return 0.5 * (
            jnp.mean((run(name, params, real) - 1.0) ** 2) + jnp.mean(run(name, params, fake) ** 2)
        )

    d_grad = jax.jit(jax.grad(d_loss), static_argnums=1)
    want_da = d_grad(nets[D_A].params, D_A, b, fake_b)
    want_db = d_grad(nets[D_B].params, D_B, a, fake_a)
    for name, want in ((G_A, want_ga), (G_B, want_gb), (D_A, want_da), (D_B, want_db)):
        # float32 sums in another order (another program): noise ~1e-6 of the network's gradient
        # scale. (Biases before instance norm have exactly zero gradient: only noise there.)
        scale = max(float(np.abs(np.asarray(x)).max()) for x in jax.tree.leaves(want))
        for got, ref in zip(jax.tree.leaves(grads[name]), jax.tree.leaves(want)):
            np.testing.assert_allclose(
                np.asarray(got), np.asarray(ref), rtol=1e-4, atol=1e-5 * scale
            )
    np.testing.assert_allclose(
        np.asarray(new_state.extra[POOL_B].images[:4]), np.asarray(fake_b), atol=1e-6
    )
    assert int(new_state.extra[POOL_A].count) == 4 and int(new_state.step) == 1


def test_unpaired_batches_follow_the_authors_sampling():
    rng = np.random.default_rng(0)
    data = {
        "a": rng.integers(0, 256, (5, 8, 8, 1), dtype=np.uint8),
        "b": rng.integers(0, 256, (9, 8, 8, 1), dtype=np.uint8),
    }
    kwargs = dict(batch_size=3, seed=1, load_size=8, crop_size=8, flip=False)
    it = UnpairedBatchIterator(data, **kwargs)
    assert it.steps_per_epoch == 3  # max(|A|, |B|) // batch.
    seen_a = []
    for step in range(it.steps_per_epoch):
        batch = it.batch_at(step)
        assert batch["a"].shape == batch["b"].shape == (3, 8, 8, 1)
        for image in batch["a"]:
            seen_a.append(int(np.flatnonzero((data["a"] == image).all(axis=(1, 2, 3)))[0]))
        for image in batch["b"]:
            assert (data["b"] == image).all(axis=(1, 2, 3)).any()
    assert sorted(set(seen_a)) == [0, 1, 2, 3, 4]  # 9 draws of index mod 5 cover A.
    again = UnpairedBatchIterator(data, **kwargs).batch_at(2)
    np.testing.assert_array_equal(again["b"], it.batch_at(2)["b"])


def test_translate_directions_and_batching(cg_run):
    state, _, method, _ = sampling.restore_run(cg_run)
    test = method.load_data().splits["test"]
    one = translate_images(state, test["a"], direction="AtoB", batch_size=5)
    np.testing.assert_array_equal(one, translate_images(state, test["a"], batch_size=12))
    other = translate_images(state, test["a"], direction="BtoA")
    assert one.dtype == np.uint8 and not np.array_equal(one, other)
    with pytest.raises(ValueError, match="direction"):
        translate_images(state, test["a"], direction="AB")


def test_bad_settings_are_refused(mnist_dir):
    with pytest.raises(ValueError, match="fid_every_steps must be 0"):
        CycleGAN(_config(mnist_dir, **{"eval.fid_every_steps": 5}))
    with pytest.raises(ValueError, match="norm='batch'"):
        CycleGAN(_config(mnist_dir, **{"model.norm": "batch"}))
    with pytest.raises(ValueError, match="gan_mode"):
        CycleGAN(_config(mnist_dir, **{"loss.gan_mode": "wgan"}))
    with pytest.raises(ValueError, match="lambda"):
        CycleGAN(_config(mnist_dir, **{"loss.lambda_a": -1.0}))


def _make_horse2zebra_zip(root: pathlib.Path) -> pathlib.Path:
    """The authors' archive: horse2zebra.zip holding horse2zebra/{trainA,...}/*.jpg."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    with zipfile.ZipFile(root / "horse2zebra.zip", "w") as z:
        for sub, n in (("trainA", 5), ("trainB", 7), ("testA", 6), ("testB", 7)):
            for i in range(n):
                image = Image.fromarray(rng.integers(0, 256, (40, 44, 3), dtype=np.uint8))
                path = root / f"{sub}_{i}.jpg"
                image.save(path, quality=95)
                z.write(path, f"horse2zebra/{sub}/n{i:03d}.jpg")
                path.unlink()
    return root


def test_horse2zebra_config_runs_on_the_authors_archive(tmp_path):
    c = horse2zebra_cyclegan.get_config("tiny")
    c.data.manual_dir = str(_make_horse2zebra_zip(tmp_path / "data"))
    # The archive's reader is what is tested here: no evaluation (the set FID on horse2zebra runs
    # in tests/real_runs_test.py with the real Inception, and on the tiny run below).
    c.eval.every_steps = -1
    results = train.train_and_evaluate(c, tmp_path / "run")
    assert results["step"] == c.train.num_steps and np.isfinite(results["d_loss"])
    info = json.loads((tmp_path / "run" / "data_info.json").read_text())
    assert info["image_shape"] == [32, 32, 3] and info["num_train_b"] == 7
    assert info["num_test_a"] == 6 and info["num_test_b"] == 7


def test_horse2zebra_missing_names_the_files(tmp_path):
    c = horse2zebra_cyclegan.get_config("tiny")
    c.data.manual_dir = str(tmp_path / "nothing")
    with pytest.raises(DatasetNotFoundError, match="horse2zebra"):
        train.train_and_evaluate(c, tmp_path / "run")


@pytest.mark.parametrize("method_name", ["cyclegan", "pix2pix_instance", "pixelgan_instance"])
def test_held_biases_are_exactly_the_cancelled_ones(method_name, mnist_dir):
    """Every bias a method holds fixed is cancelled by the instance norm after it (shifting it
    leaves the network's output unchanged); every bias it trains is not."""
    from configs import fashion_mnist_pix2pix
    from ganjax.methods.pix2pix import Pix2Pix
    from ganjax.models.instance_norm import zero_cancelled_bias_grads
    from ganjax.models.patchgan import conditional_input

    if method_name == "cyclegan":
        method = CycleGAN(_config(mnist_dir))
    else:
        c = fashion_mnist_pix2pix.get_config("tiny")
        c.data.manual_dir = str(mnist_dir)
        c.model.norm = "instance"
        c.model.d_type = "pixel" if method_name.startswith("pixelgan") else "patch"
        method = Pix2Pix(c)
    data = method.load_data()
    state = method.create_state(data, jax.random.key(0), 1, 1)
    x = jax.random.uniform(jax.random.key(1), (2, *data.image_shape), minval=-1.0)
    for name, net in state.nets.items():
        inputs = conditional_input(x, x) if name == "discriminator" else x
        ones = jax.tree.map(jnp.ones_like, net.params)
        held = zero_cancelled_bias_grads(ones, keep=method.bias_keep[name])
        base = net.apply(inputs, train=False)[0]
        flat = jax.tree_util.tree_flatten_with_path(held)[0]
        biases = [(p, h) for p, h in flat if getattr(p[-1], "key", None) == "bias"]
        assert biases, name
        for path, h in biases:
            shifted = jax.tree_util.tree_map_with_path(
                lambda q, v, path=path: v + 0.5 if q == path else v, net.params
            )
            out = net.apply(inputs, params=shifted, train=False)[0]
            changed = float(jnp.abs(out - base).max()) > 1e-4
            assert changed == bool(np.all(np.asarray(h) == 1)), (name, jax.tree_util.keystr(path))


def test_every_generator_pass_has_its_own_dropout_key(mnist_dir):
    """G_A(a), G_B(G_A(a)), G_B(b), G_A(G_B(b)) and the two identity passes: six dropout keys
    (they used to share one, so the same mask was reused across passes of a network)."""
    method = CycleGAN(_config(mnist_dir))
    data = method.load_data()
    state = method.create_state(data, jax.random.key(2), 10, 10)
    seen, calls = [], []

    def record(net):
        apply_fn = net.apply_fn

        def recording(variables, x, **kwargs):
            key = jax.random.key_data(kwargs["rngs"]["dropout"])
            jax.debug.callback(lambda k: seen.append(tuple(np.asarray(k))), key)
            calls.append(None)
            # The keys are what is checked: the first pass runs the ResNet, the others an
            # identity, which keeps the step's compilation short.
            return apply_fn(variables, x, **kwargs) if len(calls) == 1 else x

        return net.replace(apply_fn=recording)

    state = state.with_nets(**{n: record(state[n]) for n in (G_A, G_B)})
    batch = {k: jnp.asarray(v) for k, v in method.batches(data, 0).batch_at(0).items()}
    assert method.config.loss.lambda_identity > 0
    jax.block_until_ready(jax.jit(method.step_with_gradients)(state, batch, jax.random.key(5)))
    jax.effects_barrier()
    assert len(seen) == 6 and len(set(seen)) == 6
