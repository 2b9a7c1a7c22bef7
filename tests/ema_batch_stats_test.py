"""Batch-norm statistics of EMA weights (ganjax/training/ema_batch_stats.py) and the methods that
use them.

References are computed independently: the inputs of every training-mode batch-norm call are
captured and their means and variances taken in numpy (float64).
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import traverse_util

from configs import fashion_mnist_cgan, fashion_mnist_dcgan, svhn_ssl_seeds
from ganjax import methods, rng
from ganjax.data import to_float_images
from ganjax.methods import gan
from ganjax.models import layers
from ganjax.training import ema_batch_stats
from ganjax.training.train_state import NetState


def _reference_stats(apply_fn, params, collections, batches, rngs_list=None):
    """{path: (mean, var)}: per-batch numpy statistics of each BN's inputs, averaged.

    The forward pass is jitted (one program, not one per op) and hands every batch-norm input
    to the host through `jax.debug.callback`, where numpy takes its statistics."""
    seen = {}

    def record(path, x):
        x = np.asarray(x, np.float64)
        x = x.reshape(-1, x.shape[-1])
        seen[path] = (x.mean(0), x.var(0))

    def capture(next_fun, args, kwargs, context):
        m = context.module
        if context.method_name == "__call__" and isinstance(m, (nn.BatchNorm, layers.BatchNorm)):
            jax.debug.callback(functools.partial(record, m.path), args[0])
        return next_fun(*args, **kwargs)

    @jax.jit
    def forward(inputs, kw):
        with nn.intercept_methods(capture):
            apply_fn(
                {**collections, "params": params},
                *inputs,
                train=True,
                mutable=list(collections),
                **kw,
            )

    sums = {}
    for k, inputs in enumerate(batches):
        seen.clear()
        forward(tuple(inputs), {} if rngs_list is None else {"rngs": rngs_list[k]})
        jax.effects_barrier()
        for path, (mean, var) in seen.items():
            s = sums.setdefault(path, [0.0, 0.0])
            s[0], s[1] = s[0] + mean, s[1] + var
    return {path: (m / len(batches), v / len(batches)) for path, (m, v) in sums.items()}


def _with_stats(collections, stats):
    flat = traverse_util.flatten_dict(collections["batch_stats"])
    for path, (mean, var) in stats.items():
        flat[path + ("mean",)] = jnp.asarray(mean, jnp.float32)
        flat[path + ("var",)] = jnp.asarray(var, jnp.float32)
    return {**collections, "batch_stats": traverse_util.unflatten_dict(flat)}


def _perturbed(params, key, scale=0.5):
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    return tree.unflatten(
        [p * (1.0 + scale * jax.random.normal(k, p.shape)) for p, k in zip(leaves, keys)]
    )


class _Tiny(nn.Module):
    @nn.compact
    def __call__(self, x, train=True):
        h = nn.Dense(6)(x)
        h = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9)(h))
        h = nn.Dense(4)(h)
        return layers.BatchNorm(use_running_average=not train, momentum=0.8)(h)


def test_recomputed_statistics_match_numpy_per_batch_means():
    module = _Tiny()
    variables = module.init(jax.random.key(0), jnp.ones((2, 3)), train=False)
    net = NetState.create(apply_fn=module.apply, variables=variables, tx=optax.sgd(0.1))
    # Raw running statistics that are not the EMA weights' ones.
    net = net.replace(collections=jax.tree.map(lambda v: v + 3.0, net.collections))
    ema = _perturbed(net.params, jax.random.key(1))
    x = jax.random.normal(jax.random.key(2), (5, 8, 3)) * 2.0 + 1.0  # K=5 batches of 8.
    got = ema_batch_stats.recompute_batch_stats(net, ema, (x,))
    want = _reference_stats(module.apply, ema, net.collections, [(b,) for b in x])
    assert set(want) == {("BatchNorm_0",), ("BatchNorm_1",)}
    for path, (mean, var) in want.items():
        stats = got["batch_stats"]
        for leaf in path:
            stats = stats[leaf]
        np.testing.assert_allclose(stats["mean"], mean, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(stats["var"], var, rtol=1e-4, atol=1e-5)


def _gan_setup(module, name="gan", **info):
    c = module.get_config("tiny")
    c.model.ema_decay = 0.9
    method = methods.get_method(c)
    data = methods.Data((28, 28, 1), {"image_shape": [28, 28, 1], **info})
    state = method.create_state(data, jax.random.key(0), 10, 100)
    g = state[gan.G]
    ema = _perturbed(g.params, jax.random.key(3))
    # Raw running statistics of a raw G that has trained a while (not the initial 0 / 1).
    g = g.replace(collections=jax.tree.map(lambda v: v * 1.5 + 0.2, g.collections))
    state = state.with_nets(**{gan.G: g}).replace(ema={gan.G: ema})
    return c, method, data, state


def _stats_batches(method, data, c):
    key = rng.key(c.seed, "ema_batch_stats", 0)
    return [
        method.stats_inputs(data, jax.random.fold_in(key, k), c.train.batch_size)
        for k in range(ema_batch_stats.NUM_BATCHES)
    ]


def test_ema_generator_samples_with_statistics_of_the_ema_weights():
    c, method, data, state = _gan_setup(fashion_mnist_dcgan)
    gen = method.generator(state, data)
    assert gen.weights == "ema"
    g, ema = state[gan.G], state.ema[gan.G]
    stats = _reference_stats(g.apply_fn, ema, g.collections, _stats_batches(method, data, c))
    assert len(stats) >= 2  # The DCGAN generator's batch norms.
    z = jax.random.normal(jax.random.key(7), (8, c.model.latent_dim))
    want = g.apply_fn({"params": ema, **_with_stats(g.collections, stats)}, z, train=False)
    got = gen.generate(z)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=2e-4)
    # The old behaviour: the EMA weights with the raw network's running statistics.
    old = g.apply_fn({"params": ema, **g.collections}, z, train=False)
    assert float(jnp.abs(got - old).max()) > 0.05
    # The raw generator is unchanged: raw weights, raw statistics.
    raw = method.generator(state, data, use_ema=False).generate(z)
    np.testing.assert_allclose(np.asarray(raw), np.asarray(g.apply(z, train=False)[0]), atol=1e-6)


def test_conditional_generator_uses_the_recomputed_statistics():
    c, method, data, state = _gan_setup(fashion_mnist_cgan, num_classes=10)
    gen = method.generator(state, data)
    g, ema = state[gan.G], state.ema[gan.G]
    batches = _stats_batches(method, data, c)
    labels = np.asarray(batches[0][1])
    np.testing.assert_array_equal(labels, np.arange(c.train.batch_size) % 10)  # Balanced.
    stats = _reference_stats(g.apply_fn, ema, g.collections, batches)
    z = jax.random.normal(jax.random.key(7), (10, c.model.latent_dim))
    y = jnp.arange(10, dtype=jnp.int32)
    want = g.apply_fn({"params": ema, **_with_stats(g.collections, stats)}, z, y, train=False)
    np.testing.assert_allclose(np.asarray(gen.generate_labeled(z, y)), np.asarray(want), atol=2e-4)
    np.testing.assert_allclose(np.asarray(gen.generate(z)), np.asarray(want), atol=2e-4)


def test_ssl_ema_discriminator_statistics_come_from_training_images():
    c = svhn_ssl_seeds.get_config("tiny")
    method = methods.get_method(c)
    images = np.random.default_rng(0).integers(0, 256, (300, 32, 32, 3), dtype=np.uint8)
    info = {"image_shape": [32, 32, 3], "labeled_class_counts": [2] * 10}
    data = methods.Data((32, 32, 3), info, {"train": {"image": images}})
    state = method.create_state(data, jax.random.key(0), 10, 100)
    d = state["discriminator"]
    ema = _perturbed(d.params, jax.random.key(4), scale=0.3)
    state = state.replace(ema={"discriminator": ema})
    got = method.ema_discriminator_collections(state, data)

    b, num = c.train.batch_size, ema_batch_stats.NUM_BATCHES
    rows = rng.stream(c.seed, "ema_batch_stats", 1).choice(300, b * num, replace=b * num > 300)
    x = to_float_images(jnp.asarray(images[rows])).reshape(num, b, 32, 32, 3)
    key = rng.key(c.seed, "ema_batch_stats", 2)
    keys = [jax.random.fold_in(key, k) for k in range(num)]
    rngs = [{"dropout": jax.random.fold_in(k, 0), "noise": jax.random.fold_in(k, 1)} for k in keys]
    want = _reference_stats(d.apply_fn, ema, d.collections, [(xb,) for xb in x], rngs)
    assert len(want) >= 3
    want_coll = _with_stats(d.collections, want)
    for a, w in zip(jax.tree.leaves(got), jax.tree.leaves(want_coll)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(w), rtol=2e-4, atol=2e-4)
    assert not all(
        np.allclose(a, w) for a, w in zip(jax.tree.leaves(got), jax.tree.leaves(d.collections))
    )


def test_no_recomputation_without_ema():
    c, method, data, state = _gan_setup(fashion_mnist_dcgan)
    state = state.replace(ema_decay=0.0)
    gen = method.generator(state, data)
    assert gen.weights == "raw"
    z = jnp.zeros((2, c.model.latent_dim))
    g = state[gan.G]
    np.testing.assert_allclose(
        np.asarray(gen.generate(z)), np.asarray(g.apply(z, train=False)[0]), atol=1e-6
    )


def test_ssl_evaluation_scores_the_ema_discriminator_with_its_statistics(monkeypatch):
    from ganjax.methods import ssl_gan

    c = svhn_ssl_seeds.get_config("tiny")
    method = methods.get_method(c)
    images = np.random.default_rng(0).integers(0, 256, (60, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(60) % 10
    info = {"image_shape": [32, 32, 3], "labeled_class_counts": [2] * 10}
    splits = {
        "train": {"image": images, "label": labels},
        "test": {"image": images[:20], "label": labels[:20]},
        "index": {"labeled": np.arange(20), "val": np.arange(10), "test": np.arange(10, 20)},
    }
    data = methods.Data((32, 32, 3), info, splits)
    state = method.create_state(data, jax.random.key(0), 10, 100)
    ema = _perturbed(state["discriminator"].params, jax.random.key(4), scale=0.3)
    state = state.replace(ema={"discriminator": ema})
    calls = []
    real_accuracy = ssl_gan.accuracy

    def spy(state, images, labels, k, use_ema, collections=None, **kw):
        calls.append((use_ema, collections))
        return real_accuracy(state, images, labels, k, use_ema, collections, **kw)

    monkeypatch.setattr(ssl_gan, "accuracy", spy)
    method.evaluate(state, data, 0)
    want = method.ema_discriminator_collections(state, data)
    for use_ema, coll in calls:
        if use_ema:
            for a, w in zip(jax.tree.leaves(coll), jax.tree.leaves(want)):
                np.testing.assert_array_equal(np.asarray(a), np.asarray(w))
        else:
            assert coll is None
    assert sum(u for u, _ in calls) == 2
