"""A trained run's code space: encode real images to latent codes, decode codes to images.

  VAE-GAN runs (config.method=vae_gan): the run's own encoder (the mean of q(z | x)) and the
    generator it was trained with (raw weights: the encoder was trained against those).
  Other runs with a generator (GAN, DCGAN): the post-hoc encoder that
    `python -m experiments.encode` trained for it, in <workdir>/encoder
    (ganjax/latent/posthoc_encoder.py).

Attribute vectors (ganjax/latent/attributes.py), editing grids and synthetic data all go through
this.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from ganjax.data import to_float_images
from ganjax.training import sampling


@dataclasses.dataclass
class CodeSpace:
    """encode: uint8 images [N, H, W, C] -> codes [N, D]; decode: codes -> images in [-1, 1]."""

    encode_batch: Callable[[jax.Array], jax.Array]  # float images in [-1, 1] -> codes.
    decode_batch: Callable[[jax.Array], jax.Array]
    latent_dim: int
    image_shape: tuple[int, int, int]
    config: ml_collections.ConfigDict  # The generative run's.
    source: str  # Which encoder, for the protocol.
    batch_size: int = 500

    def encode(self, images_u8: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(images_u8), self.batch_size):
            x = to_float_images(jnp.asarray(images_u8[i : i + self.batch_size]))
            out.append(np.asarray(self.encode_batch(x)))
        return np.concatenate(out) if out else np.zeros((0, self.latent_dim), np.float32)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(codes), self.batch_size):
            out.append(np.asarray(self.decode_batch(jnp.asarray(codes[i : i + self.batch_size]))))
        return np.concatenate(out) if out else np.zeros((0, *self.image_shape), np.float32)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Images in [-1, 1] -> uint8 [0, 255] (rounded, clipped)."""
    return np.clip(np.round((np.asarray(images) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def reconstruction_error(space: CodeSpace, images_u8: np.ndarray) -> float:
    """Mean squared error in [0, 1] pixel units of decode(encode(x)) on uint8 images."""
    rec = (space.decode(space.encode(images_u8)).astype(np.float64) + 1.0) / 2.0
    return float(np.mean(np.square(rec - images_u8.astype(np.float64) / 255.0)))


def load_code_space(workdir: str | pathlib.Path, refine_steps: int | None = None) -> CodeSpace:
    """The code space of a trained run (see the module docstring).

    `refine_steps`: a post-hoc encoder's latent optimization steps (None: as trained; 0: off).

    Raises:
      FileNotFoundError: not a run, no checkpoint, or a GAN run without a post-hoc encoder.
      sampling.NoGeneratorError: a run without a generator.
    """
    workdir = pathlib.Path(workdir)
    config, _ = sampling.read_run(workdir)
    if config.get("method") == "vae_gan":
        from ganjax.methods import vae_gan

        state, config, method, data = sampling.restore_run(workdir)
        return CodeSpace(
            encode_batch=lambda x: vae_gan.encode(state, x)[0],
            decode_batch=lambda z: vae_gan.generate(state, z, use_ema=False),
            latent_dim=int(config.model.latent_dim),
            image_shape=tuple(data.image_shape),
            config=config,
            source=f"vae_gan encoder (mean of q(z | x)), step {int(state.step)}",
        )
    from ganjax.latent import posthoc_encoder

    return CodeSpace(**posthoc_encoder.code_space_fields(workdir, refine_steps=refine_steps))
