"""CycleGAN's image history buffer (Shrivastava et al. 2017; Zhu et al. 2017, util/image_pool.py)
as a pure function over arrays, so that it lives in the train state, is checkpointed with it and
runs inside a jitted step.

The discriminator is updated on generated images drawn partly from the history of generated
images rather than only the latest ones. Per image of a batch, in order (the authors' `query`):
  * while fewer than pool_size images are stored, store it and return it;
  * then, with probability 0.5, return a uniformly chosen stored image and store the new one in
    its place; otherwise return the new image (and store nothing).
Images later in a batch can get ones stored earlier in the same batch, as in the authors' loop.
A pool of size 0 returns its inputs unchanged. Stored and returned images carry no gradient (the
authors store `image.data`; D's update treats generated images as constants anyway).
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
from jax import lax

Array = jax.Array


class ImagePoolState(flax.struct.PyTreeNode):
    """The buffer: `images` [pool_size, H, W, C] float32 (pool_size from the shape) and `count`,
    the int32 number of slots filled so far (it stops at pool_size)."""

    images: Array
    count: Array

    @property
    def pool_size(self) -> int:
        return self.images.shape[0]


def init_pool(pool_size: int, image_shape: tuple[int, int, int]) -> ImagePoolState:
    """An empty pool for `pool_size` (50 in CycleGAN; 0 disables it) images of `image_shape`
    (H, W, C)."""
    if pool_size < 0:
        raise ValueError(f"pool_size must be >= 0, got {pool_size}")
    return ImagePoolState(
        images=jnp.zeros((pool_size, *image_shape), jnp.float32),
        count=jnp.zeros((), jnp.int32),
    )


def query(state: ImagePoolState, images: Array, key: Array) -> tuple[ImagePoolState, Array]:
    """Passes a batch of generated images through the pool.

    Args:
      state: the pool.
      images: [B, H, W, C] generated images.
      key: PRNG key; the same key and state give the same result.

    Returns:
      (the updated pool, [B, H, W, C] images for the discriminator, in `images`' dtype).
    """
    if state.pool_size == 0:
        return state, images
    pool_size = state.pool_size
    images = lax.stop_gradient(images)

    def step(carry, inputs):
        pool, count = carry
        image, k = inputs  # [H, W, C], key
        k_swap, k_slot = jax.random.split(k)
        filling = count < pool_size
        swap = jnp.logical_and(~filling, jax.random.uniform(k_swap) > 0.5)
        slot = jnp.where(filling, count, jax.random.randint(k_slot, (), 0, pool_size))
        stored = pool[slot]
        image = image.astype(pool.dtype)
        out = jnp.where(swap, stored, image)
        pool = pool.at[slot].set(jnp.where(jnp.logical_or(filling, swap), image, stored))
        return (pool, count + filling.astype(count.dtype)), out

    keys = jax.random.split(key, images.shape[0])
    (pool, count), out = lax.scan(step, (state.images, state.count), (images, keys))
    return state.replace(images=pool, count=count), out.astype(images.dtype)
