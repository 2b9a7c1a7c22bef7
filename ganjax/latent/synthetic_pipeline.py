"""Unlabeled images + a few labels -> a classifier, through synthetic labeled data
(`config.task = "synthetic_pipeline"`; configs/fashion_mnist_synthetic.py, celeba_synthetic.py).

Stages, each in its own folder under the workdir, resumable, and skipped when done, each keyed by
what produced it (ganjax/latent/stage_keys.py: <stage>/stage.json holds the sha256 of the settings
that
determine the stage's output and the keys of the stages it reads):
  generative/   the generative model (config.generative: a VAE-GAN config) on the unlabeled
                training images, or an existing run (config.generative_workdir; a DCGAN run
                then needs its post-hoc encoder: experiments.encode).
  synthetic/    config.data.num_labeled real labeled images per class (or per side of
                config.synthesis.attribute) -> codes -> config.synthesis.num labeled synthetic
                images (ganjax/latent/synthesis.py), a config.data.name=synthetic dataset.
  classifier/   config.classifier trained on the synthetic images only, scored on the real
                test split.
  labeled_real/ the same real labeled images as a dataset, and
  baseline/     the same classifier trained on them only, scored on the same test split.
  transfer/     (config.transfer) frozen-feature + MLP-head classifiers
                (ganjax/classifiers/transfer_classifier.py) on the synthetic set (its first
                config.transfer_num images; 0: all), one per feature network: the generative
                run's D (`discriminator`: stages transfer/, transfer_baseline/) or any
                extractor spec (ganjax/evaluators/extractors.py; `inception_v3`: stages
                transfer_inception_v3/, transfer_inception_v3_baseline/), and
  <stage>_baseline/  the same head on the real labeled images only.
results.json: test_accuracy, baseline_test_accuracy, <stage>_test_accuracy,
<stage>_baseline_test_accuracy and <stage>_extractor per transfer stage, and the stages'
folders. The stage commands (experiments.train / synthesize / attributes) work on their own too.

A rerun with the same workdir reuses every stage whose key matches and refuses, before any work
and naming the changed settings, when a stage folder holds outputs of other settings (another
number of synthetic images, strategy, classifier, generative run ...): stages take minutes to
hours and their folders may be all a user has, so nothing is overwritten. Use a new workdir
(config.generative_workdir=<old workdir>/generative keeps a trained generative model), or delete
the stage folders named.
"""

from __future__ import annotations

import json
import pathlib
import re
from typing import Any

import ml_collections
from absl import logging

from ganjax.data import load_config_split
from ganjax.data.synthetic import META, write_dataset
from ganjax.latent import code_space, stage_keys, synthesis
from ganjax.training import runner

FIX = (
    "Use a new --workdir (set config.generative_workdir=<old workdir>/generative to keep a "
    "trained generative model), or delete the stage folders named above to recompute them."
)


def _done(folder: pathlib.Path) -> dict[str, Any] | None:
    path = folder / "results.json"
    return json.loads(path.read_text()) if path.exists() else None


def _train(config, folder: pathlib.Path, inputs, num_devices) -> dict[str, Any]:
    """A training stage: its results when done under this key, else trains (or resumes) it."""
    stage_keys.check([(folder.name, folder, inputs)], FIX)
    done = _done(folder)
    if done is not None:
        logging.info("Stage %s already done", folder.name)
        return done
    logging.info("Stage %s", folder.name)
    stage_keys.claim(folder, inputs)
    return runner.train_and_evaluate(config, folder, num_devices=num_devices)


def _classifier_config(
    config, data_dir: pathlib.Path, num_examples: int | None, attribute: str
) -> ml_collections.ConfigDict:
    """The classifier stage's config (`num_examples` None: the batch size left unclamped)."""
    c = config.classifier.copy_and_resolve_references()
    with c.unlocked():
        c.seed = config.seed
        c.data.name = "synthetic"
        c.data.manual_dir = str(data_dir)
        c.data.test_dataset = config.data.name
        c.data.test_manual_dir = config.data.manual_dir
        c.data.image_size = config.data.get("image_size", 0)
        c.data.cache_dir = config.data.cache_dir
        c.data.test_attribute = "" if attribute == "classes" else attribute
        if num_examples is not None:
            c.train.batch_size = min(int(c.train.batch_size), num_examples)
    return c


def transfer_extractors(config) -> list[str]:
    """The transfer stages' feature networks: config.transfer, '+'-separated ('' none;
    `discriminator` the generative run's D; else an extractor spec). True (configs written
    before there was a choice) means D."""
    t = config.get("transfer") or ""
    return ["discriminator"] if t is True else [x for x in str(t).split("+") if x]


def transfer_stage(spec: str) -> str:
    """The folder of the transfer stage on the synthetic set (its baseline: + '_baseline')."""
    if spec == "discriminator":
        return "transfer"
    return "transfer_" + re.sub(r"[^0-9A-Za-z]+", "_", spec).strip("_")


def _transfer_config(
    config, data_dir: pathlib.Path, num: int | None, spec: str, gen_dir: str, synthetic: bool
) -> ml_collections.ConfigDict:
    """A transfer stage's config: the classifier config with the head on `spec`'s features,
    trained on the synthetic set's first config.transfer_num images or on all real labels."""
    t = _classifier_config(config, data_dir, num, config.synthesis.attribute)
    with t.unlocked():
        t.model.name = "transfer"
        t.model.extractor = f"discriminator:{gen_dir}" if spec == "discriminator" else spec
        if synthetic:
            t.data.max_examples = int(config.get("transfer_num", 0))
    return t


def _generative_config(config) -> ml_collections.ConfigDict:
    g = config.generative.copy_and_resolve_references()
    with g.unlocked():
        g.seed = config.seed
        for key in ("manual_dir", "tfds_data_dir", "cache_dir"):  # One place to set them.
            if config.data.get(key) and not g.data.get(key):
                g.data[key] = config.data[key]
    return g


def _run_identity(gen_dir: pathlib.Path, space) -> dict[str, Any]:
    """What an existing generative run (config.generative_workdir) contributes to the keys: its
    config, the checkpoint step and encoder its code space uses (space.source names both), and
    its post-hoc encoder's key and settings when it has one."""
    from ganjax.latent import posthoc_encoder
    from ganjax.training import sampling

    run_config, _ = sampling.read_run(gen_dir)
    encoder = posthoc_encoder.record_path(gen_dir)
    record = json.loads(encoder.read_text()) if encoder.exists() else {}
    return {
        "config": stage_keys.key(stage_keys.config_inputs(run_config)),
        "code_space": space.source,
        "encoder": {"key": record.get("key"), "settings": record.get("settings")},
    }


def stage_inputs(config, gen_inputs: dict[str, Any], gen_data) -> dict[str, Any]:
    """The inputs (see ganjax/latent/stage_keys.py) of every stage after the generative one, given
    the
    generative stage's inputs and the config of the data it was trained on (where the real
    labeled images come from). Stage folders (manual_dir) and D's run folder (extractor) are
    left out: the upstream stage keys stand for them."""
    s, gen_key = config.synthesis, stage_keys.key(gen_inputs)
    real = {
        "train_data": stage_keys.config_inputs(gen_data),
        "attribute": s.attribute,
        "num_labeled": int(config.data.num_labeled),
        "seed": config.seed,
    }
    syn = {
        "synthesis": stage_keys.config_inputs(s),
        "num_labeled": int(config.data.num_labeled),
        "seed": config.seed,
        "upstream": {"generative": gen_key},
    }
    cls = stage_keys.config_inputs(
        _classifier_config(config, pathlib.Path(), None, s.attribute), drop=["data.manual_dir"]
    )
    up = {"synthetic": stage_keys.key(syn), "labeled_real": stage_keys.key(real)}
    out = {
        "labeled_real": real,
        "synthetic": syn,
        "classifier": {"config": cls, "upstream": {"synthetic": up["synthetic"]}},
        "baseline": {"config": cls, "upstream": {"labeled_real": up["labeled_real"]}},
    }
    for spec in transfer_extractors(config):
        stem = transfer_stage(spec)
        for name, data in ((stem, "synthetic"), (f"{stem}_baseline", "labeled_real")):
            t = _transfer_config(
                config, pathlib.Path(), None, spec, "<generative>", data != "labeled_real"
            )
            upstream = {data: up[data]}
            if spec == "discriminator":
                upstream["generative"] = gen_key
            out[name] = {
                "config": stage_keys.config_inputs(t, drop=["data.manual_dir"]),
                "upstream": upstream,
            }
    return out


def run(config: ml_collections.ConfigDict, workdir, *, num_devices: int | None = None):
    """Runs (or resumes, or finds done) every stage; returns the pipeline's results.

    Raises:
      stage_keys.StageMismatchError: a stage folder holds outputs of other settings (see the
        module docstring); raised before any stage runs where the keys are known up front.
    """
    workdir = pathlib.Path(workdir)
    s = config.synthesis
    # 1. The generative model: keyed by its config, or by the identity of the given run.
    gen_dir, space = workdir / "generative", None
    if config.get("generative_workdir"):
        gen_dir = pathlib.Path(config.generative_workdir)
        space = code_space.load_code_space(gen_dir)
        gen_inputs = {"run": _run_identity(gen_dir, space)}
        gen_data = space.config.data
    else:
        g = _generative_config(config)
        gen_inputs = {"config": stage_keys.config_inputs(g)}
        gen_data = g.data
    inputs = stage_inputs(config, gen_inputs, gen_data)
    stages = [(name, workdir / name, inputs[name]) for name in inputs]
    if not config.get("generative_workdir"):
        stages.insert(0, ("generative", gen_dir, gen_inputs))
    stage_keys.check(stages, FIX)  # Every mismatch at once, before any work.
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.json").write_text(config.to_json_best_effort(indent=2, sort_keys=True))
    if space is None:
        _train(g, gen_dir, gen_inputs, num_devices)
        space = code_space.load_code_space(gen_dir)
    train = load_config_split(space.config.data, "train")
    # 2. The synthetic set (and the labeled real images it was made from).
    syn_dir, real_dir = workdir / "synthetic", workdir / "labeled_real"
    if not (syn_dir / META).exists() or not (real_dir / META).exists():
        logging.info(
            "Stage synthetic: %d images from %d labeled per side/class",
            s.num,
            config.data.num_labeled,
        )
        stage_keys.claim(syn_dir, inputs["synthetic"])
        stage_keys.claim(real_dir, inputs["labeled_real"])
        synthesis.synthesize_dataset(
            space,
            train,
            attribute=s.attribute,
            num_labeled=int(config.data.num_labeled),
            num=int(s.num),
            strategy=s.strategy,
            seed=config.seed,
            out_dir=syn_dir,
            pool_size=int(s.pool_size),
            run=str(gen_dir),
        )
        idx, labels, _ = synthesis.labeled_examples(
            train, s.attribute, int(config.data.num_labeled), config.seed
        )
        write_dataset(
            real_dir,
            train["image"][idx],
            labels,
            {
                "labeled_real": True,
                "attribute": s.attribute,
                "seed": config.seed,
                "labeled_indices": idx.tolist(),
            },
        )
    num_real = len(json.loads((real_dir / META).read_text())["labeled_indices"])
    # 3. Classifier on synthetic images; 4. the same classifier on the real labels only.
    cls = _train(
        _classifier_config(config, syn_dir, int(s.num), s.attribute),
        workdir / "classifier",
        inputs["classifier"],
        num_devices,
    )
    base = _train(
        _classifier_config(config, real_dir, num_real, s.attribute),
        workdir / "baseline",
        inputs["baseline"],
        num_devices,
    )
    results = {
        "test_accuracy": cls["test_accuracy"],
        "baseline_test_accuracy": base["test_accuracy"],
        "num_labeled_total": num_real,
        "num_synthetic": int(s.num),
        "attribute": s.attribute,
        "strategy": s.strategy,
        "code_space": space.source,
        "num_test": cls["num_test"],
        "stages": {
            "generative": str(gen_dir),
            "synthetic": str(syn_dir),
            "labeled_real": str(real_dir),
            "classifier": str(workdir / "classifier"),
            "baseline": str(workdir / "baseline"),
        },
        "stage_keys": {name: stage_keys.key(stage) for name, _, stage in stages},
    }
    if config.get("generative_workdir"):  # Not a stage here: the identity of the given run.
        results["stage_keys"]["generative_run"] = stage_keys.key(gen_inputs)
    # 5. Transfer: a frozen network's features + an MLP head, on the synthetic set and, for
    # comparison, on the same real labels only.
    for spec in transfer_extractors(config):
        stem = transfer_stage(spec)
        num_syn = min(int(s.num), int(config.get("transfer_num", 0)) or int(s.num))
        for name, data_dir, num in (
            (stem, syn_dir, num_syn),
            (f"{stem}_baseline", real_dir, num_real),
        ):
            t = _transfer_config(config, data_dir, num, spec, str(gen_dir), data_dir == syn_dir)
            tr = _train(t, workdir / name, inputs[name], num_devices)
            results[f"{name}_test_accuracy"] = tr["test_accuracy"]
            results["stages"][name] = str(workdir / name)
        results[f"{stem}_extractor"] = tr["extractor_description"]
    (workdir / "results.json").write_text(json.dumps(results, indent=2))
    logging.info(
        "synthetic pipeline: test accuracy %.4f (synthetic only), baseline %.4f "
        "(the %d real labels only)",
        results["test_accuracy"],
        results["baseline_test_accuracy"],
        num_real,
    )
    return results


runner.register_task("synthetic_pipeline", run)
