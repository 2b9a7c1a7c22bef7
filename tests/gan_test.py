"""The GAN method's loss and regularizer switches (ganjax/methods/gan.py) inside the real step."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import fashion_mnist_dcgan
from ganjax import methods
from ganjax.data import to_float_images
from ganjax.objectives import regularizers
from ganjax.training import sampling, train


def _config(mnist_dir, arg="tiny", **overrides):
    c = fashion_mnist_dcgan.get_config(arg)
    c.data.manual_dir = str(mnist_dir)
    for key, value in overrides.items():
        section, name = key.split(".")
        c[section][name] = value
    return c


def _state_and_batch(config, d_steps=1):
    method = methods.get_method(config)
    data = methods.Data((28, 28, 1), {"image_shape": [28, 28, 1]})
    state = method.create_state(data, jax.random.key(0), 10, 100)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (d_steps, 16, 28, 28, 1), dtype=np.uint8)
    return method, state, {"image": jnp.asarray(images)}


@pytest.mark.parametrize("recipe", ["ns", "hinge_sn", "wgan_gp", "ns_r1"])
@pytest.mark.parametrize("da", [False, True])
def test_every_recipe_trains_with_finite_metrics(mnist_dir, recipe, da):
    config = _config(mnist_dir, f"tiny,loss={recipe}" + (",da" if da else ""))
    method, state, batch = _state_and_batch(config)
    step = jax.jit(method.train_step)
    for _ in range(2):
        state, metrics = step(state, batch, jax.random.key(1))
    assert int(state.step) == 2
    assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
    expected = {"wgan_gp": "d/gradient_penalty", "ns_r1": "d/r1_penalty"}.get(recipe)
    if expected:
        assert expected in metrics
    if recipe == "hinge_sn":  # Spectral-norm vectors are D's collection, updated by the step.
        before = methods.get_method(config).create_state(
            methods.Data((28, 28, 1), {"image_shape": [28, 28, 1]}), jax.random.key(0), 10, 100
        )
        u_new = jax.tree.leaves(state["discriminator"].collections)
        u_old = jax.tree.leaves(before["discriminator"].collections)
        assert u_new and any(float(jnp.abs(a - b).max()) > 0 for a, b in zip(u_new, u_old))


def test_gradient_penalty_enters_the_d_loss_with_its_weight(mnist_dir):
    """D's loss with lambda = 10 minus D's loss with lambda = 0 is 10 * the penalty metric, and
    the metric equals regularizers.gradient_penalty computed here on D's first update."""
    base = _config(mnist_dir, "tiny,loss=wgan_gp")
    off = _config(mnist_dir, "tiny,loss=wgan_gp", **{"loss.gradient_penalty": 0.0})
    method, state, batch = _state_and_batch(base)
    # Jitted, as the loop runs them (eager mode compiles every op on its own).
    _, m_on = jax.jit(method.train_step)(state, batch, jax.random.key(3))
    method_off, state_off, _ = _state_and_batch(off)
    _, m_off = jax.jit(method_off.train_step)(state_off, batch, jax.random.key(3))
    gp = float(m_on["d/gradient_penalty"])
    assert gp > 0 and "d/gradient_penalty" not in m_off
    assert float(m_on["d/loss"]) - float(m_off["d/loss"]) == pytest.approx(10 * gp, rel=1e-4)
    # Independently: the same interpolation key and D (train mode, initial collections).
    d = state["discriminator"]
    step_key = jax.random.fold_in(jax.random.key(3), 0)
    k = jax.random.split(step_key, 1)[0]
    k_gp = jax.random.split(jax.random.fold_in(k, 1), 3)[2]
    g = state["generator"]
    fake, _ = jax.jit(g.apply)(jax.random.uniform(k, (16, 100), minval=-1.0, maxval=1.0))
    real = to_float_images(batch["image"][0])
    critic = lambda x: d.apply(x)[0]  # noqa: E731
    ref, _ = jax.jit(lambda r, f: regularizers.gradient_penalty(critic, r, f, k_gp))(real, fake)
    assert gp == pytest.approx(float(ref), rel=1e-4)


def test_lazy_r1_is_applied_every_k_d_updates(mnist_dir):
    config = _config(mnist_dir, "tiny,loss=ns_r1")  # gamma 1, every 4 D updates.
    method, state, batch = _state_and_batch(config)
    step = jax.jit(method.train_step)
    penalties = []
    for _ in range(5):
        state, metrics = step(state, batch, jax.random.key(1))
        penalties.append(float(metrics["d/r1_penalty"]))
    assert penalties[0] > 0 and penalties[4] > 0  # D updates 0 and 4 (weighted by 4).
    assert penalties[1] == penalties[2] == penalties[3] == 0.0


def test_n_critic_takes_d_steps_updates(mnist_dir, tmp_path):
    config = _config(mnist_dir, "tiny,loss=wgan_gp", **{"train.d_steps": 3})
    results = train.train_and_evaluate(config, tmp_path)
    state = sampling.restore_run(tmp_path)[0]
    count = jax.tree.leaves(state["discriminator"].opt_state)
    # Adam's step counter of D: 3 updates per training step.
    counts = [
        int(c) for c in count if np.ndim(c) == 0 and np.issubdtype(np.asarray(c).dtype, np.integer)
    ]
    assert results["step"] == 6 and 18 in counts


def test_unknown_augment_policy_names_the_key(mnist_dir):
    config = _config(mnist_dir, **{"data.augment": "color,zoom"})
    with pytest.raises(ValueError, match="config.data.augment"):
        methods.get_method(config)


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"train.d_steps": 0}, "config.train.d_steps"),
        ({"loss.penalty_every": 0}, "config.loss.penalty_every"),
        ({"loss.type": "wgan"}, "config.loss.type 'wgan'"),
        ({"model.d_norm": "group"}, "config.model.d_norm 'group'"),
    ],
)
def test_bad_switches_name_their_key(mnist_dir, overrides, match):
    config = _config(mnist_dir, **overrides)
    with pytest.raises(ValueError, match=match):
        method = methods.get_method(config)
        method.create_state(methods.Data((28, 28, 1), {}), jax.random.key(0), 1, 1)


def test_d_schedule_counts_d_updates(mnist_dir):
    """With d_steps = 3 and a linear decay, D's learning rate reaches 0 with G's, at the end."""
    from ganjax.training import optim

    config = _config(mnist_dir, **{"train.d_steps": 3})
    for player in ("g", "d"):
        config.optim[player].schedule = "linear_decay"
    g_tx, d_tx = optim.create_optimizers(config, 10, 100, d_steps=3)
    g_sched = optim.create_schedule(config.optim.g, 10, 100)
    d_sched = optim.create_schedule(config.optim.d, 30, 300)
    assert float(d_sched(150)) == pytest.approx(float(g_sched(50)))  # Halfway for both.
    assert float(d_sched(299)) > 0 and float(d_sched(300)) == 0.0
