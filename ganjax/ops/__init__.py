"""Low-level kernels behind `ganjax.models.layers`: convolutions, transposed convolutions and the
fused batch norm + activation, with hand-written gradients (custom VJPs) that run fast on XLA:CPU.

Where things live (module names differ from the functions they export, so that the re-exports
below never shadow a module):

- `conv`: `conv_padded` (the convolution entry point: padding arithmetic, impl "auto"'s choice
  per backend and layer, `auto_winograd`) and `conv_valid` (a VALID convolution whose kernel
  gradient is one im2col product).
- `gemm`: convolutions as im2col matrix products (`conv_gemm`) and their adjoint
  (`conv_adjoint_gemm`), with the im2col geometry shared by `winograd`.
- `winograd`: Winograd F(2x2, rxr) convolutions (`conv_winograd`) and their adjoint
  (`conv_adjoint_winograd`) on the space-to-depth grid.
- `transposed_conv`: PyTorch's ConvTranspose2d as `conv_transpose_direct`, `_subpixel`, `_gemm`
  and `_winograd`, and `conv_transpose`, which dispatches among them.
- `shift_add`: `conv_shift_add`, a convolution with few output channels as one product and a
  sum of shifted slices (image and score layers).
- `batch_norm`: `batch_norm_act`, training-mode batch norm fused with its activation.

Dependencies run one way: gemm <- winograd, shift_add <- conv <- transposed_conv; batch_norm
stands alone.

docs/performance.md has the measurements behind each choice.
"""

from ganjax.ops.batch_norm import Activation, activate, batch_norm_act
from ganjax.ops.conv import (
    WINOGRAD_MIN_CHANNELS,
    ConvImpl,
    auto_winograd,
    conv_padded,
    conv_valid,
    resolve_padding,
)
from ganjax.ops.gemm import (
    GATHER_BELOW_CHANNELS,
    conv_adjoint_gemm,
    conv_gemm,
    depth_to_space,
)
from ganjax.ops.shift_add import conv_shift_add
from ganjax.ops.transposed_conv import (
    ConvTransposeImpl,
    conv_transpose,
    conv_transpose_direct,
    conv_transpose_gemm,
    conv_transpose_subpixel,
    conv_transpose_winograd,
    default_conv_transpose_impl,
)
from ganjax.ops.winograd import conv_adjoint_winograd, conv_winograd, winograd_applies

__all__ = [
    "GATHER_BELOW_CHANNELS",
    "WINOGRAD_MIN_CHANNELS",
    "Activation",
    "ConvImpl",
    "ConvTransposeImpl",
    "activate",
    "auto_winograd",
    "batch_norm_act",
    "conv_adjoint_gemm",
    "conv_adjoint_winograd",
    "conv_gemm",
    "conv_padded",
    "conv_shift_add",
    "conv_transpose",
    "conv_transpose_direct",
    "conv_transpose_gemm",
    "conv_transpose_subpixel",
    "conv_transpose_winograd",
    "conv_valid",
    "conv_winograd",
    "default_conv_transpose_impl",
    "depth_to_space",
    "resolve_padding",
    "winograd_applies",
]
