"""Synthetic labeled codes from a handful of labeled real codes (then decoded by a CodeSpace).

Strategies (`--strategy`):
  subset_mean  the source's (Langr's VAE-GAN chapter): each synthetic code of label c is the mean
               of a random subset of c's labeled codes; the subset size is drawn uniformly from
               1..n_c, so the set mixes single (reconstructed) examples with averaged ones.
  shift        a real image's code (drawn from the unlabeled pool: images whose labels are not
               used) with its coordinates in the class subspace replaced by class c's: with m_c
               the labeled class means, m their average and P the orthogonal projection onto
               span{m_c - m}, z' = z - P (z - m) + P (m_c - m). It keeps the pool image's
               individual variation (pose, thickness, ...) and moves only what separates the
               classes; with two classes it moves z along the attribute direction until its
               coordinate there equals m_c's.

Labels are balanced: label i mod num_classes for row i, then shuffled.
"""

from __future__ import annotations

import numpy as np

from ganjax import rng as rng_lib
from ganjax.data import attribute_specs
from ganjax.errors import ConfigError
from ganjax.latent.attributes import class_means

STRATEGIES = ("subset_mean", "shift")


def balanced_labels(num: int, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    return rng.permutation(np.arange(num) % num_classes).astype(np.int32)


def class_subspace(means: np.ndarray) -> np.ndarray:
    """[D, r] orthonormal basis of span{m_c - mean of m} (r <= num_classes - 1)."""
    means = np.asarray(means, np.float64)
    centered = means - means.mean(axis=0, keepdims=True)
    u, s, _ = np.linalg.svd(centered.T, full_matrices=False)
    rank = int(np.sum(s > 1e-5 * max(s.max(), 1e-30)))  # Codes are float32.
    return u[:, :rank]


def synthesize_codes(
    strategy: str,
    labeled_codes: np.ndarray,
    labels: np.ndarray,
    num: int,
    seed: int,
    pool_codes: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(codes [num, D], labels [num]) by `strategy` from labeled codes (labels 0..K-1).

    Raises:
      ValueError: an unknown strategy, a class without labeled codes, or `shift` without a pool.
    """
    labeled_codes = np.asarray(labeled_codes, np.float32)
    labels = np.asarray(labels)
    num_classes = int(labels.max()) + 1
    means = class_means(labeled_codes, labels, num_classes)
    rng = rng_lib.stream(seed, "synthesis_codes")
    out_labels = balanced_labels(num, num_classes, rng)
    codes = np.empty((num, labeled_codes.shape[1]), np.float32)
    if strategy == "subset_mean":
        by_class = [labeled_codes[labels == c] for c in range(num_classes)]
        for i, c in enumerate(out_labels):
            pool = by_class[c]
            size = rng.integers(1, len(pool) + 1)
            codes[i] = pool[rng.choice(len(pool), size, replace=False)].mean(0)
    elif strategy == "shift":
        if pool_codes is None or len(pool_codes) == 0:
            raise ConfigError("strategy 'shift' needs codes of unlabeled real images (the pool)")
        basis = class_subspace(means)  # [D, r]
        center = means.astype(np.float64).mean(0)
        z = np.asarray(pool_codes, np.float32)[rng.integers(0, len(pool_codes), num)]
        own = (z - center) @ basis  # [num, r]: the pool codes' class-subspace coordinates.
        target = (means[out_labels] - center) @ basis
        codes[:] = z + (target - own) @ basis.T
    else:
        raise ConfigError(f"Unknown synthesis strategy '{strategy}'; choose one of {STRATEGIES}")
    return codes, out_labels


def labeled_examples(
    train: dict[str, np.ndarray], attribute: str, num_labeled: int, seed: int
) -> tuple[np.ndarray, np.ndarray, dict]:
    """(indices, labels, what they are) of the labeled real images: the label budget.

    attribute "classes": `num_labeled` random images of every class, labeled by class.
    Any other spec (ganjax/latent/attributes.py): `num_labeled` per side, label 1 = has it, 0 = not.
    """

    if attribute == "classes":
        if "label" not in train:
            raise ConfigError("--attribute=classes needs a labeled dataset")
        labels_all = np.asarray(train["label"])
        rng = rng_lib.stream(seed, "class_labeled")
        idx, labels = [], []
        for c in range(int(labels_all.max()) + 1):
            pool = np.flatnonzero(labels_all == c)
            take = np.sort(rng.choice(pool, min(num_labeled, len(pool)), replace=False))
            idx.append(take)
            labels.append(np.full(len(take), c, np.int32))
        idx, labels = np.concatenate(idx), np.concatenate(labels)
        info = {"labels": "the dataset's classes"}
    else:
        sides = attribute_specs.select_sides(train, attribute)
        pos, neg = attribute_specs.labeled_subset(sides, num_labeled, seed)
        idx = np.concatenate([pos, neg])
        labels = np.concatenate([np.ones(len(pos), np.int32), np.zeros(len(neg), np.int32)])
        info = {
            "labels": "1: the attribute's positive side, 0: its negative side",
            "description": sides.description,
        }
    info["labeled_indices"] = idx.tolist()
    return idx, labels, info


def synthesize_dataset(
    space,
    train: dict[str, np.ndarray],
    *,
    attribute: str,
    num_labeled: int,
    num: int,
    strategy: str,
    seed: int,
    out_dir,
    pool_size: int = 5000,
    run: str = "",
):
    """Generates `num` labeled images and writes them as a synthetic dataset (ganjax/data)."""
    from ganjax.data.synthetic import write_dataset
    from ganjax.latent.code_space import to_uint8

    idx, labels, info = labeled_examples(train, attribute, num_labeled, seed)
    codes = space.encode(train["image"][idx])
    pool = None
    if strategy == "shift":
        rng = rng_lib.stream(seed, "synthesis_pool")
        pick = np.sort(
            rng.choice(len(train["image"]), min(pool_size, len(train["image"])), replace=False)
        )
        pool = space.encode(train["image"][pick])
    z, y = synthesize_codes(strategy, codes, labels, num, seed, pool_codes=pool)
    images = to_uint8(space.decode(z))
    meta = {
        "run": str(run),
        "code_space": space.source,
        "dataset": space.config.data.name,
        "attribute": attribute,
        "num_labeled": num_labeled,
        "num_labeled_total": len(labels),
        "strategy": strategy,
        "pool_size": 0 if pool is None else len(pool),
        "seed": seed,
        **info,
    }
    return write_dataset(out_dir, images, y, meta)
