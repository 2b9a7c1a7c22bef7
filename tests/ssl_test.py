"""Semi-supervised GAN: losses, label budgets, weight-norm init, learning, and the commands."""

import json
import math
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import cifar10_ssl, fashion_mnist_ssl, mnist_ssl, svhn_ssl, svhn_ssl_seeds
from ganjax import methods
from ganjax.data import labeled
from ganjax.models.weight_norm import WNConv, WNDense
from ganjax.objectives import losses
from ganjax.training import train

REPO = pathlib.Path(__file__).resolve().parents[1]
L = jnp.asarray


def lse(xs):
    m = max(xs)
    return m + math.log(sum(math.exp(x - m) for x in xs))


def softplus(x):
    return math.log1p(math.exp(-abs(x))) + max(x, 0.0)


def test_gan_logit_implicit_and_explicit():
    logits = L([[1.0, 2.0, 0.5], [-1.0, 0.0, 3.0]])
    np.testing.assert_allclose(
        losses.gan_logit(logits, extra_class=False), [lse([1, 2, 0.5]), lse([-1, 0, 3])], rtol=1e-6
    )
    np.testing.assert_allclose(
        losses.gan_logit(logits, extra_class=True),
        [lse([1, 2]) - 0.5, lse([-1, 0]) - 3.0],
        rtol=1e-6,
    )
    # P(real) = Z / (Z + 1) with the fake logit fixed at 0.
    z = sum(math.exp(v) for v in (1.0, 2.0, 0.5))
    assert float(jax.nn.sigmoid(losses.gan_logit(logits, extra_class=False))[0]) == pytest.approx(
        z / (z + 1), rel=1e-6
    )


def test_ssl_loss_hand_computed():
    lab = L([[2.0, 0.0], [0.0, 1.0]])
    unl, fake = L([[1.0, 1.0]]), L([[-1.0, 0.0]])
    total, parts = losses.ssl_discriminator_loss(
        lab_logits=lab,
        labels=L([0, 1]),
        unl_logits=unl,
        fake_logits=fake,
        extra_class=False,
    )
    ce = (-(2 - lse([2, 0])) - (1 - lse([0, 1]))) / 2
    unsup = 0.5 * (softplus(-lse([1, 1])) + softplus(lse([-1, 0])))
    assert float(parts["loss_sup"]) == pytest.approx(ce, rel=1e-6)
    assert float(parts["loss_unsup"]) == pytest.approx(unsup, rel=1e-6)
    assert float(total) == pytest.approx(ce + unsup, rel=1e-6)


def test_extreme_logits_stay_finite():
    big = L([[1e4, -1e4, 5e3], [-1e4, -1e4, -1e4]])
    for extra in (False, True):
        total, parts = losses.ssl_discriminator_loss(
            lab_logits=big,
            labels=L([1, 0]),
                unl_logits=big,
            fake_logits=-big,
            extra_class=extra,
        )
        assert all(np.isfinite(float(v)) for v in [total, *parts.values()])
    # log(exp(-1e4) * 3) = -1e4 + log 3, computed without underflow.
    assert float(losses.gan_logit(L([[-1e4, -1e4, -1e4]]), extra_class=False)[0]) == pytest.approx(
        -1e4 + math.log(3)
    )


def test_cross_entropy_matches_optax_and_stays_finite():
    logits = L([[2.0, 0.0], [0.0, 5.0], [1e4, -1e4]])
    labels = L([0, 0, 1])
    ours = float(losses.cross_entropy(logits=logits, labels=labels))
    ref = float(optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean())
    hand = (-(2 - lse([2, 0])) - (0 - lse([0, 5])) + 2e4) / 3
    assert ours == pytest.approx(ref, rel=1e-6) and ours == pytest.approx(hand, rel=1e-6)


def test_labeled_subset_balanced_deterministic_seeded():
    labels = np.repeat(np.arange(10), 50)
    a = labeled.labeled_subset(labels, 100, seed=0)
    assert np.bincount(labels[a]).tolist() == [10] * 10 and len(set(a)) == 100
    np.testing.assert_array_equal(a, labeled.labeled_subset(labels, 100, seed=0))
    assert not np.array_equal(a, labeled.labeled_subset(labels, 100, seed=1))
    np.testing.assert_array_equal(
        labeled.labeled_subset(labels, 20, seed=0, mode="first_n"), np.arange(20)
    )
    with pytest.raises(ValueError, match="divisible"):
        labeled.labeled_subset(labels, 25, seed=0)


def test_validation_split_disjoint_from_test_and_seeded():
    val, test = labeled.split_validation(1000, 0.5, seed=3)
    assert (
        len(val) == len(test) == 500
        and not set(val) & set(test)
        and set(val) | set(test) == set(range(1000))
    )
    np.testing.assert_array_equal(val, labeled.split_validation(1000, 0.5, seed=3)[0])


@pytest.mark.parametrize(
    "num_labeled,batch_size",
    [(100, 100), (100, 64), (20, 20), (1000, 128), (30, 7), (10, 25), (10, 20)],
)
def test_labeled_batches_hold_each_image_at_most_once_and_equally_often(num_labeled, batch_size):
    order = labeled.LabeledOrder(num_labeled, batch_size, seed=4)
    whole, rest = divmod(batch_size, num_labeled) if batch_size > num_labeled else (0, batch_size)
    steps = 2 * order.period_steps
    batches = [order.positions(t) for t in range(steps)]
    for b in batches:
        counts = np.bincount(b, minlength=num_labeled)
        assert len(b) == batch_size and counts.sum() == whole * num_labeled + rest
        if batch_size <= num_labeled:
            assert counts.max() == 1  # No labeled image twice in a batch.
        else:  # B // L whole passes, the remainder distinct.
            assert counts.min() == whole and counts.max() == whole + (rest > 0)
    # Over each period every labeled image appears exactly equally often.
    for p in range(2):
        period = np.concatenate(batches[p * order.period_steps : (p + 1) * order.period_steps])
        counts = np.bincount(period, minlength=num_labeled)
        assert counts.min() == counts.max() > 0
    # A pure function of (seed, step): any order of calls, any fresh instance, the same batch.
    again = labeled.LabeledOrder(num_labeled, batch_size, seed=4)
    for t in (steps - 1, 3, 0, steps + 5):
        np.testing.assert_array_equal(again.positions(t), order.positions(t))
    other_seed = labeled.LabeledOrder(num_labeled, batch_size, seed=5)
    assert not np.array_equal(other_seed.positions(0), batches[0])


def test_ssl_labeled_batches_are_distinct_and_resume_exactly():
    """100 labels, batches of 100: each batch is the whole labeled set once (tiling and
    shuffling gave about 63 distinct images per batch)."""
    from ganjax.methods.ssl_gan import SSLBatches

    n = 1000
    train = {"image": np.arange(n).reshape(n, 1, 1, 1), "label": np.arange(n) % 10}
    lab_idx = labeled.labeled_subset(train["label"], 100, seed=0)
    it = SSLBatches(train, lab_idx, 100, 0, 0)
    batches = [next(it) for _ in range(12)]
    for b in batches:
        assert sorted(b["lab_image"].ravel().tolist()) == sorted(lab_idx.tolist())
        np.testing.assert_array_equal(b["lab_label"], train["label"][b["lab_image"].ravel()])
    resumed = next(SSLBatches(train, lab_idx, 100, 0, 7))
    for k in ("lab_image", "lab_label", "unl_image", "unl2_image"):
        np.testing.assert_array_equal(resumed[k], batches[7][k])
    assert not np.array_equal(batches[0]["lab_image"], batches[1]["lab_image"])  # Reshuffled.


def test_weight_norm_data_dependent_init_unit_variance():
    x = jax.random.normal(jax.random.key(0), (512, 40)) * 3.0 + 1.0
    dense = WNDense(16)
    variables = dense.init(jax.random.key(1), x)
    out = dense.apply(variables, x)
    np.testing.assert_allclose(out.mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(out.std(0), 1.0, atol=1e-3)
    conv = WNConv(8, 3)
    img = jax.random.uniform(jax.random.key(2), (16, 8, 8, 3))
    out = conv.apply(conv.init(jax.random.key(3), img), img)
    np.testing.assert_allclose(out.mean((0, 1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(out.std((0, 1, 2)), 1.0, atol=1e-3)
    # Frozen scale: no gradient reaches g.
    frozen = WNDense(4, train_scale=False)
    v = frozen.init(jax.random.key(4), x)
    g = jax.grad(lambda p: jnp.sum(frozen.apply({"params": p}, x) ** 2))(v["params"])
    assert float(jnp.abs(g["g"]).max()) == 0.0 and float(jnp.abs(g["v"]).max()) > 0


def test_short_ssl_run_learns_a_separable_problem(mnist_dir, tmp_path):
    c = mnist_ssl.get_config("tiny")
    c.data.manual_dir = str(mnist_dir)
    c.train.num_steps = 40
    c.eval.every_steps = 40
    c.ckpt.every_steps = 40
    r = train.train_and_evaluate(c, tmp_path)
    print({k: r[k] for k in ("test_accuracy", "ema_test_accuracy", "labeled_train_accuracy")})
    assert r["test_accuracy"] > 0.5 and r["ema_test_accuracy"] > 0.3  # Chance is 0.1.
    info = json.loads((tmp_path / "data_info.json").read_text())
    assert info["labeled_class_counts"] == [2] * 10
    # The paper's protocol: every test image is tested, none held out for validation.
    assert (info["num_validation"], info["num_test"]) == (0, 64)
    assert (tmp_path / "accuracy_curves.png").exists() and list(
        (tmp_path / "samples").glob("*.png")
    )
    assert {"test_accuracy", "ema_test_accuracy", "labeled_train_accuracy"} <= set(r)
    # No validation split, so no validation accuracy (not a NaN in results.json).
    assert not {"val_accuracy", "ema_val_accuracy"} & set(r)


def test_paper_configs_hold_the_papers_settings():
    m = mnist_ssl.get_config()
    assert (m.model.name, tuple(m.model.d_hidden), m.model.input_noise, m.model.hidden_noise) == (
        "paper_mnist",
        (1000, 500, 250, 250, 250),
        0.3,
        0.5,
    )
    assert (m.model.latent_dist, m.model.latent_dim, m.loss.fm_distance, m.data.num_labeled) == (
        "uniform01",
        100,
        "l2",
        100,
    )
    assert (
        m.optim.d.learning_rate,
        m.optim.d.b1,
        m.optim.g.b1,
        m.train.batch_size,
        m.train.num_epochs,
    ) == (0.003, 0.5, 0.5, 100, 300)
    assert (m.data.val_fraction, m.data.max_test_examples, m.model.ema_decay) == (0, 0, 0.9999)
    c = cifar10_ssl.get_config()
    assert (
        tuple(c.model.d_widths),
        c.data.num_labeled,
        c.loss.fm_distance,
        c.train.num_epochs,
    ) == ((96, 192), 4000, "l1", 1200)
    assert (c.optim.d.learning_rate, c.optim.d.schedule, c.optim.d.decay_start_fraction) == (
        3e-4,
        "linear_decay",
        2 / 3,
    )
    assert (c.model.input_dropout, c.model.dropout) == (0.2, 0.5)
    s = svhn_ssl.get_config()
    assert (tuple(s.model.d_widths), s.data.num_labeled, s.loss.fm_distance) == (
        (64, 128),
        1000,
        "l1",
    )
    seeds = svhn_ssl_seeds.get_config()
    assert (seeds.data.labeled_mode, seeds.optim.d.schedule, seeds.optim.d.decay_rate) == (
        "first_n",
        "exponential_per_epoch",
        0.9,
    )
    assert fashion_mnist_ssl.get_config().data.num_labeled == 100
    for mod in (mnist_ssl, fashion_mnist_ssl, svhn_ssl, cifar10_ssl, svhn_ssl_seeds):
        assert (
            mod.get_config("baseline").loss.supervised_only
            and not mod.get_config().loss.supervised_only
        )
        assert mod.get_config("tiny").train.num_steps <= 10


def _run(*args):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_reproduce_command_end_to_end(mnist_dir, tmp_path):
    proc = _run(
        "experiments.reproduce",
        "--config=configs/mnist_ssl.py:tiny",
        f"--config.data.manual_dir={mnist_dir}",
        "--seeds=2",
        f"--workdir={tmp_path}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "reproduction.json").read_text())
    assert [r["seed"] for r in summary["per_seed"]] == [0, 1]
    assert (
        set(summary) >= {"ssl_test_error", "baseline_test_error"}
        and summary["ssl_test_error"]["std"] >= 0
    )
    assert "supervised-only baseline" in (tmp_path / "reproduction.md").read_text()
    # Each seed has its own labeled subset.
    a = json.loads((tmp_path / "ssl_seed0" / "results.json").read_text())
    assert a["num_labeled"] == 20


def test_sweep_command_grid_csv_and_resume(mnist_dir, tmp_path):
    args = (
        "experiments.sweep",
        "--config=configs/fashion_mnist_ssl.py:tiny",
        f"--workdir={tmp_path}",
        "--sweep=optim.d.learning_rate=1e-3,3e-4;model.dropout=0.3",
        f"--set=--config.data.manual_dir={mnist_dir}",
        "--metric=val_accuracy",
    )
    proc = _run(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = (tmp_path / "results.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[0].startswith("optim.d.learning_rate,model.dropout,status")
    run_dir = tmp_path / "optim.d.learning_rate=1e-3__model.dropout=0.3"
    assert json.loads((run_dir / "config.json").read_text())["optim"]["d"]["learning_rate"] == 1e-3
    stamp = (run_dir / "results.json").stat().st_mtime
    proc = _run(*args)  # Finished points are reused, not rerun.
    assert proc.returncode == 0 and (run_dir / "results.json").stat().st_mtime == stamp
    assert "Reusing finished run" in proc.stderr
    bad = _run(
        "experiments.sweep",
        "--config=configs/fashion_mnist_ssl.py:tiny",
        f"--workdir={tmp_path}/b",
        "--sweep=optim.d.learning_rate",
    )
    assert bad.returncode == 1 and "key=value1,value2" in bad.stderr


def test_generator_starts_unsaturated(mnist_dir):
    """G's weight-norm output layer starts at scale 1 (the paper's l2normalize), unsaturated."""
    c = mnist_ssl.get_config()
    images = np.random.default_rng(0).integers(0, 256, (200, 28, 28, 1), dtype=np.uint8)
    info = {"image_shape": [28, 28, 1], "labeled_class_counts": [20] * 10}
    data = methods.Data((28, 28, 1), info, {"train": {"image": images}})
    state = methods.get_method(c).create_state(data, jax.random.key(0), 10, 100)
    g = state["generator"]
    np.testing.assert_allclose(g.params["WNDense_0"]["g"], 1.0)  # Plain weight norm, scale 1.
    z = jax.random.uniform(jax.random.key(5), (200, 100))
    x, _ = g.apply(z, train=False)
    assert 0.05 < float(((x + 1) / 2).std()) < 0.5  # Sigmoid outputs spread, not saturated at 0/1.


def test_ssl_generator_is_evaluated_and_baseline_is_refused(mnist_dir, tmp_path, tiny_classifier):
    from configs import fashion_mnist_ssl
    from ganjax.evaluators import evaluation
    from ganjax.training import sampling

    c = fashion_mnist_ssl.get_config("tiny")
    c.data.manual_dir, c.data.cache_dir = str(mnist_dir), str(tmp_path / "cache")
    c.eval.fid_every_steps = 6
    c.eval.extractor = f"classifier:{tiny_classifier}"
    c.eval.fid_num_samples, c.eval.fid_batch_size, c.eval.kid_subset_size = 40, 20, 20
    results = train.train_and_evaluate(c, tmp_path / "ssl")
    assert (
        np.isfinite(results["fid"]) and results["protocol"]["generator_weights"] == "raw (step 6)"
    )
    _, again = evaluation.evaluate_run(
        tmp_path / "ssl", num_samples=40, fid_batch_size=20, kid_subset_size=20
    )
    assert again["fid"] == pytest.approx(results["fid"], rel=1e-5)
    base = fashion_mnist_ssl.get_config("tiny,baseline")
    base.data.manual_dir = str(mnist_dir)
    train.train_and_evaluate(base, tmp_path / "base")
    with pytest.raises(sampling.NoGeneratorError, match="supervised-only baseline"):
        evaluation.evaluate_run(tmp_path / "base")


def test_ssl_takes_the_discriminator_switches(mnist_dir):
    """DiffAugment, the gradient penalty and R1/R2 apply to the SSL GAN's real/fake game."""
    c = fashion_mnist_ssl.get_config("tiny")
    c.data.manual_dir = str(mnist_dir)
    c.data.augment = "color,translation,cutout"
    c.loss.gradient_penalty, c.loss.r1_gamma, c.loss.r2_gamma = 10.0, 1.0, 1.0
    method = methods.get_method(c)
    data = method.load_data()
    state = method.create_state(data, jax.random.key(0), 10, 100)
    batch = {k: jnp.asarray(v) for k, v in next(iter(method.batches(data, 0))).items()}
    state, metrics = jax.jit(method.train_step)(state, batch, jax.random.key(1))
    for key in ("d/gradient_penalty", "d/r1_penalty", "d/r2_penalty"):
        assert float(metrics[key]) > 0, key
    assert all(np.isfinite(float(v)) for v in metrics.values())
    c.model.spectral_norm = True
    with pytest.raises(ValueError, match="DCGAN discriminator"):
        methods.get_method(c)


def _record_rngs(net, seen: list):
    """`net` with an apply_fn that records the dropout / noise keys of every call, when the
    (jitted) step runs."""
    apply_fn = net.apply_fn

    def record(key_data):
        seen.append({k: tuple(np.asarray(v).ravel()) for k, v in key_data.items()})

    def recording(variables, *args, **kwargs):
        rngs = kwargs.get("rngs") or {}
        jax.debug.callback(record, {k: jax.random.key_data(v) for k, v in rngs.items()})
        return apply_fn(variables, *args, **kwargs)

    return net.replace(apply_fn=recording)


def test_every_discriminator_pass_has_its_own_dropout_and_noise(mnist_dir):
    """The D update's three passes and the G update's two each draw their own dropout / noise
    (the G pass used to reuse the D pass's keys: the same masks on the same fakes)."""
    c = fashion_mnist_ssl.get_config("tiny")
    c.data.manual_dir = str(mnist_dir)
    method = methods.get_method(c)
    data = method.load_data()
    state = method.create_state(data, jax.random.key(0), 10, 100)
    seen = []
    state = state.with_nets(discriminator=_record_rngs(state["discriminator"], seen))
    batch = {k: jnp.asarray(v) for k, v in next(iter(method.batches(data, 0))).items()}
    jax.block_until_ready(jax.jit(method.train_step)(state, batch, jax.random.key(1)))
    jax.effects_barrier()  # Every callback has run.
    assert len(seen) == 5  # Labeled, unlabeled, fake (D update); fake, real (G update).
    for stream in ("dropout", "noise"):
        keys = [call[stream] for call in seen]
        assert len(set(keys)) == len(keys), stream


def test_generator_step_draws_its_own_latents(monkeypatch):
    """The paper's code samples G anew in its G update: D's fakes and G's fakes are two draws."""
    from ganjax.methods import ssl_gan

    c = mnist_ssl.get_config("tiny")
    method = methods.get_method(c)
    images = np.random.default_rng(0).integers(0, 256, (60, 28, 28, 1), dtype=np.uint8)
    info = {"image_shape": [28, 28, 1], "labeled_class_counts": [2] * 10}
    data = methods.Data((28, 28, 1), info, {"train": {"image": images}})
    state = method.create_state(data, jax.random.key(0), 10, 100)
    draws = []
    real_sample = ssl_gan.models.sample_latents

    def recording(*args, **kwargs):
        z = real_sample(*args, **kwargs)
        jax.debug.callback(lambda v: draws.append(np.asarray(v)), z)  # When the step runs.
        return z

    monkeypatch.setattr(ssl_gan.models, "sample_latents", recording)
    b = c.train.batch_size
    batch = {
        "lab_image": images[:b],
        "lab_label": np.arange(b) % 10,
        "unl_image": images[:b],
        "unl2_image": images[-b:],
    }
    jax.block_until_ready(jax.jit(method.train_step)(state, batch, jax.random.key(1)))
    jax.effects_barrier()
    assert len(draws) == 2 and draws[0].shape == draws[1].shape
    assert not np.allclose(draws[0], draws[1])
