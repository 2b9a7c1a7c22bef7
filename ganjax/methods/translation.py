"""What the image-to-image translation methods (pix2pix.py, cyclegan.py) share: their config
checks, the jitter settings of their batch iterators, the set-vs-set evaluator and the batched
translation of a uint8 image set.

`TranslationMethod` has no `name`, so it is not a registered method itself.
"""

from __future__ import annotations

from typing import Callable, ClassVar

import jax.numpy as jnp
import numpy as np

from ganjax.errors import ConfigError
from ganjax.methods.base import Data, Method
from ganjax.objectives import translation_losses


class TranslationMethod(Method):
    """Base of pix2pix and CycleGAN: scored on test translations, not latent samples."""

    # The two uint8 image arrays of Data.train, stored at config.data.load_size (batches are
    # random crops of them).
    train_keys: ClassVar[tuple[str, str]] = ()

    def __init__(self, config):
        super().__init__(config)
        c = config
        if c.eval.get("fid_every_steps", 0):
            raise ConfigError(
                f"config.eval.fid_every_steps must be 0 for {self.name}: a translator has no "
                "latent space to sample; its FID on the test split is computed at every "
                "evaluation, config.eval.every_steps."
            )
        if c.loss.gan_mode not in translation_losses.GAN_MODES:
            raise ConfigError(
                f"config.loss.gan_mode must be one of {translation_losses.GAN_MODES}, not "
                f"'{c.loss.gan_mode}'"
            )
        if not 0 < c.data.crop_size <= c.data.load_size:
            raise ConfigError(
                f"need 0 < config.data.crop_size <= config.data.load_size, got "
                f"{c.data.crop_size} and {c.data.load_size}"
            )
        self.gan_mode = c.loss.gan_mode
        self._evaluator = None

    def iterator_kwargs(self, start_step: int) -> dict:
        """The batch iterator's order and jitter settings (ganjax/data/jitter.py)."""
        c = self.config
        return dict(
            batch_size=c.train.batch_size,
            seed=c.seed,
            start_step=start_step,
            load_size=c.data.load_size,
            crop_size=c.data.crop_size,
            flip=c.data.flip,
        )

    def evaluator(self, data: Data):
        """The configured extractor's FID / KID / precision / recall between two image sets."""
        if self._evaluator is None:
            from ganjax.evaluators.translation import SetEvaluator
            from ganjax.training import parallel

            self._evaluator = SetEvaluator(self.config, parallel.create_mesh(1), data.image_shape)
        return self._evaluator


def map_batches(
    fn: Callable[[int, jnp.ndarray], jnp.ndarray], images_u8: np.ndarray, batch_size: int
) -> np.ndarray:
    """`fn(i, batch)` on each batch of `images_u8` (i: the batch's first index; the last batch
    may be smaller), the uint8 outputs concatenated ([0] uint8 for no images)."""
    out = [
        np.asarray(fn(i, jnp.asarray(images_u8[i : i + batch_size])))
        for i in range(0, len(images_u8), batch_size)
    ]
    return np.concatenate(out) if out else np.zeros((0,), np.uint8)
