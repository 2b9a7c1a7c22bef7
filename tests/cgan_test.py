"""The class-conditional GAN method (ganjax/methods/cgan.py) and its networks.

Exact resume and 1-vs-4-device equality come from the loop's shared tests (tests/train_test.py),
which run every registered method, this one included.
"""

import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from configs import fashion_mnist_cgan
from ganjax import methods, models
from ganjax.data import load_split, to_float_images
from ganjax.evaluators import class_accuracy, extractors
from ganjax.models.conditional import create_conditional_models
from ganjax.models.dcgan import DCGANGenerator
from ganjax.training import sampling, train
from tests.experiments_test import run


def _config(mnist_dir, arg="tiny", **model):
    c = fashion_mnist_cgan.get_config(arg)
    c.data.manual_dir = str(mnist_dir)
    c.model.update(model)
    return c


@pytest.fixture(scope="module")
def cgan_run(mnist_dir, tmp_path_factory, tiny_classifier):
    """A tiny projection-D cGAN run that scores class accuracy with the tiny classifier."""
    c = _config(mnist_dir)
    c.eval.class_accuracy_samples = 20
    c.eval.extractor = f"classifier:{tiny_classifier}"
    c.data.cache_dir = str(tmp_path_factory.mktemp("cache"))  # Not the user's ~/.cache.
    workdir = tmp_path_factory.mktemp("cgan")
    return workdir, train.train_and_evaluate(c, workdir)


def _projection_d(mnist_dir, arg="tiny"):
    _, d = create_conditional_models(_config(mnist_dir, arg).model, (28, 28, 1), 10)
    x = jax.random.uniform(jax.random.key(0), (4, 28, 28, 1), minval=-1, maxval=1)
    y = jnp.asarray([0, 3, 3, 9])
    return d, d.init(jax.random.key(1), x, y, train=False), x, y


def test_projection_discriminator_projects_the_sum_pooled_features(mnist_dir):
    """Miyato and Koyama's eq. 3: logit = psi(phi) + <embed(y), phi>, phi(x) the last feature
    map summed over its spatial positions, psi linear on the same phi; by hand in numpy."""
    d, v, x, y = _projection_d(mnist_dir)
    logits, aux = d.apply(v, x, y, train=False)
    bb_vars = {k: val["backbone"] for k, val in v.items()}
    fmap = np.asarray(d.backbone.apply(bb_vars, x, train=False, features_only=True))
    assert fmap.ndim == 4 and fmap.shape[1:3] == (7, 7)  # [B, h, w, C]
    phi = fmap.sum(axis=(1, 2))  # [B, C]
    embed = np.asarray(v["params"]["Embed_0"]["embedding"])  # [K, C]
    w_psi = np.asarray(v["params"]["Dense_0"]["kernel"])  # [C, 1]
    conditional = np.sum(embed[np.asarray(y)] * phi, -1)
    assert aux is None and embed.shape == (10, fmap.shape[-1])
    np.testing.assert_allclose(np.asarray(logits), phi @ w_psi[:, 0] + conditional, rtol=1e-4)
    # The class-dependent part alone: logit(x, y) - logit(x, y') = <embed(y) - embed(y'), phi>.
    y2 = jnp.asarray([1, 1, 2, 2])
    diff = np.asarray(logits) - np.asarray(d.apply(v, x, y2, train=False)[0])
    expected = conditional - np.sum(embed[np.asarray(y2)] * phi, -1)
    np.testing.assert_allclose(diff, expected, rtol=1e-4, atol=1e-6)


def test_projection_logit_ignores_where_features_are(mnist_dir):
    """Rotating the image and every conv kernel by 180 degrees rotates every feature map (4x4
    stride-2 convs with padding 1 on even sizes are symmetric), a permutation of the last map's
    spatial positions: the sum-pooled projection D gives the same logits (the flattened form,
    psi and <embed(y), h> on the flattened map, does not)."""
    d, v, x, y = _projection_d(mnist_dir)

    def rotate_kernel(path, a):  # HWIO conv kernels: flip H and W.
        return jnp.flip(a, (0, 1)) if "Conv" in jax.tree_util.keystr(path) and a.ndim == 4 else a

    rotated = jax.tree_util.tree_map_with_path(rotate_kernel, v["params"])
    assert jax.tree_util.tree_structure(rotated) == jax.tree_util.tree_structure(v["params"])
    base = np.asarray(d.apply(v, x, y, train=False)[0])
    turned = d.apply({**v, "params": rotated}, jnp.flip(x, axis=(1, 2)), y, train=False)[0]
    np.testing.assert_allclose(np.asarray(turned), base, rtol=1e-4, atol=1e-5)

    # Any permutation of the last map's positions (applied to what the backbone returns).
    perm, permuted_maps = np.random.default_rng(0).permutation(49), []

    def permute(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        if context.method_name != "__call__" or not kwargs.get("features_only"):
            return out
        b, h, w, c = out.shape
        permuted_maps.append(out.reshape(b, h * w, c)[:, perm].reshape(b, h, w, c))
        return permuted_maps[-1]

    with nn.intercept_methods(permute):
        permuted = d.apply(v, x, y, train=False)[0]
    assert len(permuted_maps) == 1
    np.testing.assert_allclose(np.asarray(permuted), base, rtol=1e-5, atol=1e-6)


def test_acgan_losses_are_cross_entropies(mnist_dir):
    method = methods.get_method(_config(mnist_dir, "tiny,acgan"))
    rng = np.random.default_rng(0)
    real_cls, fake_cls = rng.normal(size=(5, 10)), rng.normal(size=(5, 10))
    real_y, fake_y = rng.integers(0, 10, 5), rng.integers(0, 10, 5)

    def ce(logits, y):  # numpy: -log softmax at the label, averaged.
        logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        return -logp[np.arange(len(y)), y].mean()

    d_loss, d_m = method.d_aux_loss(
        jnp.asarray(real_cls), jnp.asarray(real_y), jnp.asarray(fake_cls), jnp.asarray(fake_y)
    )
    g_loss, _ = method.g_aux_loss(jnp.asarray(fake_cls), jnp.asarray(fake_y))
    assert float(d_loss) == pytest.approx(ce(real_cls, real_y) + ce(fake_cls, fake_y), rel=1e-5)
    assert float(g_loss) == pytest.approx(ce(fake_cls, fake_y), rel=1e-5)
    assert float(d_m["ac_real_accuracy"]) == pytest.approx(np.mean(real_cls.argmax(-1) == real_y))
    proj = methods.get_method(_config(mnist_dir))
    assert proj.d_aux_loss(None, None, None, None)[0] == 0.0  # Projection D: no extra loss.


def test_conditional_batch_norm_starts_unconditional_and_learns_classes():
    g = DCGANGenerator(resolution=28, channels=1, base_features=8, num_classes=10)
    z = jnp.tile(jax.random.normal(jax.random.key(0), (1, 100)), (3, 1))
    y = jnp.asarray([0, 1, 2])
    v = g.init(jax.random.key(1), z, y, train=False)
    out = np.asarray(g.apply(v, z, y, train=False))
    np.testing.assert_allclose(out[0], out[1], atol=1e-6)  # gamma = beta = 0 at init.
    rng = np.random.default_rng(0)  # Per-class gamma/beta as training would make them.
    params = jax.tree_util.tree_map_with_path(
        lambda p, a: a + rng.normal(0, 0.5, a.shape) if "Embed" in jax.tree_util.keystr(p) else a,
        v["params"],
    )
    out = np.asarray(g.apply({**v, "params": params}, z, y, train=False))
    assert np.abs(out[0] - out[1]).max() > 1e-3 and np.abs(out[1] - out[2]).max() > 1e-3
    with pytest.raises(ValueError, match="needs labels"):
        g.apply(v, z, train=False)


def test_cgan_run_grid_rows_are_classes_and_results(cgan_run):
    workdir, results = cgan_run
    assert results["method"] == "cgan" and results["num_classes"] == 10
    assert len(results["class_accuracy_per_class"]) == 10
    assert 0.0 <= results["class_accuracy"] <= 1.0
    assert results["class_accuracy"] == pytest.approx(np.mean(results["class_accuracy_per_class"]))
    assert json.loads((workdir / "data_info.json").read_text())["num_classes"] == 10
    evals = [json.loads(l) for l in (workdir / "eval.jsonl").read_text().splitlines()]
    assert [e["step"] for e in evals] == [3, 6]
    grid = np.asarray(Image.open(workdir / "samples" / "step_0000006.png"))
    assert grid.shape[:2] == (10 * 30 + 2, 2 * 30 + 2)  # 20 samples: 10 rows (classes) of 2.
    # Row k of the grid is class k: row 3 equals generate_labeled(the row's latents, 3).
    gen = sampling.restore_generator(workdir)
    method = methods.get_method(gen.config)
    data = method.data_from_info(json.loads((workdir / "data_info.json").read_text()))
    key = jax.random.key(42)
    images = method.sample_grid(gen.state, data, key)
    assert images.shape == (20, 28, 28, 1)
    z = models.sample_latents(key, 2, gen.latent_dim, gen.latent_dist)
    row3 = np.asarray(gen.generate_labeled(z, np.full(2, 3, np.int32)))
    np.testing.assert_allclose(images[6:8], row3, atol=1e-6)
    assert np.abs(images[6:8] - images[8:10]).max() > 0  # Class 4's row differs.


def test_balanced_generate_draws_class_i_mod_k(cgan_run):
    workdir, _ = cgan_run
    gen = sampling.restore_generator(workdir)
    z = jax.random.uniform(jax.random.key(1), (12, 100), minval=-1, maxval=1)
    expected = gen.generate_labeled(z, np.arange(12) % 10)
    np.testing.assert_allclose(np.asarray(gen.generate(z)), np.asarray(expected), atol=1e-6)


def test_class_accuracy_against_direct_classification(mnist_dir, tiny_classifier):
    """A 'generator' that returns real test images of the asked class scores exactly the
    classifier's per-class accuracy on them, computed here by applying the network directly."""
    ex = extractors.create_extractor(f"classifier:{tiny_classifier}", None)
    test = load_split("fashion_mnist", "test", manual_dir=str(mnist_dir))
    per_class = 4
    by_class = {k: test["image"][test["label"] == k][:per_class] for k in range(10)}

    def generate_labeled(z, labels):
        return to_float_images(jnp.asarray(by_class[int(labels[0])]))[: len(z)]

    out = class_accuracy.conditional_accuracy(
        generate_labeled,
        ex,
        num_classes=10,
        latent_dim=8,
        latent_dist="normal",
        per_class=per_class,
    )
    expected = []
    for k in range(10):
        x = np.asarray(by_class[k], np.float32) * (2 / 255) - 1
        _, logits = ex.apply_fn(ex.variables, jnp.asarray(x))
        expected.append(float(np.mean(np.asarray(logits).argmax(-1) == k)))
    np.testing.assert_allclose(out["class_accuracy_per_class"], expected)
    assert out["class_accuracy"] == pytest.approx(np.mean(expected))
    inception = extractors.create_extractor("inception_v3:random", None)
    with pytest.raises(ValueError, match="domain classifier"):
        class_accuracy.conditional_accuracy(
            generate_labeled,
            inception,
            num_classes=10,
            latent_dim=8,
            latent_dist="normal",
            per_class=1,
        )


def test_sample_command_label(cgan_run, tiny_gan_run, tmp_path):
    workdir, _ = cgan_run
    out = tmp_path / "class7.png"
    proc = run("experiments.sample", f"--workdir={workdir}", "--num=4", "--label=7", f"--out={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "of class 7" in proc.stdout and Image.open(out).size == (2 * 30 + 2, 2 * 30 + 2)
    bad = run("experiments.sample", f"--workdir={workdir}", "--label=10", f"--out={out}")
    assert bad.returncode == 1 and "out of range" in bad.stderr and "0..9" in bad.stderr
    uncond = run("experiments.sample", f"--workdir={tiny_gan_run}", "--label=1", f"--out={out}")
    assert uncond.returncode == 1 and "class-conditional" in uncond.stderr


def test_evaluate_reports_class_accuracy_beside_fid(cgan_run, tiny_classifier):
    from ganjax.evaluators import evaluation

    workdir, _ = cgan_run
    path, result = evaluation.evaluate_run(
        workdir, extractor=f"classifier:{tiny_classifier}", num_samples=40
    )
    assert np.isfinite(result["fid"]) and len(result["class_accuracy_per_class"]) == 10
    assert result["class_accuracy_protocol"]["per_class"] == 4
    assert "class_accuracy" in evaluation.format_table(result)
    assert json.loads(path.read_text())["class_accuracy"] == result["class_accuracy"]


@pytest.mark.parametrize("arg", ["tiny,loss=hinge_sn", "tiny,loss=hinge_sn,acgan"])
def test_spectral_norm_covers_the_class_embedding_and_head(mnist_dir, arg):
    """With spectral norm, the projection's embedding and psi (or AC-GAN's head) are normalized
    too: each sigma converges to numpy's top singular value."""
    c = _config(mnist_dir, arg)
    _, d = create_conditional_models(c.model, (28, 28, 1), 10)
    x = jax.random.uniform(jax.random.key(0), (4, 28, 28, 1), minval=-1, maxval=1)
    y = jnp.arange(4)
    v = d.init(jax.random.key(1), x, y, train=False)
    step = jax.jit(lambda v: d.apply(v, x, y, train=True, mutable=["batch_stats"])[1])
    for _ in range(60):
        v = {**v, **step(v)}
    # Projection: the embedding and psi (on the pooled features); AC-GAN: the class head.
    layers = [("Embed_0", "embedding"), ("Dense_0", "kernel")]
    for i, (name, leaf) in enumerate(layers if "acgan" not in arg else layers[1:]):
        sigma = float(v["batch_stats"][f"SpectralNorm_{i}"][f"{name}/{leaf}/sigma"])
        w = np.asarray(v["params"][name][leaf])
        top = np.linalg.svd(w.reshape(-1, w.shape[-1]), compute_uv=False)[0]
        assert sigma == pytest.approx(top, rel=1e-3)
