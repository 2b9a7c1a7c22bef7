"""Inception Score (Salimans et al. 2016) from class logits: exp(E_x KL(p(y|x) || p(y)))."""

from __future__ import annotations

import numpy as np
from scipy.special import log_softmax


def inception_score(logits, splits: int = 10) -> tuple[float, float]:
    """Mean and standard deviation of the score over `splits` consecutive, equal-sized parts.

    The split protocol of the original code: the samples are taken in the order given (no
    shuffle), part i is rows [i N / splits, (i + 1) N / splits), p(y) is each part's mean
    prediction, and the std is numpy's (ddof 0). Computed in float64.

    Args:
      logits: [N, K] unnormalized class scores (softmax gives p(y|x)).
      splits: number of parts.

    Returns:
      (mean, std).
    """
    logits = np.asarray(logits, np.float64)
    n = len(logits)
    if logits.ndim != 2 or n < splits:
        raise ValueError(f"inception_score needs [N >= {splits}, K] logits, got {logits.shape}")
    log_p = log_softmax(logits, axis=1)
    scores = []
    for i in range(splits):
        part = log_p[i * n // splits : (i + 1) * n // splits]
        p = np.exp(part)
        log_py = np.log(p.mean(0))
        scores.append(np.exp((p * (part - log_py)).sum(1).mean()))
    return float(np.mean(scores)), float(np.std(scores))
