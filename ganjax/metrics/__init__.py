"""Sample-quality metrics computed from features: pure functions, float64 statistics.

  frechet_distance / fid_from_features   Frechet (Inception) Distance
  kid                                    Kernel Inception Distance (unbiased MMD^2, cubic kernel)
  inception_score                        Inception Score from class logits
  precision_recall / density_coverage    Kynkaanniemi et al. 2019 / Naeem et al. 2020
  FeatureStats                           streaming mean / covariance, batch by batch

Every function takes features (numpy or jax arrays, [N, D]); none calls a network. The feature
extractors and the evaluation protocol live in ganjax/evaluators.
"""

from ganjax.metrics.frechet import fid_from_features, frechet_distance
from ganjax.metrics.iscore import inception_score
from ganjax.metrics.manifold import density_coverage, prdc, precision_recall
from ganjax.metrics.mmd import kid
from ganjax.metrics.stats import FeatureStats

__all__ = [
    "FeatureStats",
    "density_coverage",
    "fid_from_features",
    "frechet_distance",
    "inception_score",
    "kid",
    "prdc",
    "precision_recall",
]
