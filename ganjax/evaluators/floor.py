"""The real-vs-real floor of an experiment's data, without a trained run.

A generative metric means little without the value two samples of real images reach. For an
image dataset the floor is the held-out split (`config.eval.heldout_split`, e.g. CelebA's test
partition) against the reference split (`config.eval.reference_split`, e.g. train), through
`SampleQualityEvaluator` and its cached statistics, exactly as every evaluation of a run of that
config reports it. For a paired translation dataset (pix2pix) it is the test split's targets (the
images outputs are scored against) against the training split's targets, through the translation
set evaluator: `experiments.floor` prints both kinds.
"""

from __future__ import annotations

from typing import Any

import ml_collections

from ganjax.data import load_config_split
from ganjax.errors import ConfigError
from ganjax.training import parallel


def _image_floor(config, mesh, extractor: str | None) -> dict[str, Any]:
    from ganjax.evaluators import fid

    image_shape = load_config_split(config.data, config.eval.heldout_split, 1)["image"].shape[1:]
    evaluator = fid.SampleQualityEvaluator(config, mesh, image_shape, extractor=extractor)
    return {**evaluator.real_vs_real(), "protocol": evaluator.protocol()}


def _paired_floor(config, mesh, extractor: str | None) -> dict[str, Any]:
    from ganjax.data.translation_tasks import load_paired_split
    from ganjax.evaluators import translation

    d = config.data
    if extractor:
        config.eval.extractor = extractor
    test = load_paired_split(d, d.test_split, d.crop_size, None)["target"]
    train = load_paired_split(d, d.train_split, d.crop_size, None)["target"]
    evaluator = translation.SetEvaluator(config, mesh, test.shape[1:])
    result = evaluator.score(train, test)
    protocol = evaluator.protocol(num_real=len(train), num_fake=len(test))
    protocol["sets"] = (
        f"{d.name} {d.test_split} targets vs {d.train_split} targets ({d.direction}: the "
        f"{'right' if d.direction == 'BtoA' else 'left'} halves are the inputs), both at "
        f"{d.crop_size} px"
    )
    return {**result, "num_images": len(test), "protocol": protocol}


def real_vs_real(
    config: ml_collections.ConfigDict,
    *,
    extractor: str | None = None,
    num_devices: int | None = None,
) -> dict[str, Any]:
    """Every sample-quality metric of real held-out images against the real reference images.

    Args:
      config: an experiment's config (image GAN methods, or pix2pix).
      extractor: overrides config.eval.extractor (default: the config's, else the default rule).
      num_devices: devices to shard the extraction over (default: all).

    Raises:
      ValueError: a method with no floor defined here (CycleGAN's unpaired sets: see its own
        evaluation).
    """
    mesh = parallel.create_mesh(num_devices)
    method = config.get("method", "gan")
    if method == "pix2pix":
        return _paired_floor(config, mesh, extractor)
    if method == "cyclegan":
        raise ConfigError(
            "experiments.floor covers image datasets and pix2pix; CycleGAN's unpaired floor "
            "(testA vs testB as they are) is part of its own evaluation"
        )
    return _image_floor(config, mesh, extractor)
