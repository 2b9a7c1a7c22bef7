"""Generates a labeled synthetic dataset from a trained run's code space and a few real labels.

  python -m experiments.synthesize --workdir=runs/fmnist_vaegan --attribute=classes \
      --num_labeled=10 --num=40000 --strategy=subset_mean
  python -m experiments.synthesize --workdir=runs/celeba_vaegan --attribute=Male \
      --num_labeled=50 --num=40000

--attribute=classes: --num_labeled random training images per class, labeled by class; any
other attribute spec (see experiments.attributes): --num_labeled per side, label 1 = has it.
--strategy (ganjax/latent/synthesis.py): subset_mean (the source's: the mean of a random subset of a
label's labeled codes) or shift (an unlabeled image's code moved into the label's class subspace
coordinates). Writes images.npy, labels.npy and synthetic.json to --out (default
<workdir>/synthetic/<attribute>_<strategy>_n<num_labeled>_s<seed>); train on it with
config.data.name=synthetic, config.data.manual_dir=<that folder>.
"""

import pathlib

from absl import app, flags

from experiments import common
from ganjax.data import load_config_split
from ganjax.latent import code_space, editing, synthesis

_WORKDIR = flags.DEFINE_string("workdir", None, "A VAE-GAN run, or a DCGAN run with an encoder.")
_ATTRIBUTE = flags.DEFINE_string("attribute", "classes", "classes, or an attribute spec.")
_NUM_LABELED = flags.DEFINE_integer("num_labeled", 10, "Labeled real images per class / side.")
_NUM = flags.DEFINE_integer("num", 40000, "Synthetic images to generate.")
_STRATEGY = flags.DEFINE_enum(
    "strategy", "subset_mean", synthesis.STRATEGIES, "How codes are made."
)
_POOL = flags.DEFINE_integer("pool_size", 5000, "shift: unlabeled training images to encode.")
_SEED = flags.DEFINE_integer("seed", 0, "Labeled-image choice and generation.")
_OUT = flags.DEFINE_string("out", None, "Output folder.")
_REFINE = flags.DEFINE_integer(
    "refine_steps", None, "Post-hoc encoder: latent optimization steps (default: trained)."
)
flags.mark_flags_as_required(["workdir"])


def main(argv):
    del argv
    common.setup_logging()
    out = _OUT.value or (
        pathlib.Path(_WORKDIR.value)
        / "synthetic"
        / (
            f"{editing.file_stem(_ATTRIBUTE.value)}_{_STRATEGY.value}_n{_NUM_LABELED.value}"
            f"_s{_SEED.value}"
        )
    )
    try:
        space = code_space.load_code_space(_WORKDIR.value, refine_steps=_REFINE.value)
        train = load_config_split(space.config.data, "train")
        path = synthesis.synthesize_dataset(
            space,
            train,
            attribute=_ATTRIBUTE.value,
            num_labeled=_NUM_LABELED.value,
            num=_NUM.value,
            strategy=_STRATEGY.value,
            seed=_SEED.value,
            out_dir=out,
            pool_size=_POOL.value,
            run=_WORKDIR.value,
        )
    except common.USER_ERRORS as e:
        common.fail(e)
    print(
        f"Wrote {_NUM.value} synthetic labeled images to {path} (train on it with "
        f"--config.data.name=synthetic --config.data.manual_dir={path})"
    )


if __name__ == "__main__":
    app.run(main, flags_parser=common.parse_flags)
