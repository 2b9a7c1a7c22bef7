"""Sample-quality metrics of a run's generator: FID, KID, IS, precision/recall, density/coverage.

  python -m experiments.evaluate --workdir=runs/x [--num_samples=10000] \
      [--extractor=classifier:fashion_mnist|inception_v3|classifier:<run>] [--step=N] [--real]

Writes <workdir>/eval/<step>_<extractor>.json (the protocol and the real-vs-real floor included)
and prints one table. --real evaluates the real-vs-real floor alone.
"""

from absl import app, flags

from configs import base
from experiments import common
from ganjax.evaluators import evaluation
from ganjax.training import host

_WORKDIR = flags.DEFINE_string("workdir", None, "A folder written by experiments.train.")
_NUM = flags.DEFINE_integer(
    "num_samples", None, "Generated images (default config.eval.fid_num_samples)."
)
_EXTRACTOR = flags.DEFINE_string(
    "extractor", None, "inception_v3, classifier:<dataset> or classifier:<run folder>."
)
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step (default: latest).")
_REAL = flags.DEFINE_bool(
    "real", False, "Only the real-vs-real floor (held-out split vs reference)."
)
_NO_EMA = flags.DEFINE_bool("no_ema", False, "Use the raw generator weights even if an EMA exists.")
_DEVICES = flags.DEFINE_integer(
    "num_devices", None, "Use the first N local devices (default: all)."
)
_WEIGHTS = flags.DEFINE_string("inception_weights", None, "pytorch-fid's .pth or a converted .npz.")
_STATS = flags.DEFINE_string("reference_stats", None, "An explicit reference statistics .npz.")
_BATCH = flags.DEFINE_integer("batch_size", None, "Images per generation/extraction call.")
flags.mark_flags_as_required(["workdir"])

def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    common.setup_logging()
    host.tune_allocator(single_arena=False)
    try:
        path, result = evaluation.evaluate_run(
            _WORKDIR.value,
            step=_STEP.value,
            extractor=_EXTRACTOR.value,
            num_samples=_NUM.value,
            use_ema=not _NO_EMA.value,
            real_only=_REAL.value,
            num_devices=_DEVICES.value,
            inception_weights=_WEIGHTS.value,
            reference_stats=_STATS.value,
            fid_batch_size=_BATCH.value,
            eval_defaults=base.get_base_config().eval,
        )
    except common.USER_ERRORS as e:
        common.fail(e)
    print(evaluation.format_table(result))
    print(f"Wrote {path}")


if __name__ == "__main__":
    app.run(main, flags_parser=common.parse_flags)
