"""Spectral normalization (Miyato et al. 2018) as flax's `nn.SpectralNorm`, minus its init quirk.

flax's linen `nn.SpectralNorm` (checked on flax 0.12.8) wraps the layer in `map_variables`
with `mutable=True`, so during `init` the normalized view of the weights is written back into
"params": the stored kernel comes out as W0 / sigma_1, where sigma_1 is one power-iteration step
from a random u (an underestimate of the top singular value), instead of the initializer's W0.
The forward pass is nearly unaffected (W / sigma(W) is invariant to the scale of W), but the raw
weights start at spectral norm ~1 instead of the initializer's scale (0.2-0.5 for DCGAN's
N(0, 0.02^2) layers), which changes how fast an optimizer such as Adam moves the normalized
weights, and parameters no longer match the same network without spectral normalization.
`SpectralNorm` below keeps the raw initial weights and is otherwise flax's module.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp


class SpectralNorm(nn.SpectralNorm):
    """flax's `nn.SpectralNorm` whose `init` stores the wrapped layer's weights as initialized.

    Same variables, names and training/eval behaviour as `nn.SpectralNorm`: u [1, out] and sigma
    in `collection_name` ("batch_stats") under "<layer name>/<param path>/u" and ".../sigma";
    every weight of rank > 2 is flattened to [prod(leading dims), last dim] (a HWIO conv kernel
    is the [H * W * I, O] matrix); 1-D weights such as biases are left alone. The forward pass
    of `init` itself uses the raw weights (its output is rarely looked at; its variables are).
    """

    def _spectral_normalize(self, path, vs, update_stats):
        # The parent still creates (and, with update_stats, updates) u and sigma at init.
        normalized = super()._spectral_normalize(path, vs, update_stats)
        # At init map_variables writes the value returned here back into "params" (see the
        # module docstring), so return the initializer's weights there.
        return jnp.asarray(vs) if self.is_initializing() else normalized
