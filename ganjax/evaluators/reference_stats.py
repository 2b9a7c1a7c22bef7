"""Reference features of a real split, computed once per source files x split x extractor, cached.

A cache file (`.npz`) holds the split's feature mean and covariance over every image (float64)
and the covariance's square root (the costly part of FID, done once here),
the features of a fixed random subset of up to `keep` images (for KID and precision/recall, which
need samples, not moments), that subset's k-NN radii, and a JSON header naming the dataset, split,
resolution, extractor and its weights hash, and the source fingerprint of the files the split was
read from (`ganjax.data.sources.source_fingerprint`: names, sizes, mtimes or zip CRCs). The cache
file name carries the fingerprint too, so another copy or subset of a dataset under the same name
never reuses statistics. A file whose header names another extractor, weights, split or source
files is refused with a message that says which and how to fix it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from typing import Any, Callable

import numpy as np
from absl import logging

from ganjax.errors import MissingFileError, UserError
from ganjax.metrics import FeatureStats
from ganjax.metrics.frechet import sqrt_psd
from ganjax.metrics.manifold import knn_radii_sq

SUBSET_SEED = 0  # The kept subset is a fixed permutation prefix: part of the protocol.
PR_K, DC_K = 3, 5


class ReferenceStatsError(UserError, ValueError):
    """A statistics cache that does not belong to this dataset split and extractor."""


@dataclasses.dataclass
class ReferenceSet:
    mu: np.ndarray  # [D] float64, over all `count` images.
    sigma: np.ndarray  # [D, D] float64.
    sigma_sqrt: np.ndarray | None  # [D, D] float64: sqrt_psd(sigma) (reference splits only).
    count: int
    features: np.ndarray  # [keep, D] float32: the fixed subset.
    logits: np.ndarray  # [keep, K] float32: the subset's logits (the real Inception Score).
    radii_sq: dict[int, np.ndarray]  # k -> [keep] squared k-NN radii of `features`.
    header: dict[str, Any]
    path: pathlib.Path | None = None

    def head(self, n: int) -> np.ndarray:
        """The first n kept features (a random subset of the split, fixed by SUBSET_SEED)."""
        return self.features[:n]


def cache_path(
    cache_dir: str,
    dataset: str,
    split: str,
    image_shape,
    extractor_name: str,
    weights_hash: str,
    source: str,
) -> pathlib.Path:
    """<cache_dir>/fid_stats/<dataset>_<split>_<HxWxC>_<extractor>_<weights>_src<source>.npz."""
    # The kind ("classifier", "inception_v3") stays whole; a long run path keeps its end (the
    # weights hash tells apart runs whose ends agree).
    kind, _, where = extractor_name.partition(":")
    slug = f"{kind}-{where.replace('/', '_')[-48:]}" if where else kind
    res = "x".join(str(s) for s in image_shape)
    return (
        pathlib.Path(cache_dir).expanduser()
        / "fid_stats"
        / f"{dataset}_{split}_{res}_{slug}_{weights_hash}_src{source}.npz"
    )


def _expected_header(dataset, split, image_shape, extractor, source: str) -> dict[str, Any]:
    return {
        "dataset": dataset,
        "split": split,
        "image_shape": list(image_shape),
        "extractor": extractor.name,
        "extractor_weights_hash": extractor.weights_hash,
        "source_fingerprint": source,
    }


def load(path: pathlib.Path, expected: dict[str, Any]) -> ReferenceSet:
    """Reads a cache file and checks its header against `expected`.

    Raises:
      ReferenceStatsError: the file was made for another dataset, split, extractor or source
        files.
    """
    try:
        z = np.load(path)
        header = json.loads(str(z["header"]))
    except Exception as e:  # numpy raises many types for a torn or foreign file.
        raise ReferenceStatsError(
            f"Reference statistics {path} cannot be read ({type(e).__name__}: "
            f"{str(e)[:200]}). Delete it "
            "to recompute it (cached files), or pass a statistics file written by ganjax."
        ) from e
    with z:
        mismatched = {k: (header.get(k), v) for k, v in expected.items() if header.get(k) != v}
        if mismatched:
            details = "; ".join(
                f"{k}: file has {a!r}, this evaluation uses {b!r}"
                for k, (a, b) in mismatched.items()
            )
            fix = "Use the extractor they were made with"
            if "source_fingerprint" in mismatched:  # Same name, other files (or older file).
                fix = (
                    "They were computed from other data files than the ones this evaluation "
                    "reads (another copy or subset of the dataset, or files changed since): point "
                    "config.data.manual_dir at the files they were made from"
                )
            raise ReferenceStatsError(
                f"Reference statistics {path} were computed for something else ({details}). "
                f"{fix}, or drop the explicit statistics file "
                "(config.eval.reference_stats / --reference_stats) to compute matching ones."
            )
        radii = {int(k.split("_")[1]): z[k] for k in z.files if k.startswith("radii_")}
        sqrt = z["sigma_sqrt"] if "sigma_sqrt" in z.files else None
        return ReferenceSet(
            z["mu"],
            z["sigma"],
            sqrt,
            int(z["count"]),
            z["features"],
            z["logits"],
            radii,
            header,
            path,
        )


def save(ref: ReferenceSet, path: pathlib.Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:  # An open file: np.savez would otherwise append ".npz".
        extra = {} if ref.sigma_sqrt is None else {"sigma_sqrt": ref.sigma_sqrt}
        np.savez(
            f,
            mu=ref.mu,
            sigma=ref.sigma,
            count=ref.count,
            features=ref.features,
            logits=ref.logits,
            header=json.dumps(ref.header),
            **extra,
            **{f"radii_{k}": v for k, v in ref.radii_sq.items()},
        )
    os.replace(tmp, path)  # Atomic: a killed run never leaves half a cache file.


def compute(
    images: np.ndarray,
    extract: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    keep: int,
    header: dict[str, Any],
    batch_size: int,
    with_sqrt: bool = True,
) -> ReferenceSet:
    """Streams `images` (uint8 [N, H, W, C]) through `extract` in batches.

    Args:
      images: the whole split.
      extract: uint8 batch -> (features, logits) as numpy.
      keep: how many features of the fixed random subset to keep.
      header: protocol items stored with the statistics.
      batch_size: images per extraction call.
      with_sqrt: also compute the covariance's square root (needed where the set is the reference).
    """
    n = len(images)
    order = np.random.default_rng(SUBSET_SEED).permutation(n)
    kept_rows = order[: min(keep, n)]
    position = np.full(n, -1)
    position[kept_rows] = np.arange(len(kept_rows))
    stats, kept, kept_logits = None, None, None
    for start in range(0, n, batch_size):
        feats, logits = extract(images[start : start + batch_size])
        if stats is None:
            stats = FeatureStats(feats.shape[1])
            kept = np.zeros((len(kept_rows), feats.shape[1]), np.float32)
            kept_logits = np.zeros((len(kept_rows), logits.shape[1]), np.float32)
        stats.update(feats)
        pos = position[start : start + len(feats)]
        kept[pos[pos >= 0]] = feats[pos >= 0]
        kept_logits[pos[pos >= 0]] = logits[pos >= 0]
    radii = knn_radii_sq(kept, (PR_K, DC_K))
    header = {**header, "count": n, "kept": len(kept_rows)}
    sigma = stats.cov()
    return ReferenceSet(
        stats.mean(),
        sigma,
        sqrt_psd(sigma) if with_sqrt else None,
        n,
        kept,
        kept_logits,
        radii,
        header,
    )


def load_or_compute(
    *,
    dataset: str,
    split: str,
    source: str,
    image_shape,
    extractor,
    load_images: Callable[[], np.ndarray],
    extract: Callable,
    keep: int,
    cache_dir: str,
    batch_size: int,
    explicit_path: str = "",
    with_sqrt: bool = True,
) -> ReferenceSet:
    """The cached reference set, computing (and caching) it when missing or too small.

    Args:
      source: the source fingerprint of the split's files (ganjax.data.sources.
        config_source_fingerprint): part of the cache name and of the header.
      explicit_path: a statistics file to use as given (never recomputed); its header must match.
    """
    expected = _expected_header(dataset, split, image_shape, extractor, source)
    if explicit_path:
        path = pathlib.Path(explicit_path).expanduser()
        if not path.is_file():
            raise MissingFileError(
                f"Reference statistics file {path} does not exist (config.eval.reference_stats)."
            )
        return load(path, expected)
    path = cache_path(
        cache_dir, dataset, split, image_shape, extractor.name, extractor.weights_hash, source
    )
    if path.exists():
        ref = load(path, expected)
        if len(ref.features) >= min(keep, ref.count) and (
            ref.sigma_sqrt is not None or not with_sqrt
        ):
            logging.info("Reference statistics for %s/%s from %s", dataset, split, path)
            return ref
    images = load_images()
    logging.info(
        "Computing %s features of %s/%s (%d images; cached at %s)",
        extractor.name,
        dataset,
        split,
        len(images),
        path,
    )
    ref = compute(images, extract, keep, expected, batch_size, with_sqrt)
    ref.path = path
    save(ref, path)
    return ref
