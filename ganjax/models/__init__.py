"""Generator/discriminator families, looked up by name from `config.model.name`."""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import ml_collections

from ganjax.errors import ConfigError
from ganjax.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganjax.models.mlp import MLPDiscriminator, MLPGenerator

ModelFactory = Callable[
    [ml_collections.ConfigDict, tuple[int, int, int]], tuple[nn.Module, nn.Module]
]


def _mlp(cfg: ml_collections.ConfigDict, image_shape: tuple[int, int, int]):
    return (
        MLPGenerator(image_shape=image_shape, hidden=cfg.hidden, leaky_slope=cfg.leaky_slope),
        MLPDiscriminator(hidden=cfg.hidden, leaky_slope=cfg.leaky_slope),
    )


def _dcgan(cfg: ml_collections.ConfigDict, image_shape: tuple[int, int, int]):
    h, w, c = image_shape
    if h != w:
        raise ConfigError(f"DCGAN needs square images, got {h}x{w}")
    return (
        DCGANGenerator(
            resolution=h,
            channels=c,
            base_features=cfg.g_features,
            init_std=cfg.init_std,
            conv_transpose_impl=cfg.conv_transpose_impl,
        ),
        DCGANDiscriminator(
            resolution=h,
            base_features=cfg.d_features,
            init_std=cfg.init_std,
            conv_impl=cfg.get("conv_impl", "auto"),
            spectral_norm=cfg.get("spectral_norm", False),
            norm=cfg.get("d_norm", "batch"),
        ),
    )


MODELS: dict[str, ModelFactory] = {"mlp": _mlp, "dcgan": _dcgan}


def check_discriminator_options(cfg: ml_collections.ConfigDict) -> None:
    """config.model.spectral_norm and d_norm exist for the DCGAN discriminator only.

    Raises:
      ValueError: when either is set for another model family.
    """
    norms = ("batch", "layer", "none")
    if cfg.get("d_norm", "batch") not in norms:
        raise ConfigError(f"Unknown config.model.d_norm '{cfg.d_norm}'; choose one of {norms}")
    if cfg.name == "dcgan":
        return
    if cfg.get("spectral_norm") or cfg.get("d_norm", "batch") != "batch":
        raise ConfigError(
            f"config.model.spectral_norm / config.model.d_norm are implemented for the DCGAN "
            f"discriminator; model '{cfg.name}' has its own normalization. Leave them at "
            "False / 'batch'."
        )


def create_models(
    cfg: ml_collections.ConfigDict, image_shape: tuple[int, int, int]
) -> tuple[nn.Module, nn.Module]:
    """Builds (generator, discriminator) for `cfg.name` from explicit config fields.

    Raises:
      ValueError: for an unknown model name.
    """
    if cfg.name not in MODELS:
        raise ConfigError(f"Unknown model '{cfg.name}'; choose one of {sorted(MODELS)}")
    check_discriminator_options(cfg)
    return MODELS[cfg.name](cfg, tuple(image_shape))


def sample_latents(key: jax.Array, num: int, dim: int, dist: str) -> jax.Array:
    """Draws [num, dim] latents: "uniform" is U(-1, 1), "uniform01" U(0, 1), "normal" N(0, 1)."""
    if dist == "uniform":
        return jax.random.uniform(key, (num, dim), minval=-1.0, maxval=1.0)
    if dist == "uniform01":  # Salimans et al.'s MNIST generator.
        return jax.random.uniform(key, (num, dim))
    if dist == "normal":
        return jax.random.normal(key, (num, dim))
    raise ConfigError(
        f"Unknown latent distribution '{dist}'; use 'uniform', 'uniform01' or 'normal'"
    )
