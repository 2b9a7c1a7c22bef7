"""PIL-exact resizing (ganjax.ops.resize) and clean-fid's Inception input built from it."""

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from ganjax.evaluators import extractors
from ganjax.ops.resize import pil_matrix, resize_pil


@pytest.mark.parametrize("h,w", [(28, 28), (64, 64), (256, 256), (512, 300), (299, 299), (17, 40)])
def test_resize_pil_equals_pils_bicubic_on_float_images(h, w):
    image = np.random.default_rng(h * w).integers(0, 256, (h, w)).astype(np.float32)
    want = np.asarray(Image.fromarray(image, mode="F").resize((299, 299), Image.Resampling.BICUBIC))
    got = np.asarray(resize_pil(jnp.asarray(image)[None, :, :, None], 299, 299))[0, :, :, 0]
    # PIL sums in float64 and stores each pass in float32; here both passes are float32.
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-4)


def test_pil_matrix_rows_sum_to_one_and_antialias_when_downsizing():
    up, down = pil_matrix(64, 299), pil_matrix(512, 299)
    np.testing.assert_allclose(up.sum(1), 1.0, atol=1e-12)
    np.testing.assert_allclose(down.sum(1), 1.0, atol=1e-12)
    assert (np.abs(up) > 0).sum(1).max() == 4  # bicubic: 4 taps when enlarging
    assert (np.abs(down) > 0).sum(1).max() > 4  # widened by the reduction factor


def test_clean_fid_input_equals_clean_fids_own_resizer():
    resize = pytest.importorskip("cleanfid.resize")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 64, 48, 3), dtype=np.uint8)
    clean = resize.build_resizer("clean")
    want = np.stack([(clean(im) - 128.0) / 128.0 for im in images])  # clean-fid's InceptionV3W
    x = jnp.asarray(images, jnp.float32) * (2.0 / 255.0) - 1.0  # as features_fn hands it over
    got = np.asarray(extractors._clean_fid_input(x))
    assert got.shape == (2, 299, 299, 3)
    np.testing.assert_allclose(got, want, rtol=0, atol=3e-6)
