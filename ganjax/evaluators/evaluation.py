"""Evaluating a finished (or running) run's generator after training: experiments.evaluate.

Restores the generator of a run folder (any training method with a generator: GAN,
conditional GAN, semi-supervised GAN), computes every metric with the configured or given
extractor, writes `<workdir>/eval/<step>_<extractor>.json` and returns it; `real_only` computes
the real-vs-real floor alone (`<workdir>/eval/real_vs_real_<extractor>.json`). For a
class-conditional generator the result also has the domain classifier's per-class accuracy when
the extractor is that classifier (`classifier:<dataset>`; Inception's ImageNet classes do not
apply).
"""

from __future__ import annotations

import json
import pathlib
import re
from typing import Any

import ml_collections

from ganjax.evaluators import class_accuracy, fid
from ganjax.training import parallel, sampling


def _slug(extractor: str) -> str:
    """'classifier:/runs/c' -> 'classifier-runs_c': a file-name-safe extractor name."""
    kind, _, arg = extractor.partition(":")
    arg = re.sub(r"[^A-Za-z0-9.]+", "_", arg).strip("_")
    return f"{kind}-{arg}" if arg else kind


def _run_config(workdir: pathlib.Path) -> tuple[ml_collections.ConfigDict, tuple[int, int, int]]:
    config, info = sampling.read_run(workdir)  # A clear error for a folder that is not a run.
    return config, tuple(info["image_shape"])


def _with_eval_defaults(
    config: ml_collections.ConfigDict,
    overrides: dict[str, Any],
    defaults: ml_collections.ConfigDict | None,
) -> ml_collections.ConfigDict:
    """Runs written before evaluation existed lack config.eval's new keys: take `defaults`."""
    for key, value in (defaults or {}).items():
        if key not in config.eval:
            config.eval[key] = value
    for key, value in overrides.items():
        if value not in (None, ""):
            config.eval[key] = value
    return config


def evaluate_run(
    workdir: str | pathlib.Path,
    *,
    step: int | None = None,
    extractor: str | None = None,
    num_samples: int | None = None,
    use_ema: bool = True,
    real_only: bool = False,
    num_devices: int | None = None,
    eval_defaults: ml_collections.ConfigDict | None = None,
    **eval_overrides,
) -> tuple[pathlib.Path, dict[str, Any]]:
    """Evaluates a run folder; returns (path of the written JSON, the result).

    `eval_defaults` fills the config.eval keys that a run written before they existed lacks
    (experiments.evaluate passes today's, configs/base.py's; library code does not read
    configs/). `eval_overrides` set config.eval keys (None or "": keep the run's).

    Raises:
      FileNotFoundError, sampling.NoGeneratorError, checkpointing.CheckpointError,
      extractors.ExtractorError, reference_stats.ReferenceStatsError: each with one clear message.
    """
    workdir = pathlib.Path(workdir)
    config, image_shape = _run_config(workdir)
    config = _with_eval_defaults(config, eval_overrides, eval_defaults)
    generator = None if real_only else sampling.restore_generator(workdir, step, use_ema)
    mesh = parallel.create_mesh(num_devices)
    evaluator = fid.SampleQualityEvaluator(
        config, mesh, image_shape, extractor=extractor, num_samples=num_samples
    )
    name = _slug(evaluator.extractor.name)
    if real_only:
        result = {
            **{k: v for k, v in evaluator.real_vs_real().items() if k != "num_images"},
            "protocol": evaluator.protocol(),
        }
        path = workdir / "eval" / f"real_vs_real_{name}.json"
    else:
        generator = sampling.place(generator, parallel.replicated(mesh))
        result = evaluator.evaluate(
            generator.generate,
            latent_dim=generator.latent_dim,
            latent_dist=generator.latent_dist,
            generator_weights=f"{generator.weights} (step {generator.step})",
        )
        result["step"] = generator.step
        if generator.num_classes and evaluator.extractor.num_classes == generator.num_classes:
            # A class-conditional generator: the domain classifier's accuracy on each class.
            result.update(
                class_accuracy.conditional_accuracy(
                    generator.generate_labeled,
                    evaluator.extractor,
                    num_classes=generator.num_classes,
                    latent_dim=generator.latent_dim,
                    latent_dist=generator.latent_dist,
                    per_class=max(evaluator.num_samples // generator.num_classes, 1),
                    seed=config.eval.fid_seed,
                )
            )
        path = workdir / "eval" / f"{generator.step}_{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    return path, result


def format_table(result: dict[str, Any]) -> str:
    """One table: each metric beside its real-vs-real floor."""
    p = result["protocol"]
    lines = [
        f"extractor {p['extractor']} (weights {p['extractor_weights_hash']}), "
        f"{p['num_samples']} samples vs "
        f"{p['reference']['split']} ({p['reference']['num_images']} images); floor: "
        f"{p['heldout']['num_images']} {p['heldout']['split']} images",
        f"{'metric':<22}{'value':>12}{'real-vs-real':>14}",
    ]
    for k in fid.METRIC_KEYS:
        if k in result:
            floor = p.get(f"real_vs_real_{k}")
            lines.append(
                f"{k:<22}{result[k]:>12.5g}{'' if floor is None else format(floor, '>14.5g')}"
            )
    if "class_accuracy" in result:
        per_class = " ".join(f"{a:.3f}" for a in result["class_accuracy_per_class"])
        lines.append(
            f"{'class_accuracy':<22}{result['class_accuracy']:>12.5g}  per class: {per_class}"
        )
    return "\n".join(lines)
