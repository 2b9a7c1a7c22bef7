"""Semi-supervised GAN networks (Salimans et al. 2016 and the seeds' SVHN model).

Discriminators are K-class classifiers: `D(x, train) -> (logits [B, K (+1)], features [B, F])`.
With `extra_class=True` they emit a (K+1)-th "fake" logit; otherwise the fake class is implicit
(its logit fixed at 0). `features` is the layer that feature matching compares. Images come in
[-1, 1] (the MLP model rescales to [0, 1] as in the paper's code).
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax

from ganjax.errors import ConfigError
from ganjax.models.dcgan import DCGANGenerator
from ganjax.models.layers import Conv
from ganjax.models.weight_norm import GaussianNoise, WNConv, WNDense

Array = jax.Array


class PaperMNISTDiscriminator(nn.Module):
    """784-1000-500-250-250-250-K, ReLU, weight norm, Gaussian noise 0.3 (input) / 0.5 (hidden)."""

    num_classes: int = 10
    extra_class: bool = False
    hidden: tuple[int, ...] = (1000, 500, 250, 250, 250)
    input_noise: float = 0.3
    hidden_noise: float = 0.5

    @nn.compact
    def __call__(self, x: Array, train: bool = True):
        h = (x.reshape((x.shape[0], -1)) + 1.0) * 0.5  # The paper's code feeds pixels in [0, 1].
        h = GaussianNoise(self.input_noise)(h, train)
        for units in self.hidden:
            h = nn.relu(WNDense(units, train_scale=False)(h))  # Hidden scales fixed after init.
            features = h
            h = GaussianNoise(self.hidden_noise)(h, train)
        logits = WNDense(self.num_classes + int(self.extra_class), train_scale=True)(h)
        return logits, features  # features: the last 250-unit layer (before its noise).


class PaperMNISTGenerator(nn.Module):
    """z ~ U(0, 1)^100 -> 500 -> 500 (softplus, batch norm) -> 784 sigmoid (weight norm)."""

    image_shape: tuple[int, int, int] = (28, 28, 1)
    hidden: int = 500

    @nn.compact
    def __call__(self, z: Array, train: bool = True) -> Array:
        h = z
        for _ in range(2):
            h = nn.Dense(self.hidden, use_bias=False)(h)
            # Batch norm with a bias but no scale, as the paper's code (batch_norm(..., g=None)).
            h = nn.BatchNorm(
                use_running_average=not train, momentum=0.9, epsilon=1e-6, use_scale=False
            )(h)
            h = nn.softplus(h)
        # Weight norm with a trainable scale starting at 1 and no data-dependent init (l2normalize).
        x = jax.nn.sigmoid(
            WNDense(math.prod(self.image_shape), train_scale=True, data_init=False)(h)
        )
        return (2.0 * x - 1.0).reshape((z.shape[0], *self.image_shape))  # [0, 1] -> [-1, 1]


class PaperConvDiscriminator(nn.Module):
    """The paper's SVHN (64/128) and CIFAR-10 (96/192) weight-normalized conv classifier.

    dropout 0.2 -> 3 x conv3x3(w1) (last stride 2) -> dropout 0.5 -> 3 x conv3x3(w2) (last
    stride 2) -> dropout 0.5 -> conv3x3(w2, valid) -> conv1x1(w2) x 2 -> global mean pool ->
    dense K.
    Leaky ReLU 0.2 throughout.
    """

    num_classes: int = 10
    extra_class: bool = False
    widths: tuple[int, int] = (96, 192)
    input_dropout: float = 0.2
    dropout: float = 0.5

    @nn.compact
    def __call__(self, x: Array, train: bool = True):
        act = lambda t: nn.leaky_relu(t, 0.2)
        w1, w2 = self.widths
        h = nn.Dropout(self.input_dropout)(x, deterministic=not train)
        for width in (w1, w2):
            h = act(WNConv(width, 3)(h))
            h = act(WNConv(width, 3)(h))
            h = act(WNConv(width, 3, stride=2)(h))
            h = nn.Dropout(self.dropout)(h, deterministic=not train)
        h = act(WNConv(w2, 3, padding="VALID")(h))
        h = act(WNConv(w2, 1)(h))
        h = act(WNConv(w2, 1)(h))
        features = h.mean(axis=(1, 2))  # Global mean pool: the feature-matching layer.
        return WNDense(self.num_classes + int(self.extra_class))(features), features


class SeedsSVHNDiscriminator(nn.Module):
    """The seeds' SVHN classifier: input dropout rate/2.5, 3x3 convs 64 then 128 with stride-2
    downsampling, batch norm, leaky ReLU 0.2, dropout after blocks, a last valid conv without batch
    norm whose global average is the feature layer."""

    num_classes: int = 10
    extra_class: bool = False
    widths: tuple[int, int] = (64, 128)
    dropout: float = 0.5

    @nn.compact
    def __call__(self, x: Array, train: bool = True):
        act = lambda t: nn.leaky_relu(t, 0.2)
        bn = lambda: nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)
        drop = lambda t, rate: nn.Dropout(rate)(t, deterministic=not train)
        w1, w2 = self.widths
        h = drop(x, self.dropout / 2.5)
        conv = lambda f, s, pad="SAME", bias=False: Conv(
            f, 3, s, pad, use_bias=bias, kernel_init=nn.initializers.lecun_normal()
        )
        h = act(conv(w1, 2, bias=True)(h))  # 16x16
        h = drop(h, self.dropout)
        h = act(bn()(conv(w1, 1)(h)))
        h = act(bn()(conv(w1, 2)(h)))  # 8x8
        h = drop(h, self.dropout)
        h = act(bn()(conv(w2, 1)(h)))
        h = act(bn()(conv(w2, 1)(h)))
        h = act(bn()(conv(w2, 2)(h)))  # 4x4
        h = drop(h, self.dropout)
        h = act(conv(w2, 1, "VALID", bias=True)(h))  # 2x2, no batch norm
        features = h.mean(axis=(1, 2))
        return nn.Dense(self.num_classes + int(self.extra_class))(features), features


def create_ssl_models(cfg, image_shape: tuple[int, int, int], num_classes: int):
    """(generator, discriminator) for cfg.name in {"paper_mnist", "paper_conv", "seeds_svhn"}."""
    h, _, c = image_shape
    head = dict(num_classes=num_classes, extra_class=cfg.extra_class)
    if cfg.name == "paper_mnist":
        g = PaperMNISTGenerator(image_shape=image_shape, hidden=cfg.g_hidden)
        d = PaperMNISTDiscriminator(
            hidden=tuple(cfg.d_hidden),
            input_noise=cfg.input_noise,
            hidden_noise=cfg.hidden_noise,
            **head,
        )
        return g, d
    if cfg.name not in ("paper_conv", "seeds_svhn"):
        raise ConfigError(
            f"Unknown SSL model '{cfg.name}'; choose paper_mnist, paper_conv or seeds_svhn"
        )
    g = DCGANGenerator(resolution=h, channels=c, base_features=cfg.g_features)
    conv = dict(widths=tuple(cfg.d_widths), dropout=cfg.dropout, **head)
    if cfg.name == "paper_conv":
        return g, PaperConvDiscriminator(input_dropout=cfg.input_dropout, **conv)
    return g, SeedsSVHNDiscriminator(**conv)
