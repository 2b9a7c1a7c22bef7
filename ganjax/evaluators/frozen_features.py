"""Features of a frozen network over a whole image array: fixed-size padded batches (one
compile), kept on disk by network and images.

Used by the transfer head (ganjax/methods/transfer_head.py): its frozen feature network sees
every training and test image once, and the real test split, featurized once, serves every
stage and run that scores on it (the Inception network takes minutes on a CPU for a few
thousand images).
"""

from __future__ import annotations

import hashlib
import os
import pathlib
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ganjax.evaluators import extractors

# uint8 images [N, H, W, C] -> float32 features [N, F].
Featurize = Callable[[np.ndarray], np.ndarray]


def images_digest(images: np.ndarray) -> str:
    """A sha256 of an image array (dtype, shape and bytes), 20 hex digits."""
    a = np.ascontiguousarray(images)
    h = hashlib.sha256(f"{a.dtype}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()[:20]


def batched(fn: Callable[[jax.Array], jax.Array], batch: int) -> Featurize:
    """`fn` over all images, `batch` rows per call: the last chunk is padded with its own first
    image, so a jitted `fn` compiles once for all splits and sizes."""

    def compute(images: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(images), batch):
            chunk = images[i : i + batch]
            pad = np.concatenate([chunk, np.repeat(chunk[:1], batch - len(chunk), 0)])
            out.append(np.asarray(fn(jnp.asarray(pad)))[: len(chunk)])
        return np.concatenate(out)

    return compute


def cached(compute: Featurize, cache_dir, kind: str, net_hash: str) -> Featurize:
    """`compute` with its results kept in <cache_dir>/transfer_features/, keyed by the network
    (`kind`, a hash of its weights) and a sha256 of the images; no cache_dir: `compute`."""
    if not cache_dir:
        return compute

    def featurize(images: np.ndarray) -> np.ndarray:
        path = pathlib.Path(cache_dir).expanduser() / "transfer_features"
        path = path / f"{kind}_{net_hash}_{images_digest(images)}.npy"
        if path.exists():
            return np.load(path)
        features = compute(images)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, features)
        os.replace(tmp, path)  # Whole or absent, even with runs side by side.
        return features

    return featurize


def extractor_features(
    spec: str, data_cfg, batch: int = 500, cache_dir=None, classifier_arg: str = ""
) -> tuple[Featurize, str]:
    """(featurize, a description for results.json) for an evaluation extractor spec
    (`inception_v3`, `classifier:<path>`; ganjax/evaluators/extractors.py): its pooled features.
    The network sees min(`batch`, its own bound) images per call (Inception at 299 px: ~33 MB of
    activations per image; 500 per call took 15 GB and was OOM-killed on a 24 GB machine beside
    other runs). `classifier_arg`: the config argument of a `classifier:<dataset>` run."""
    ext = extractors.create_extractor(spec, data_cfg, classifier_arg=classifier_arg)
    batch = min(batch, ext.max_batch_per_device or batch)
    apply = extractors.features_fn(ext)
    fn = jax.jit(
        lambda images: apply(ext.variables, images)[0], compiler_options=ext.compiler_options
    )
    kind = spec.partition(":")[0]
    # The extractor's own sha256 of its variables.
    featurize = cached(batched(fn, batch), cache_dir, kind, ext.weights_hash)
    return featurize, f"{ext.name} features ({ext.weights})"
