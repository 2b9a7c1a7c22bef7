"""The synthetic-labeled-data pipeline (ganjax/latent/synthetic_pipeline.py) shared by its configs:
a VAE-GAN on the unlabeled training images, a few real labels, 40,000 synthetic labeled images,
a classifier trained on them and scored on the real test split, beside the same classifier on
the real labels alone.

Config arguments (comma-separated):
  tiny           seconds, for tests
  seed=N         labeled-image choice, synthesis, both classifiers and the generative model
  labels=N       real labeled images per class (attribute=classes) or per side
  num=N          synthetic images
  strategy=S     subset_mean (the source's) or shift (ganjax/latent/synthesis.py)
  steps=N        generative-model steps instead of its epochs
  transfer[=S]   also train frozen-feature + MLP-head classifiers, on the synthetic set and
                 on the real labels only. S: '+'-separated feature networks, `discriminator`
                 (the generative run's D; the bare flag) or an extractor spec such as
                 inception_v3 (the FID network's pool3 features)
  transfer_num=N the synthetic images the transfer heads train on (the first N; default all)
  plus the dataset's attribute choices (see each config).
"""

import ml_collections

from configs import base

ARGS = ("tiny", "seed", "labels", "num", "strategy", "steps", "transfer", "transfer_num")


def get_synthetic_config(
    data_name: str,
    args: dict,
    *,
    generative: ml_collections.ConfigDict,
    classifier: ml_collections.ConfigDict,
    attribute: str,
    num_labeled: int,
) -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.task = "synthetic_pipeline"
    c.seed = int(args.get("seed", 0))
    c.generative = generative
    c.generative_workdir = ""  # An existing run instead of training config.generative.
    c.data = generative.data.copy_and_resolve_references()
    c.data.name = data_name
    c.data.num_labeled = int(args.get("labels", num_labeled))
    c.synthesis = ml_collections.ConfigDict()
    c.synthesis.attribute = attribute  # "classes" or an attribute spec (latent/attributes.py).
    c.synthesis.num = int(args.get("num", 40000))
    c.synthesis.strategy = str(args.get("strategy", "subset_mean"))
    c.synthesis.pool_size = 5000  # shift: unlabeled training images encoded as starting codes.
    c.classifier = classifier
    c.classifier.train.num_epochs = 0.0
    c.classifier.train.num_steps = 1000  # The same for the synthetic and the real-only runs.
    c.classifier.eval.every_steps = 500
    transfer = args.get("transfer", "")
    c.transfer = "discriminator" if transfer is True else str(transfer)
    c.transfer_num = int(args.get("transfer_num", 0))  # 0: all of config.synthesis.num.
    c.model = ml_collections.ConfigDict({"name": "synthetic_pipeline"})
    if args.get("steps"):
        c.generative.train.num_steps = int(args["steps"])
        c.generative.train.num_epochs = 0.0
        c.generative.ckpt.every_steps = int(args["steps"])
    if args.get("tiny"):
        c.synthesis.num = int(args.get("num", 64))
        c.synthesis.pool_size = 32
        c.data.num_labeled = int(args.get("labels", 3))
        c.classifier.train.num_steps = 4
        c.classifier.eval.every_steps = 0
    return c


def parse(arg, extra: tuple[str, ...]) -> dict:
    return base.parse_arg(arg, allowed=ARGS + extra)
