"""FID and its relatives for a generator, with the protocol written into every result.

`SampleQualityEvaluator(config, mesh)` builds the configured feature extractor, the reference set
(the real `config.eval.reference_split`, statistics cached once per dataset x split x extractor)
and the held-out set (`config.eval.heldout_split`). `evaluate(generate_fn)` then draws
`config.eval.fid_num_samples` images from fixed latents, quantizes them to uint8 exactly as sample
PNGs are (so generated and real images take the same path into the extractor), extracts features
batch by batch on every device of the mesh (images never pile up: feature moments stream into
float64 sums), and returns

  fid, kid, kid_std, precision, recall, density, coverage, inception_score(_std), protocol

where `protocol` names the extractor and its weights hash, the sample count, the reference and
held-out sets, the quantization, the latents, the metric settings and the real-vs-real floor: the
same metrics between `n` held-out real images and the reference (n = min(samples, held-out size)),
i.e. what a perfect generator scores on this protocol.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from ganjax import metrics, models
from ganjax.data import load_config_split
from ganjax.errors import NonFiniteError
from ganjax.evaluators import extractors, reference_stats
from ganjax.metrics.manifold import knn_radii_sq
from ganjax.metrics.mmd import kid_subset_size
from ganjax.training import parallel

METRIC_KEYS = (
    "fid",
    "kid",
    "kid_std",
    "precision",
    "recall",
    "density",
    "coverage",
    "inception_score",
    "inception_score_std",
)
GenerateFn = Callable[[jax.Array], jax.Array]  # latents [B, Z] -> images [B, H, W, C] in [-1, 1]


@jax.jit
def quantize(images: jax.Array) -> jax.Array:
    """[-1, 1] floats -> uint8, rounding as sample PNGs are written (evaluators/samples.py)."""
    return jnp.clip(jnp.round((images + 1.0) * 127.5), 0, 255).astype(jnp.uint8)


class ShardedExtraction:
    """The extractor jitted over the mesh: batches sharded on the data axis, weights replicated."""

    def __init__(self, extractor: extractors.FeatureExtractor, mesh, batch_size: int):
        n = mesh.devices.size
        if extractor.max_batch_per_device:  # Memory and cache bound (Inception at 299 px).
            batch_size = min(batch_size, extractor.max_batch_per_device * n)
        self.batch_size = math.ceil(batch_size / n) * n  # A multiple of the device count.
        self.sharding = parallel.batch_sharding(mesh, 0)
        replicated = parallel.replicated(mesh)
        self._variables = jax.device_put(extractor.variables, replicated)
        self._fn = jax.jit(
            extractors.features_fn(extractor),
            in_shardings=(replicated, self.sharding),
            out_shardings=(self.sharding, self.sharding),
            compiler_options=extractor.compiler_options,
        )

    def device(self, images: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Features of a full, sharded uint8 batch (stays on the device)."""
        return self._fn(self._variables, images)

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Features of host uint8 images (any count up to batch_size; padded, then trimmed)."""
        n = len(images)
        if n < self.batch_size:
            images = np.concatenate(
                [images, np.zeros((self.batch_size - n, *images.shape[1:]), images.dtype)]
            )
        feats, logits = self.device(jax.device_put(images, self.sharding))
        return np.asarray(feats)[:n], np.asarray(logits)[:n]


def distribution_extraction(
    spec: str, config: ml_collections.ConfigDict, mesh, image_shape: tuple[int, int, int]
) -> tuple[Any, ShardedExtraction]:
    """The extractor `spec` names (config.eval's weights and classifier argument), checked for
    `image_shape` and for distribution metrics, and its sharded batched extraction over `mesh`."""
    extractor = extractors.create_extractor(
        spec,
        config.data,
        inception_weights_path=config.eval.inception_weights,
        classifier_arg=config.eval.classifier_arg,
    )
    extractor.check_images(tuple(image_shape))
    extractors.check_for_distributions(extractor)
    return extractor, ShardedExtraction(extractor, mesh, config.eval.fid_batch_size)


@dataclasses.dataclass
class Features:
    """Features of one sample set: streamed moments plus the rows themselves (not images)."""

    stats: metrics.FeatureStats
    features: np.ndarray  # [N, D] float32
    logits: np.ndarray  # [N, K] float32


@dataclasses.dataclass
class ReferenceRows:
    """The reference's rows for the sample-based metrics (KID, precision/recall, density/coverage):
    as many as there are samples, so both sides of those metrics have the same size."""

    features: np.ndarray
    radii_sq: dict[int, np.ndarray]

    @classmethod
    def create(cls, ref: reference_stats.ReferenceSet, n: int) -> "ReferenceRows":
        n = min(n, len(ref.features))
        if n == len(ref.features):
            return cls(ref.features, ref.radii_sq)
        head = ref.head(n)
        return cls(head, knn_radii_sq(head, (reference_stats.PR_K, reference_stats.DC_K)))


def _metrics_against(
    ref: reference_stats.ReferenceSet,
    rows: ReferenceRows,
    mu,
    sigma,
    feats: np.ndarray,
    logits: np.ndarray,
    eval_cfg: ml_collections.ConfigDict,
) -> dict[str, float]:
    """Every metric of a sample set (moments mu/sigma, rows feats/logits) against the reference:
    FID against the whole reference split's moments, the rest against `rows`."""
    out = {
        "fid": metrics.frechet_distance(
            mu, sigma, ref.mu, ref.sigma, sigma2_sqrt=ref.sigma_sqrt, rows1=feats
        )
    }
    out["kid"], out["kid_std"] = metrics.kid(
        feats, rows.features, num_subsets=eval_cfg.kid_subsets, subset_size=eval_cfg.kid_subset_size
    )
    out.update(
        metrics.prdc(
            rows.features,
            feats,
            pr_k=reference_stats.PR_K,
            dc_k=reference_stats.DC_K,
            real_radii_sq=rows.radii_sq,
        )
    )
    if logits.shape[1] and len(logits) >= 10:  # No logits: the extractor's protocol says why.
        out["inception_score"], out["inception_score_std"] = metrics.inception_score(
            logits, splits=10
        )
    return out


class SampleQualityEvaluator:
    """Computes sample-quality metrics of generators of one run (one dataset, one resolution)."""

    def __init__(
        self,
        config: ml_collections.ConfigDict,
        mesh,
        image_shape: tuple[int, int, int],
        *,
        extractor: str | None = None,
        num_samples: int | None = None,
    ):
        self.config = config
        self.eval_cfg = config.eval
        self.mesh = mesh
        self.image_shape = tuple(image_shape)
        self.num_samples = int(num_samples or config.eval.fid_num_samples)
        spec = (
            extractor
            or config.eval.extractor
            or extractors.default_spec(config.data.name, self.image_shape)
        )
        self.extractor, self.extract = distribution_extraction(
            spec, config, mesh, self.image_shape
        )
        self.reference = self._real_set(config.eval.reference_split, config.eval.reference_stats)
        self.reference_rows = ReferenceRows.create(self.reference, self.num_samples)
        self._heldout: reference_stats.ReferenceSet | None = None
        self._floor: dict[str, float] | None = None

    def _real_set(
        self, split: str, explicit_path: str = "", reference: bool = True
    ) -> reference_stats.ReferenceSet:
        from ganjax.data.sources import config_source_fingerprint

        d = self.config.data

        def load_images():
            return load_config_split(d, split)["image"]

        return reference_stats.load_or_compute(
            dataset=d.name,
            split=split,
            # Keyed by the files read, not the dataset name (another copy or subset of it).
            source=config_source_fingerprint(d, split),
            image_shape=self.image_shape,
            extractor=self.extractor,
            load_images=load_images,
            extract=self.extract,
            keep=self.num_samples,
            cache_dir=d.cache_dir,
            batch_size=self.extract.batch_size,
            explicit_path=explicit_path,
            with_sqrt=reference,
        )

    def real_vs_real(self) -> dict[str, float]:
        """The floor: n held-out real images against the reference, every metric."""
        if self._floor is None:
            self._heldout = self._real_set(self.eval_cfg.heldout_split, reference=False)
            n = min(self.num_samples, self._heldout.count, len(self._heldout.features))
            feats, logits = self._heldout.head(n), self._heldout.logits[:n]
            if n == self._heldout.count:
                mu, sigma = self._heldout.mu, self._heldout.sigma
            else:
                stats = metrics.FeatureStats(feats.shape[1])
                stats.update(feats)
                mu, sigma = stats.mean(), stats.cov()
            rows = ReferenceRows.create(self.reference, n)
            self._floor = {
                **_metrics_against(self.reference, rows, mu, sigma, feats, logits, self.eval_cfg),
                "num_images": n,
            }
        return self._floor

    def generate_features(
        self, generate_fn: GenerateFn, latent_dim: int, latent_dist: str
    ) -> Features:
        """Features of `num_samples` generated images from the fixed evaluation latents."""
        bs = self.extract.batch_size
        key = jax.random.key(self.eval_cfg.fid_seed)
        stats, feats, logits = None, [], []
        for i in range(math.ceil(self.num_samples / bs)):
            z = models.sample_latents(jax.random.fold_in(key, i), bs, latent_dim, latent_dist)
            images = quantize(generate_fn(jax.device_put(z, self.extract.sharding)))
            f, lg = self.extract.device(images)
            take = min(bs, self.num_samples - i * bs)
            f, lg = np.asarray(f)[:take], np.asarray(lg)[:take]
            if not np.all(np.isfinite(f)):
                raise NonFiniteError(
                    "The generator produced images whose features are NaN/inf; "
                    "the checkpoint's generator weights are not finite. Evaluate an earlier "
                    "checkpoint (--step), or retrain with lower learning rates."
                )
            if stats is None:
                stats = metrics.FeatureStats(f.shape[1])
            stats.update(f)
            feats.append(f)
            logits.append(lg)
        return Features(stats, np.concatenate(feats), np.concatenate(logits))

    def evaluate(
        self, generate_fn: GenerateFn, *, latent_dim: int, latent_dist: str, generator_weights: str
    ) -> dict[str, Any]:
        """Every metric for one generator, with the protocol (see the module docstring)."""
        t0 = time.perf_counter()
        fake = self.generate_features(generate_fn, latent_dim, latent_dist)
        t_gen = time.perf_counter() - t0
        out = _metrics_against(
            self.reference,
            self.reference_rows,
            fake.stats.mean(),
            fake.stats.cov(),
            fake.features,
            fake.logits,
            self.eval_cfg,
        )
        out["protocol"] = self.protocol(generator_weights=generator_weights)
        out["seconds"] = time.perf_counter() - t0
        out["seconds_generate_and_extract"] = t_gen
        logging.info(
            "%s on %d samples: FID %.4f (floor %.4f), KID %.5f, precision %.3f, recall %.3f "
            "(%.1f s)",
            self.extractor.name,
            self.num_samples,
            out["fid"],
            out["protocol"]["real_vs_real_fid"],
            out["kid"],
            out["precision"],
            out["recall"],
            out["seconds"],
        )
        return out

    def protocol(self, generator_weights: str | None = None) -> dict[str, Any]:
        floor = self.real_vs_real()
        ref = self.reference
        d = self.config.data
        p = {
            **self.extractor.protocol(),
            "dataset": d.name,
            "image_shape": list(self.image_shape),
            "num_samples": self.num_samples,
            "reference": {
                "split": self.eval_cfg.reference_split,
                "num_images": ref.count,
                "kid_prdc_rows": len(self.reference_rows.features),
                "stats_file": str(ref.path) if ref.path else None,
            },
            "heldout": {"split": self.eval_cfg.heldout_split, "num_images": floor["num_images"]},
            "quantization": "generated images rounded to uint8 ((x + 1) * 127.5) like saved PNGs; "
            "real images as stored (uint8); both mapped to [-1, 1] by the extractor",
            "latents": f"fold_in(key({self.eval_cfg.fid_seed}), batch) with the run's latent "
            "distribution",
            "fid": "Frechet distance of the samples' moments to the whole reference split's "
            "(float64, "
            "unbiased covariances, trace of the square root from symmetric eigenvalues)",
            "kid": {
                "subsets": self.eval_cfg.kid_subsets,
                "subset_size": kid_subset_size(
                    self.num_samples,
                    len(self.reference_rows.features),
                    self.eval_cfg.kid_subset_size,
                ),
                "kernel": "(x.y / d + 1)^3",
                "estimator": "unbiased MMD^2",
                "seed": 2020,
            },
            "precision_recall_k": reference_stats.PR_K,
            "density_coverage_k": reference_stats.DC_K,
            "inception_score_splits": 10,
            "num_devices": int(self.mesh.devices.size),
        }
        if generator_weights is not None:
            p["generator_weights"] = generator_weights
        for k in METRIC_KEYS:
            if k in floor:
                p[f"real_vs_real_{k}"] = floor[k]
        return p


def scalars(result: dict[str, Any], prefix: str = "eval/") -> dict[str, float]:
    """The metric values of a result, for metric writers."""
    out = {f"{prefix}{k}": float(result[k]) for k in METRIC_KEYS if k in result}
    out[f"{prefix}real_vs_real_fid"] = float(result["protocol"]["real_vs_real_fid"])
    return out
