"""The domain classifier: a small conv net per dataset whose penultimate layer gives features for
FID-style metrics ('FID with a classifier') and whose softmax gives the Inception Score analogue.

Layout (R = input side): [3x3 conv, BN, ReLU] -> [4x4 stride-2 conv, BN, ReLU] per width, so R
halves once per width (28 -> 14 -> 7 with the default two widths), then a dense `feature_dim`
layer with ReLU (the features), dropout and a dense layer with one logit per class. The
convolutions use ganjax's fast CPU paths (ganjax/models/layers.py), like the GANs.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import ml_collections

from ganjax.models.layers import BatchNorm, Conv

Array = jax.Array


def _bn(train: bool) -> BatchNorm:
    return BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, activation="relu")


class ConvClassifier(nn.Module):
    """image [B, R, R, C] in [-1, 1] -> (logits [B, num_classes], features [B, feature_dim])."""

    num_classes: int
    widths: tuple[int, ...] = (32, 64)
    feature_dim: int = 128
    dropout: float = 0.3

    @nn.compact
    def __call__(self, x: Array, train: bool = False) -> tuple[Array, Array]:
        init = nn.initializers.he_normal()
        for w in self.widths:
            x = Conv(w, kernel_size=3, stride=1, padding=1, kernel_init=init)(x)
            x = _bn(train)(x)
            x = Conv(w * 2, kernel_size=4, stride=2, padding=1, kernel_init=init)(x)
            x = _bn(train)(x)
        x = x.reshape((x.shape[0], -1))  # [B, R' * R' * 2 * widths[-1]]
        features = nn.relu(nn.Dense(self.feature_dim, kernel_init=init)(x))  # [B, feature_dim]
        h = nn.Dropout(self.dropout, deterministic=not train)(features)
        logits = nn.Dense(self.num_classes)(h)
        return logits, features


def create_classifier(model_cfg: ml_collections.ConfigDict, num_classes: int) -> ConvClassifier:
    """The ConvClassifier of a classifier config's `config.model`."""
    return ConvClassifier(
        num_classes=num_classes,
        widths=tuple(model_cfg.widths),
        feature_dim=model_cfg.feature_dim,
        dropout=model_cfg.dropout,
    )


class MLPHead(nn.Module):
    """A transfer head on frozen features: Dense(hidden) -> ReLU -> dropout -> Dense(classes);
    with hidden = 0 a linear head (multinomial logistic regression)."""

    num_classes: int
    hidden: int = 256
    dropout: float = 0.3

    @nn.compact
    def __call__(self, x: Array, train: bool = False) -> Array:
        if self.hidden:
            x = nn.relu(nn.Dense(self.hidden)(x))
            x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return nn.Dense(self.num_classes)(x)
