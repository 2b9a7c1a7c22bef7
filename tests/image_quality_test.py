"""ganjax.metrics.image_quality against scikit-image's PSNR and SSIM and a numpy L1."""

import numpy as np
import pytest

from ganjax.metrics import image_quality as iq

skimage_metrics = pytest.importorskip("skimage.metrics")


def _pairs(shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, shape, dtype=np.uint8)
    noise = rng.integers(-40, 41, shape)
    return x, np.clip(x.astype(int) + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("shape", [(4, 28, 28, 1), (3, 40, 33, 3), (2, 11, 11, 1)])
def test_ssim_and_psnr_match_scikit_image(shape):
    x, y = _pairs(shape, seed=sum(shape))
    ssim_ref = [
        skimage_metrics.structural_similarity(
            a,
            b,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=255,
            channel_axis=-1,
        )
        for a, b in zip(x, y)
    ]
    psnr_ref = [skimage_metrics.peak_signal_noise_ratio(a, b, data_range=255) for a, b in zip(x, y)]
    np.testing.assert_allclose(iq.ssim_per_pair(x, y), ssim_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(iq.psnr_per_pair(x, y), psnr_ref, rtol=1e-12)
    assert iq.ssim(x, y) == pytest.approx(np.mean(ssim_ref))
    assert iq.psnr(x, y) == pytest.approx(np.mean(psnr_ref))


def test_l1_and_identical_pairs():
    x, y = _pairs((5, 16, 16, 3), seed=3)
    expected = np.mean(np.abs(x.astype(np.float64) - y.astype(np.float64))) / 255.0
    assert iq.l1(x, y) == pytest.approx(expected, rel=1e-12)
    assert iq.l1(x, x) == 0.0
    assert iq.ssim(x, x) == pytest.approx(1.0)
    assert iq.psnr(x, x) == iq.PSNR_CAP
    # More noise: lower SSIM and PSNR, higher L1.
    rng = np.random.default_rng(0)
    z = np.clip(x.astype(int) + rng.integers(-120, 121, x.shape), 0, 255).astype(np.uint8)
    assert iq.ssim(x, z) < iq.ssim(x, y) and iq.psnr(x, z) < iq.psnr(x, y)
    assert iq.l1(x, z) > iq.l1(x, y)


def test_bad_inputs_are_named():
    x, _ = _pairs((2, 16, 16, 1), seed=0)
    with pytest.raises(ValueError, match="one shape"):
        iq.l1(x, x[:1])
    with pytest.raises(ValueError, match="uint8"):
        iq.psnr(x.astype(np.float32), x.astype(np.float32))
    with pytest.raises(ValueError, match="11x11"):
        iq.ssim(x[:, :8, :8], x[:, :8, :8])
