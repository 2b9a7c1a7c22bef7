"""Sample-quality metrics (ganjax.metrics) against independent references.

Every number is checked against something that does not share ganjax's code:
  * numpy / scipy written here (np.cov, the classic `scipy.linalg.sqrtm` FID formula, float64
    kernel MMD^2, a softmax Inception Score, brute-force k-NN balls from full distance matrices);
  * closed forms (1-D / diagonal Gaussians, uniform and one-hot logits, hand-counted k-NN balls);
  * the reference packages pytorch-fid and torch-fidelity, on the same feature arrays.

Tolerances, and why:
  * FeatureStats, FID, IS: float64 throughout on both sides, so 1e-6 relative or tighter.
  * KID: ganjax forms the kernel matrices with float32 matrix products (row sums in float64); the
    references are float64. Each kernel value is off by ~1e-7 relative, the three kernel sums
    (~1 each) nearly cancel, so the error is absolute: |ganjax - ref| <= 1e-5 |ref| + 1e-6, with
    kernel values ~1 here (measured: ~1e-8 absolute).
  * Precision / recall / density / coverage: ganjax compares float32 squared distances, the
    brute-force reference float64 distances; a point lying within round-off of a ball boundary can
    flip, so counts may differ by one sample (1/N). On the integer-valued hand-built case every
    distance is exact in float32 and the results must match exactly.
"""

from __future__ import annotations

import types
import warnings

import numpy as np
import pytest
import scipy.linalg
from scipy.spatial.distance import cdist

from ganjax import metrics
from ganjax.metrics.manifold import knn_radii_sq
from ganjax.metrics.mmd import mmd2_unbiased

# ----------------------------------------------------------------------------------------------
# Independent references.


def _fid_sqrtm_reference(mu1, s1, mu2, s2, eps=1e-6):
    """The classic pytorch-fid / TTUR formula: tr sqrtm(S1 S2) by scipy, + eps I on failure."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sqrtm warns on singular input; the result is checked.
        covmean = scipy.linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():
            offset = eps * np.eye(len(s1))
            covmean = scipy.linalg.sqrtm((s1 + offset) @ (s2 + offset))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean).real)


def _gauss(x):
    return x.mean(0), np.cov(x, rowvar=False)


def _mmd2_reference(x, y):
    """Unbiased MMD^2, cubic kernel (x.y / d + 1)^3, float64; diagonals dropped from K_xx, K_yy."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m, d = x.shape
    kern = lambda a, b: (a @ b.T / d + 1.0) ** 3
    kxx, kyy, kxy = kern(x, x), kern(y, y), kern(x, y)
    off_diag = (kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))
    return off_diag / (m * (m - 1)) - 2.0 * kxy.sum() / (m * m)


def _kid_reference(f1, f2, num_subsets, subset_size, seed):
    """KID with torch-fidelity's subset draw: one RandomState, rows of f1 then of f2 per subset."""
    rng = np.random.RandomState(seed)
    m = min(subset_size, len(f1), len(f2))
    vals = []
    for _ in range(num_subsets):
        a = f1[rng.choice(len(f1), m, replace=False)]
        b = f2[rng.choice(len(f2), m, replace=False)]
        vals.append(_mmd2_reference(a, b))
    return float(np.mean(vals)), float(np.std(vals))


def _is_reference(logits, splits):
    """Inception Score with explicit probabilities: exp(mean_x sum_y p log(p / p_y))."""
    logits = np.asarray(logits, np.float64)
    e = np.exp(logits - logits.max(1, keepdims=True))
    p = e / e.sum(1, keepdims=True)
    n = len(p)
    scores = []
    for i in range(splits):
        part = p[i * n // splits : (i + 1) * n // splits]
        py = part.mean(0, keepdims=True)
        kl = np.where(part > 0, part * np.log(np.where(part > 0, part, 1.0) / py), 0.0).sum(1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def _prdc_reference(real, fake, pr_k=3, dc_k=5):
    """Brute force: full float64 distance matrices (scipy's cdist, from coordinate differences),
    the k-th neighbour from np.sort (column 0 is the point itself), balls closed (<=)."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    d_rr, d_ff, d_fr = cdist(real, real), cdist(fake, fake), cdist(fake, real)  # d_fr: [M, N]
    r_sorted, f_sorted = np.sort(d_rr, axis=1), np.sort(d_ff, axis=1)
    real_pr, real_dc, fake_pr = r_sorted[:, pr_k], r_sorted[:, dc_k], f_sorted[:, pr_k]
    in_real_dc = d_fr <= real_dc[None, :]
    return {
        "precision": float((d_fr <= real_pr[None, :]).any(1).mean()),
        "recall": float((d_fr <= fake_pr[:, None]).any(0).mean()),
        "density": float(in_real_dc.sum() / (dc_k * len(fake))),
        "coverage": float(in_real_dc.any(0).mean()),
    }


def _assert_prdc_close(got, want, n_real, n_fake, dc_k=5):
    """Equal up to one boundary flip: 1/M for precision, 1/N for recall / coverage, 1/(kM) per
    flipped ball for density (one flip allowed per fake)."""
    tol = {
        "precision": 1 / n_fake,
        "recall": 1 / n_real,
        "coverage": 1 / n_real,
        "density": 1 / (dc_k * n_fake),
    }
    for key, t in tol.items():
        assert abs(got[key] - want[key]) <= t + 1e-12, (key, got[key], want[key])


@pytest.fixture(scope="module")
def refs():
    """The metric functions of pytorch-fid and torch-fidelity 0.4.0 (benchmarks/torch/refs.py:
    imported without torchvision, and dropped again when the module's tests end)."""
    pytest.importorskip("torch")
    from benchmarks.torch import refs as torch_refs

    with torch_refs.reference_imports():
        fid_score = pytest.importorskip("pytorch_fid.fid_score")
        tf_fid = pytest.importorskip("torch_fidelity.metric_fid")
        tf_kid = pytest.importorskip("torch_fidelity.metric_kid")
        tf_isc = pytest.importorskip("torch_fidelity.metric_isc")
        tf_prc = pytest.importorskip("torch_fidelity.metric_prc")
        yield types.SimpleNamespace(
            pytorch_fid=fid_score.calculate_frechet_distance,
            tf_fid=tf_fid.fid_statistics_to_metric,
            tf_kid=tf_kid.kid_features_to_metric,
            tf_isc=tf_isc.isc_features_to_metric,
            tf_prc=tf_prc.prc_features_to_metric,
        )


# ----------------------------------------------------------------------------------------------
# FeatureStats.


@pytest.mark.parametrize("offset", [0.0, 1e5])
def test_feature_stats_streamed_matches_numpy(offset):
    rng = np.random.default_rng(0)
    scales = np.geomspace(1e-2, 10.0, 24)
    x = rng.normal(size=(700, 24)) * scales + offset + rng.normal(size=24)
    x[:, 3] += 0.5 * x[:, 7]  # Some correlation, so off-diagonal terms matter.
    stats = metrics.FeatureStats(24)
    sizes = [1, 0, 7, 250, 93, 349]  # Uneven, with a single row first and an empty batch.
    starts = np.cumsum([0] + sizes)
    for s, e in zip(starts[:-1], starts[1:]):
        stats.update(x[s:e])
    assert stats.count == 700
    ref_cov = np.cov(x, rowvar=False)
    np.testing.assert_allclose(stats.mean(), x.mean(0), rtol=1e-13, atol=0)
    # Sums of raw squares would lose ~10 of 16 digits at offset 1e5 (x^2 ~ 1e10, var ~ 1e-4..1e2):
    # errors ~1e-6 absolute. Shifted sums keep near full precision.
    np.testing.assert_allclose(stats.cov(), ref_cov, rtol=1e-9, atol=1e-12 * np.abs(ref_cov).max())


def test_feature_stats_float32_batches_match_numpy():
    x = np.random.default_rng(1).normal(size=(300, 16)).astype(np.float32) * 3 + 2
    stats = metrics.FeatureStats(16)
    for b in np.array_split(x, 7):
        stats.update(b)
    x64 = x.astype(np.float64)  # The float32 values, accumulated in float64 on both sides.
    np.testing.assert_allclose(stats.mean(), x64.mean(0), rtol=1e-12)
    np.testing.assert_allclose(stats.cov(), np.cov(x64, rowvar=False), rtol=1e-10, atol=1e-12)


def test_feature_stats_errors():
    stats = metrics.FeatureStats(4)
    with pytest.raises(ValueError):
        stats.mean()  # Nothing yet.
    with pytest.raises(ValueError):
        stats.update(np.zeros((3, 5)))  # Wrong D.
    with pytest.raises(ValueError):
        stats.update(np.zeros(4))  # Not [B, D].
    stats.update(np.ones((1, 4)))
    np.testing.assert_array_equal(stats.mean(), np.ones(4))
    with pytest.raises(ValueError):
        stats.cov()  # One sample: no unbiased covariance.
    stats.update(np.zeros((0, 4)))
    assert stats.count == 1


# ----------------------------------------------------------------------------------------------
# Frechet distance.


def test_frechet_matches_sqrtm_reference():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(600, 32)) @ rng.normal(size=(32, 32)) * 0.3
    y = rng.normal(size=(500, 32)) * 1.2 + 0.3
    mu1, s1 = _gauss(x)
    mu2, s2 = _gauss(y)
    want = _fid_sqrtm_reference(mu1, s1, mu2, s2)
    assert want > 1.0
    np.testing.assert_allclose(metrics.frechet_distance(mu1, s1, mu2, s2), want, rtol=1e-6)
    np.testing.assert_allclose(metrics.fid_from_features(x, y), want, rtol=1e-6)
    # Symmetric in its two Gaussians.
    np.testing.assert_allclose(metrics.frechet_distance(mu2, s2, mu1, s1), want, rtol=1e-6)


@pytest.mark.parametrize("case", ["fewer_samples_than_dims", "constant_feature", "both_tiny"])
def test_frechet_rank_deficient(case):
    """Singular covariances: the result must be a finite, real, non-negative float.

    sqrtm of a singular S1 S2 is ill-conditioned (an eigenvalue error delta becomes sqrt(delta)),
    and pytorch-fid adds 1e-6 I to both covariances when sqrtm returns non-finite values, which
    moves the result by ~1e-6 tr. ganjax uses a symmetric eigendecomposition and adds nothing, so
    the two agree only loosely: 1e-6 relative (measured ~2e-9).
    """
    rng = np.random.default_rng(3)
    d = 48
    if case == "fewer_samples_than_dims":
        x, y = rng.normal(size=(20, d)), rng.normal(size=(300, d)) + 0.1
    elif case == "constant_feature":
        x = np.c_[rng.normal(size=(300, d - 1)), np.full(300, 3.0)]
        y = np.c_[rng.normal(size=(300, d - 1)) * 1.2, np.full(300, -1.0)]
    else:
        x, y = rng.normal(size=(10, d)), rng.normal(size=(12, d)) * 2.0
    mu1, s1 = _gauss(x)
    mu2, s2 = _gauss(y)
    got = metrics.frechet_distance(mu1, s1, mu2, s2)
    assert type(got) is float and np.isfinite(got) and got >= 0.0
    np.testing.assert_allclose(got, _fid_sqrtm_reference(mu1, s1, mu2, s2), rtol=1e-6)


@pytest.mark.parametrize("n", [2, 7, 30, 48])
def test_frechet_from_few_rows_equals_the_dense_form(n):
    """rows1 with N - 1 < D: the N x N form (module docstring) gives the D x D forms' value
    (the sqrtm reference, and the eigendecomposition without rows); N - 1 >= D: the dense path."""
    rng = np.random.default_rng(n)
    d = 48
    x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) * 0.2 + 0.5
    y = np.abs(rng.normal(size=(300, d))) * 1.3
    mu1, s1 = _gauss(x)
    mu2, s2 = _gauss(y)
    got = metrics.frechet_distance(mu1, s1, mu2, s2, rows1=x)
    # The D x D form sums sqrt of D - N + 1 round-off eigenvalues (~1e-15 each) that are zero in
    # exact arithmetic: measured 2.4e-8 relative at most here.
    np.testing.assert_allclose(got, metrics.frechet_distance(mu1, s1, mu2, s2), rtol=1e-7)
    np.testing.assert_allclose(got, _fid_sqrtm_reference(mu1, s1, mu2, s2), rtol=1e-6)
    np.testing.assert_allclose(metrics.fid_from_features(x, y), got, rtol=1e-9)
    sqrt2 = metrics.frechet.sqrt_psd(s2)
    np.testing.assert_allclose(
        metrics.frechet_distance(mu1, s1, mu2, s2, sigma2_sqrt=sqrt2, rows1=x), got, rtol=1e-12
    )
    with pytest.raises(ValueError, match="rows1"):
        metrics.frechet_distance(mu1, s1, mu2, s2, rows1=x[:, :-1])


def test_frechet_identical_inputs_is_zero():
    x = np.random.default_rng(4).normal(size=(40, 64)) * 5 + 100  # Rank 39 < 64.
    mu, s = _gauss(x)
    assert 0.0 <= metrics.frechet_distance(mu, s, mu, s) <= 1e-9 * np.trace(s)
    assert 0.0 <= metrics.fid_from_features(x, x.copy()) <= 1e-9 * np.trace(s)


def test_frechet_closed_form_1d_and_diagonal():
    # 1-D: (mu1 - mu2)^2 + s1 + s2 - 2 sqrt(s1 s2).
    got = metrics.frechet_distance([1.5], [[4.0]], [-0.5], [[9.0]])
    np.testing.assert_allclose(got, 2.0**2 + 4.0 + 9.0 - 2.0 * 6.0, rtol=1e-12)
    # Diagonal Gaussians: the same, summed over dimensions.
    rng = np.random.default_rng(5)
    mu1, mu2 = rng.normal(size=10), rng.normal(size=10)
    v1, v2 = rng.uniform(0.1, 5, 10), rng.uniform(0.1, 5, 10)
    want = np.sum((mu1 - mu2) ** 2 + v1 + v2 - 2.0 * np.sqrt(v1 * v2))
    got = metrics.frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2))
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_frechet_errors():
    mu, s = np.zeros(3), np.eye(3)
    with pytest.raises(ValueError):
        metrics.frechet_distance(mu, s, np.zeros(4), np.eye(4))
    with pytest.raises(ValueError):
        metrics.frechet_distance(mu, s, mu, np.eye(4))
    with pytest.raises(ValueError):
        metrics.frechet_distance(mu, s, np.array([0.0, np.nan, 0.0]), s)


# ----------------------------------------------------------------------------------------------
# Against pytorch-fid and torch-fidelity.


def test_fid_matches_pytorch_fid_and_torch_fidelity(refs):
    rng = np.random.default_rng(6)
    x = np.abs(rng.normal(size=(800, 64)))  # Non-negative, like pooled ReLU features.
    y = np.abs(rng.normal(size=(700, 64)) * 1.1 + 0.05)
    mu1, s1 = _gauss(x)
    mu2, s2 = _gauss(y)
    got = metrics.fid_from_features(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's deprecation of sqrtm(disp=...).
        want_pf = float(refs.pytorch_fid(mu1, s1, mu2, s2))
    want_tf = refs.tf_fid({"mu": mu1, "sigma": s1}, {"mu": mu2, "sigma": s2}, verbose=False)
    want_tf = want_tf["frechet_inception_distance"]
    np.testing.assert_allclose(got, want_pf, rtol=1e-6)
    np.testing.assert_allclose(got, want_tf, rtol=1e-6)


def test_kid_matches_torch_fidelity(refs):
    import torch

    rng = np.random.default_rng(7)
    f1 = rng.normal(size=(500, 32)).astype(np.float32)
    f2 = (rng.normal(size=(450, 32)) * 1.1 + 0.1).astype(np.float32)
    got = metrics.kid(f1, f2, num_subsets=20, subset_size=200, seed=123)
    # float64 tensors: torch-fidelity then computes its kernels in float64.
    want = refs.tf_kid(
        torch.from_numpy(f1.astype(np.float64)),
        torch.from_numpy(f2.astype(np.float64)),
        kid_subsets=20,
        kid_subset_size=200,
        rng_seed=123,
        verbose=False,
    )
    assert want["kernel_inception_distance_mean"] > 0.01
    np.testing.assert_allclose(got[0], want["kernel_inception_distance_mean"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[1], want["kernel_inception_distance_std"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n,splits", [(1000, 10), (1003, 7)])
def test_inception_score_matches_torch_fidelity(refs, n, splits):
    import torch

    logits = np.random.default_rng(8).normal(size=(n, 50)) * 3.0
    got = metrics.inception_score(logits, splits=splits)
    want = refs.tf_isc(torch.from_numpy(logits), splits=splits, shuffle=False)
    np.testing.assert_allclose(got[0], want["inception_score_mean"], rtol=1e-6)
    np.testing.assert_allclose(got[1], want["inception_score_std"], rtol=1e-6)


@pytest.mark.parametrize("k", [3, 5])
def test_precision_recall_matches_torch_fidelity(refs, k):
    import torch

    rng = np.random.default_rng(9)
    real = rng.normal(size=(700, 32)).astype(np.float32)
    fake = (rng.normal(size=(600, 32)) * 1.2 + 0.15).astype(np.float32)
    precision, recall = metrics.precision_recall(real, fake, k=k)
    want = refs.tf_prc(  # torch-fidelity: features_1 GENERATED, features_2 REAL.
        torch.from_numpy(fake),
        torch.from_numpy(real),
        prc_neighborhood=k,
        prc_batch_size=10000,
        save_cpu_ram=False,
        verbose=False,
    )
    assert 0.05 < want["precision"] < 0.99 and 0.05 < want["recall"] < 0.99  # Not a trivial case.
    assert abs(precision - want["precision"]) <= 1 / len(fake) + 1e-6
    assert abs(recall - want["recall"]) <= 1 / len(real) + 1e-6


# ----------------------------------------------------------------------------------------------
# KID against numpy.


def test_kid_matches_numpy_reference():
    rng = np.random.default_rng(10)
    f1 = rng.normal(size=(400, 16)).astype(np.float32)
    f2 = (rng.normal(size=(350, 16)) + 0.2).astype(np.float32)
    got = metrics.kid(f1, f2, num_subsets=15, subset_size=150, seed=7)
    want = _kid_reference(f1, f2, 15, 150, 7)
    assert want[0] > 0.01
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # A different seed draws different subsets.
    assert metrics.kid(f1, f2, num_subsets=15, subset_size=150, seed=8)[0] != got[0]
    # One MMD^2 estimate, near zero where cancellation is worst.
    a, b = f1[:300], rng.normal(size=(300, 16)).astype(np.float32)
    np.testing.assert_allclose(mmd2_unbiased(a, b), _mmd2_reference(a, b), rtol=1e-5, atol=1e-6)


def test_kid_same_distribution_is_near_zero():
    rng = np.random.default_rng(11)
    f1, f2 = rng.normal(size=(2, 600, 16)).astype(np.float32)
    same, _ = metrics.kid(f1, f2, num_subsets=10, subset_size=300)
    shifted, _ = metrics.kid(f1, f2 + 0.5, num_subsets=10, subset_size=300)
    assert shifted > 0.1
    assert abs(same) < 0.02 * shifted


def test_kid_subset_size_is_clipped():
    rng = np.random.default_rng(12)
    f1 = rng.normal(size=(120, 16)).astype(np.float32)
    f2 = (rng.normal(size=(90, 16)) + 0.3).astype(np.float32)
    got = metrics.kid(f1, f2, num_subsets=5, subset_size=1000, seed=3)
    np.testing.assert_allclose(got, _kid_reference(f1, f2, 5, 90, 3), rtol=1e-5, atol=1e-6)
    assert got == metrics.kid(f1, f2, num_subsets=5, subset_size=90, seed=3)


def test_kid_errors():
    with pytest.raises(ValueError):
        metrics.kid(np.zeros((10, 4)), np.zeros((10, 5)))
    with pytest.raises(ValueError):
        metrics.kid(np.zeros((1, 4)), np.zeros((10, 4)))


# ----------------------------------------------------------------------------------------------
# Inception Score.


def test_inception_score_uniform_is_one():
    mean, std = metrics.inception_score(np.full((100, 10), 2.5), splits=10)
    np.testing.assert_allclose([mean, std], [1.0, 0.0], atol=1e-12)


def test_inception_score_confident_and_even_is_num_classes():
    k, splits = 8, 5
    labels = np.arange(k * splits * 4) % k  # Every consecutive split holds each class 4 times.
    logits = 60.0 * np.eye(k)[labels]  # p(y|x) one-hot up to e^-60.
    mean, std = metrics.inception_score(logits, splits=splits)
    np.testing.assert_allclose(mean, k, rtol=1e-9)
    assert std < 1e-9


@pytest.mark.parametrize("n,splits", [(500, 10), (503, 4)])
def test_inception_score_matches_numpy_reference(n, splits):
    logits = np.random.default_rng(13).normal(size=(n, 20)) * 2.0
    got = metrics.inception_score(logits, splits=splits)
    np.testing.assert_allclose(got, _is_reference(logits, splits), rtol=1e-10)


def test_inception_score_errors():
    with pytest.raises(ValueError):
        metrics.inception_score(np.zeros((5, 3)), splits=10)
    with pytest.raises(ValueError):
        metrics.inception_score(np.zeros(20), splits=2)


# ----------------------------------------------------------------------------------------------
# Precision, recall, density, coverage.


def test_prdc_matches_brute_force():
    # 1300 real and 1100 fake rows: more than one 1024-row block on both sides.
    rng = np.random.default_rng(14)
    real = rng.normal(size=(1300, 16)).astype(np.float32)
    fake = (rng.normal(size=(1100, 16)) * 1.1 + 0.1).astype(np.float32)
    got = metrics.prdc(real, fake)
    want = _prdc_reference(real, fake)
    assert all(0.05 < v < 0.95 for v in want.values()), want  # Not a trivial case.
    _assert_prdc_close(got, want, len(real), len(fake))


@pytest.mark.parametrize("k", [2, 4])
def test_precision_recall_and_density_coverage_wrappers(k):
    rng = np.random.default_rng(15)
    real = rng.normal(size=(300, 16)).astype(np.float32)
    fake = (rng.normal(size=(250, 16)) + 0.2).astype(np.float32)
    want = _prdc_reference(real, fake, pr_k=k, dc_k=k)
    got_pr = metrics.precision_recall(real, fake, k=k)
    got_dc = metrics.density_coverage(real, fake, k=k)
    got = dict(zip(("precision", "recall", "density", "coverage"), got_pr + got_dc))
    _assert_prdc_close(got, want, len(real), len(fake), dc_k=k)


def test_prdc_identical_sets():
    """fake == real: every fake is its own real point, so precision = recall = coverage = 1.
    Fake x_j lies in its own DC ball and, on the boundary, in the ball of each x_i that has x_j
    among its k nearest neighbours: N (k + 1) memberships in all, density = (k + 1) / k (no ties
    in continuous data)."""
    real = np.random.default_rng(16).normal(size=(400, 16)).astype(np.float32)
    got = metrics.prdc(real, real.copy())
    want = _prdc_reference(real, real)
    assert want == {"precision": 1.0, "recall": 1.0, "density": 6 / 5, "coverage": 1.0}
    assert got["precision"] == got["recall"] == got["coverage"] == 1.0
    assert abs(got["density"] - 6 / 5) <= 1 / (5 * len(real))


def test_prdc_far_fakes_are_all_zero():
    real = np.random.default_rng(17).normal(size=(300, 16)).astype(np.float32)
    got = metrics.prdc(real, real + np.float32(1e3))
    assert got == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_prdc_hand_built_grid():
    """Real: x = 0..9 on a line. Fake: x = 0..4 (on the grid) and x = 100..104 (far away).

    Distances are small integers, exact in float32, so ball boundaries are hit exactly and the
    closed (<=) balls are tested too.
      precision (k=3): the 5 on-grid fakes of 10 -> 0.5.
      recall (k=3): fake radii among fakes: 3, 2, 2, 2, 3 for x = 0..4; the ball of fake 4 reaches
        real 7 (on its boundary), fake 3 reaches 5 -> reals 0..7 -> 0.8 (0.7 with open balls).
      density (k=5): real radii 5, 4, 3, 3, 3, 3, 3, 3, 4, 5 for x = 0..9; fake x lies in the
        balls of reals i with |i - x| <= r_i: 4, 5, 6, 7, 10 reals for x = 0..4 -> 32 / (5 * 10).
      coverage (k=5): real i's nearest fake is at max(i - 4, 0) <= r_i for all i (7, 8, 9 on the
        boundary) -> 1.0 (0.7 with open balls).
    """
    line = lambda xs: np.stack([np.asarray(xs, np.float32), np.zeros(len(xs), np.float32)], 1)
    real = line(range(10))
    fake = line([0, 1, 2, 3, 4, 100, 101, 102, 103, 104])
    want = {"precision": 0.5, "recall": 0.8, "density": 32 / 50, "coverage": 1.0}
    assert _prdc_reference(real, fake) == want  # The hand count, checked by brute force.
    assert metrics.prdc(real, fake) == want
    real_dc_radii = np.square([5, 4, 3, 3, 3, 3, 3, 3, 4, 5])
    np.testing.assert_array_equal(knn_radii_sq(real, (5,))[5], real_dc_radii)
    # Precision on ball boundaries: the PR (k=3) radius of reals 0 and 9 is 3; fakes -3 and 12 lie
    # on those boundaries, -4, 13 and 20 outside every ball -> 2 / 5 (0 with open balls).
    fake = line([-4, -3, 12, 13, 20])
    got = metrics.prdc(real, fake)
    assert got["precision"] == 0.4
    assert got == _prdc_reference(real, fake)


def test_prdc_precomputed_real_radii():
    rng = np.random.default_rng(18)
    real = rng.normal(size=(500, 16)).astype(np.float32)
    fake = (rng.normal(size=(400, 16)) + 0.3).astype(np.float32)
    radii = knn_radii_sq(real, (3, 5))
    # The radii themselves against brute force (float32 distances: ~1e-6 relative).
    d2 = np.sort(cdist(real.astype(np.float64), real.astype(np.float64), "sqeuclidean"), axis=1)
    np.testing.assert_allclose(radii[3], d2[:, 3], rtol=1e-4)
    np.testing.assert_allclose(radii[5], d2[:, 5], rtol=1e-4)
    assert metrics.prdc(real, fake, real_radii_sq=radii) == metrics.prdc(real, fake)
    with pytest.raises(ValueError):
        metrics.prdc(real, fake, real_radii_sq=knn_radii_sq(real[:100], (3, 5)))


def test_prdc_errors():
    with pytest.raises(ValueError):
        knn_radii_sq(np.zeros((5, 2)), (5,))  # Needs more than k rows.
    with pytest.raises(ValueError):
        metrics.prdc(np.zeros((10, 3)), np.zeros((10, 4)))


def test_knn_radii_translation_invariant():
    """Distances are taken after centring on the real mean: a large offset costs no digits."""
    real = np.random.default_rng(19).normal(size=(300, 16)).astype(np.float32)
    d2 = np.sort(cdist(real.astype(np.float64), real.astype(np.float64), "sqeuclidean"), axis=1)
    np.testing.assert_allclose(knn_radii_sq(real + np.float32(1e3), (3,))[3], d2[:, 3], rtol=1e-3)
    fake = np.random.default_rng(20).normal(size=(250, 16)).astype(np.float32) * 1.2
    assert metrics.prdc(real + np.float32(1e3), fake + np.float32(1e3)) == metrics.prdc(real, fake)
