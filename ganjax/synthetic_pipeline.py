"""Unlabeled images + a few labels -> a classifier, through synthetic labeled data
(`config.task = "synthetic_pipeline"`; configs/fashion_mnist_synthetic.py, celeba_synthetic.py).

Stages, each in its own folder under the workdir, resumable, and skipped when done:
  generative/   the generative model (config.generative: a VAE-GAN config) on the unlabeled
                training images, or an existing run (config.generative_workdir; a DCGAN run
                then needs its post-hoc encoder: experiments.encode).
  synthetic/    config.data.num_labeled real labeled images per class (or per side of
                config.synthesis.attribute) -> codes -> config.synthesis.num labeled synthetic
                images (ganjax/synthesis.py), a config.data.name=synthetic dataset.
  classifier/   config.classifier trained on the synthetic images only, scored on the real
                test split.
  labeled_real/ the same real labeled images as a dataset, and
  baseline/     the same classifier trained on them only, scored on the same test split.
  transfer/     (config.transfer) a frozen-feature + MLP-head classifier on the synthetic set
                (ganjax/transfer_classifier.py; features: the generative run's D), and
  transfer_baseline/  the same head on the real labeled images only.
results.json: test_accuracy, baseline_test_accuracy, transfer_test_accuracy,
transfer_baseline_test_accuracy and the stages' folders. The stage commands (experiments.train /
synthesize / attributes) work on their own too.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import ml_collections
from absl import logging

from ganjax import code_space, synthesis
from ganjax.data import load_config_split
from ganjax.data.synthetic import META, write_dataset


def _done(folder: pathlib.Path) -> dict[str, Any] | None:
    path = folder / "results.json"
    return json.loads(path.read_text()) if path.exists() else None


def _train(config, folder: pathlib.Path, num_devices) -> dict[str, Any]:
    from ganjax import runner

    done = _done(folder)
    if done is not None:
        logging.info("Stage %s already done", folder.name)
        return done
    logging.info("Stage %s", folder.name)
    return runner.train_and_evaluate(config, folder, num_devices=num_devices)


def _classifier_config(config, data_dir: pathlib.Path, num_examples: int, attribute: str):
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
        c.train.batch_size = min(int(c.train.batch_size), num_examples)
    return c


def run(config: ml_collections.ConfigDict, workdir, *, num_devices: int | None = None):
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.json").write_text(config.to_json_best_effort(indent=2, sort_keys=True))
    s = config.synthesis
    # 1. The generative model.
    if config.get("generative_workdir"):
        gen_dir = pathlib.Path(config.generative_workdir)
    else:
        gen_dir = workdir / "generative"
        g = config.generative.copy_and_resolve_references()
        with g.unlocked():
            g.seed = config.seed
            for key in ("manual_dir", "tfds_data_dir", "cache_dir"):  # One place to set them.
                if config.data.get(key) and not g.data.get(key):
                    g.data[key] = config.data[key]
        _train(g, gen_dir, num_devices)
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
        num_devices,
    )
    base = _train(
        _classifier_config(config, real_dir, num_real, s.attribute),
        workdir / "baseline",
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
    }
    # 5. Transfer: D's features + an MLP head, on the synthetic set and, for comparison, on the
    # same real labels only.
    if config.get("transfer"):
        for name, data_dir, num in (
            ("transfer", syn_dir, int(s.num)),
            ("transfer_baseline", real_dir, num_real),
        ):
            t = _classifier_config(config, data_dir, num, s.attribute)
            with t.unlocked():
                t.model.name = "transfer"
                t.model.extractor = f"discriminator:{gen_dir}"
            tr = _train(t, workdir / name, num_devices)
            results[f"{name}_test_accuracy"] = tr["test_accuracy"]
            results["stages"][name] = str(workdir / name)
        results["transfer_extractor"] = tr["extractor_description"]
    (workdir / "results.json").write_text(json.dumps(results, indent=2))
    logging.info(
        "synthetic pipeline: test accuracy %.4f (synthetic only), baseline %.4f "
        "(the %d real labels only)",
        results["test_accuracy"],
        results["baseline_test_accuracy"],
        num_real,
    )
    return results
