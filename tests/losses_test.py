"""GAN losses against values computed by hand."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from ganjax.objectives import losses

L = jnp.asarray


def bce(p_logit, t):
    s = 1 / (1 + math.exp(-p_logit))
    return -(t * math.log(s) + (1 - t) * math.log(1 - s))


def test_non_saturating_with_one_sided_smoothing():
    real, fake = [2.0, -1.0], [0.5, -3.0]
    total, parts = losses.discriminator_loss(
        real_logits=L(real), fake_logits=L(fake), loss_type="non_saturating", label_smoothing=0.1
    )
    exp_real = (bce(2.0, 0.9) + bce(-1.0, 0.9)) / 2
    exp_fake = (bce(0.5, 0.0) + bce(-3.0, 0.0)) / 2
    assert float(parts["loss_real"]) == pytest.approx(exp_real, rel=1e-6)
    assert float(parts["loss_fake"]) == pytest.approx(exp_fake, rel=1e-6)  # Fakes are not smoothed.
    assert float(total) == pytest.approx(exp_real + exp_fake, rel=1e-6)
    g = losses.generator_loss(fake_logits=L(fake), loss_type="non_saturating")
    assert float(g) == pytest.approx((bce(0.5, 1) + bce(-3.0, 1)) / 2, rel=1e-6)


def test_zero_logits_give_log2():
    total, _ = losses.discriminator_loss(
        real_logits=jnp.zeros(4), fake_logits=jnp.zeros(4), loss_type="minimax"
    )
    assert float(total) == pytest.approx(2 * math.log(2), rel=1e-6)


def test_minimax_generator_is_log_one_minus_d():
    fake = [0.5, -3.0]
    g = losses.generator_loss(fake_logits=L(fake), loss_type="minimax")
    expected = np.mean([math.log(1 - 1 / (1 + math.exp(-f))) for f in fake])
    assert float(g) == pytest.approx(expected, rel=1e-6)


def test_hinge_and_least_squares():
    total, parts = losses.discriminator_loss(
        real_logits=L([0.5, 2.0]), fake_logits=L([-2.0, 0.0]), loss_type="hinge"
    )
    assert float(parts["loss_real"]) == pytest.approx(0.25) and float(
        parts["loss_fake"]
    ) == pytest.approx(0.5)
    assert float(
        losses.generator_loss(fake_logits=L([1.0, 3.0]), loss_type="hinge")
    ) == pytest.approx(-2.0)
    total, parts = losses.discriminator_loss(
        real_logits=L([1.0, 3.0]), fake_logits=L([1.0, 0.0]), loss_type="least_squares"
    )
    assert float(parts["loss_real"]) == pytest.approx(1.0) and float(
        parts["loss_fake"]
    ) == pytest.approx(0.25)
    assert float(
        losses.generator_loss(fake_logits=L([1.0, 3.0]), loss_type="least_squares")
    ) == pytest.approx(1.0)


def test_extreme_logits_stay_finite():
    big = L([1e4, -1e4])
    total, _ = losses.discriminator_loss(
        real_logits=big, fake_logits=-big, loss_type="non_saturating", label_smoothing=0.1
    )
    assert np.isfinite(float(total))
    # Real: (0.1 * 1e4 + 0.9 * 1e4) / 2 = 5e3 (each wrong-side logit costs its weight * 1e4);
    # fake: (0 + 1e4) / 2 = 5e3.
    assert float(total) == pytest.approx(1e4, rel=1e-6)


def test_feature_matching():
    real = L([[1.0, 2.0], [3.0, 4.0]])  # mean [2, 3]
    fake = L([[0.0, 0.0], [2.0, 2.0]])  # mean [1, 1]
    assert float(
        losses.feature_matching_loss(real_features=real, fake_features=fake, distance="l2")
    ) == pytest.approx(2.5)
    assert float(
        losses.feature_matching_loss(real_features=real, fake_features=fake, distance="l1")
    ) == pytest.approx(1.5)


def test_unknown_loss_type():
    with pytest.raises(ValueError, match="config.loss.type 'wasserstein-ish'.*wasserstein"):
        losses.generator_loss(fake_logits=L([0.0]), loss_type="wasserstein-ish")


def test_wasserstein_hand_computed():
    real, fake = L([1.0, 3.0]), L([-2.0, 0.0])  # means 2 and -1
    total, parts = losses.discriminator_loss(
        real_logits=real, fake_logits=fake, loss_type="wasserstein"
    )
    assert float(parts["loss_real"]) == pytest.approx(-2.0)
    assert float(parts["loss_fake"]) == pytest.approx(-1.0)
    assert float(total) == pytest.approx(-3.0)  # E[D(fake)] - E[D(real)]
    assert float(losses.generator_loss(fake_logits=fake, loss_type="wasserstein")) == 1.0


@pytest.mark.parametrize("loss_type", ["hinge", "wasserstein"])
def test_smoothing_is_refused_where_there_is_no_target(loss_type):
    """Hinge and Wasserstein losses have no real target: smoothing is refused, not ignored."""
    with pytest.raises(ValueError, match="config.loss.label_smoothing=0.0") as e:
        losses.discriminator_loss(
            real_logits=L([0.5]), fake_logits=L([0.0]), loss_type=loss_type, label_smoothing=0.1
        )
    assert f"config.loss.type='{loss_type}'" in str(e.value)
    losses.discriminator_loss(real_logits=L([0.5]), fake_logits=L([0.0]), loss_type=loss_type)


@pytest.mark.parametrize("loss_type", ["non_saturating", "minimax", "least_squares"])
def test_smoothing_lowers_the_real_target(loss_type):
    real, fake = L([2.0, -1.0]), L([0.5, -3.0])
    plain, p0 = losses.discriminator_loss(real_logits=real, fake_logits=fake, loss_type=loss_type)
    smooth, p1 = losses.discriminator_loss(
        real_logits=real, fake_logits=fake, loss_type=loss_type, label_smoothing=0.2
    )
    if loss_type == "least_squares":  # (real - 0.8)^2 / 2, by hand.
        expected = (0.5 * 1.2**2 + 0.5 * 1.8**2) / 2
    else:
        expected = (bce(2.0, 0.8) + bce(-1.0, 0.8)) / 2
    assert float(p1["loss_real"]) == pytest.approx(expected, rel=1e-6)
    assert float(p1["loss_real"]) != pytest.approx(float(p0["loss_real"]), rel=1e-3)
    assert float(p1["loss_fake"]) == float(p0["loss_fake"])  # One-sided.
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="outside"):
            losses.check_loss_type(loss_type, bad)


@pytest.mark.parametrize("recipe", ["hinge_sn", "wgan_gp"])
def test_methods_refuse_smoothing_with_hinge_and_wasserstein(recipe):
    """At method construction, before any data is read: the GAN and its subclasses."""
    from configs import fashion_mnist_cgan, fashion_mnist_dcgan, fashion_mnist_vaegan
    from ganjax import methods

    for config_module in (fashion_mnist_dcgan, fashion_mnist_cgan):
        c = config_module.get_config(f"tiny,loss={recipe}")
        methods.get_method(c)  # Without smoothing: fine.
        c.loss.label_smoothing = 0.1
        with pytest.raises(ValueError, match="no real target to smooth"):
            methods.get_method(c)
    c = fashion_mnist_vaegan.get_config("tiny")
    c.loss.type, c.loss.label_smoothing = "hinge", 0.1
    with pytest.raises(ValueError, match="config.loss.type='hinge'"):
        methods.get_method(c)
    c.loss.type = "least_squares"
    assert methods.get_method(c).label_smoothing == 0.1
