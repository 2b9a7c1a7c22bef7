"""Distribution metrics between two image sets, for image-to-image translation (pix2pix, CycleGAN).

A translator has no latent generator to sample from; what is scored is a fixed set of
translations against a fixed set of real images of the output domain: pix2pix's test outputs
against their targets, CycleGAN's translated A against the real B of the test split (and back).
`SetEvaluator(config, mesh, image_shape)` builds the configured feature extractor (the same
`config.eval.extractor` as ganjax/evaluators/fid.py: a domain classifier for Fashion-MNIST,
Inception for photos) and `score(real_u8, fake_u8)` returns FID, KID (+ std), precision,
recall, density and coverage of the fake set against the real one (the last four only when both
sets have more images than their k-NN radius needs, 6), both given as uint8 images
(translations quantized like saved PNGs). Real sets' features are cached by identity of the
array, so a set scored every evaluation is extracted once, and a score between two cached sets
(CycleGAN's identity floor, the inputs against the other domain) is computed once. `protocol()`
states how.
"""

from __future__ import annotations

from typing import Any

import ml_collections
import numpy as np

from ganjax import metrics
from ganjax.errors import ConfigError
from ganjax.evaluators import fid, reference_stats
from ganjax.metrics.manifold import knn_radii_sq
from ganjax.metrics.mmd import kid_subset_size

_K_MAX = max(reference_stats.PR_K, reference_stats.DC_K)


class SetEvaluator:
    """FID and its relatives between two uint8 image sets of one shape."""

    def __init__(self, config: ml_collections.ConfigDict, mesh, image_shape: tuple[int, int, int]):
        self.config = config
        self.eval_cfg = config.eval
        self.mesh = mesh
        self.image_shape = tuple(image_shape)
        spec = config.eval.extractor
        if not spec:
            raise ConfigError(
                "config.eval.extractor is empty: a translation config names its feature "
                "extractor (classifier:fashion_mnist, inception_v3, classifier:<run folder>)."
            )
        self.extractor, self.extract = fid.distribution_extraction(
            spec, config, mesh, self.image_shape
        )
        self._real_cache: dict[int, tuple[np.ndarray, np.ndarray, dict]] = {}

    def features(self, images_u8: np.ndarray) -> np.ndarray:
        """Features [N, D] float32 of uint8 images [N, H, W, C], batch by batch."""
        images_u8 = np.asarray(images_u8)
        if images_u8.dtype != np.uint8 or images_u8.shape[1:] != self.image_shape:
            raise ValueError(
                f"need uint8 images of shape {self.image_shape}, got {images_u8.dtype} "
                f"{images_u8.shape[1:]}"
            )
        bs = self.extract.batch_size
        out = [self.extract(images_u8[i : i + bs])[0] for i in range(0, len(images_u8), bs)]
        feats = np.concatenate(out).astype(np.float32)
        if not np.all(np.isfinite(feats)):
            raise FloatingPointError("Features of the images are NaN/inf (non-finite outputs?)")
        return feats

    def _real(self, real_u8: np.ndarray):
        key = id(real_u8)
        if key not in self._real_cache:
            feats = self.features(real_u8)
            stats = metrics.FeatureStats(feats.shape[1])
            stats.update(feats)
            radii = None
            if len(feats) > _K_MAX:
                radii = knn_radii_sq(feats, (reference_stats.PR_K, reference_stats.DC_K))
            # The array is kept so that its id is not reused by another one.
            self._real_cache[key] = (feats, real_u8, {"stats": stats, "radii": radii})
        return self._real_cache[key]

    def score(self, real_u8: np.ndarray, fake_u8: np.ndarray) -> dict[str, float]:
        """Metrics of `fake_u8` against `real_u8` (see the module docstring)."""
        if len(real_u8) < 2 or len(fake_u8) < 2:
            raise ValueError("FID needs at least 2 images in each set")
        real_feats, _, real = self._real(real_u8)
        if id(fake_u8) in self._real_cache:
            fake_feats = self._real_cache[id(fake_u8)][0]
        else:
            fake_feats = self.features(fake_u8)
        return self._score_features(real_feats, real, fake_feats)

    def _score_features(self, real_feats, real, fake_feats) -> dict[str, float]:
        stats = metrics.FeatureStats(fake_feats.shape[1])
        stats.update(fake_feats)
        rs = real["stats"]
        out = {
            "fid": metrics.frechet_distance(
                stats.mean(), stats.cov(), rs.mean(), rs.cov(), rows1=fake_feats
            )
        }
        out["kid"], out["kid_std"] = metrics.kid(
            fake_feats,
            real_feats,
            num_subsets=self.eval_cfg.kid_subsets,
            subset_size=self.eval_cfg.kid_subset_size,
        )
        if real["radii"] is None or len(fake_feats) <= _K_MAX:
            return {k: float(v) for k, v in out.items()}  # Too few images for k-NN metrics.
        out.update(
            metrics.prdc(
                real_feats,
                fake_feats,
                pr_k=reference_stats.PR_K,
                dc_k=reference_stats.DC_K,
                real_radii_sq=real["radii"],
            )
        )
        return {k: float(v) for k, v in out.items()}

    def protocol(self, num_real: int, num_fake: int) -> dict[str, Any]:
        return {
            **self.extractor.protocol(),
            "image_shape": list(self.image_shape),
            "num_real": int(num_real),
            "num_fake": int(num_fake),
            "quantization": "translations rounded to uint8 ((x + 1) * 127.5) like saved PNGs; "
            "real images as stored (uint8); both mapped to [-1, 1] by the extractor",
            "fid": "Frechet distance between the two sets' feature moments (float64, unbiased "
            "covariances)",
            "kid": {
                "subsets": self.eval_cfg.kid_subsets,
                "subset_size": kid_subset_size(num_fake, num_real, self.eval_cfg.kid_subset_size),
                "kernel": "(x.y / d + 1)^3",
                "estimator": "unbiased MMD^2",
            },
            "precision_recall_k": reference_stats.PR_K,
            "density_coverage_k": reference_stats.DC_K,
            "num_devices": int(self.mesh.devices.size),
        }
