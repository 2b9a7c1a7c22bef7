"""The real-vs-real floor of an experiment's data: what two real samples score, every metric.

  python -m experiments.floor --config=configs/celeba_dcgan.py:64 [--extractor=inception_v3]
  python -m experiments.floor --config=configs/facades_pix2pix.py [--out=floor.json]

Image datasets: config.eval.heldout_split (e.g. test) against config.eval.reference_split (e.g.
train), with the statistics cache every evaluation shares. pix2pix: the test targets against the
train targets. Prints the metrics and the protocol as JSON (also to --out).
"""

import json
import pathlib
import time

from absl import app, flags
from ml_collections import config_flags

from experiments import common
from ganjax.evaluators import floor

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config.", lock_config=True)
_EXTRACTOR = flags.DEFINE_string("extractor", None, "Default: the config's, else the rule.")
_OUT = flags.DEFINE_string("out", None, "Also write the JSON here.")
_DEVICES = flags.DEFINE_integer("num_devices", None, "Use the first N devices (default: all).")
flags.mark_flags_as_required(["config"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    common.setup_logging()
    t0 = time.time()
    try:
        result = floor.real_vs_real(
            _CONFIG.value, extractor=_EXTRACTOR.value, num_devices=_DEVICES.value
        )
    except common.USER_ERRORS as e:
        common.fail(e)
    result["wall_s"] = round(time.time() - t0, 1)
    text = json.dumps(result, indent=2)
    if _OUT.value:
        pathlib.Path(_OUT.value).write_text(text)
    print(text)


if __name__ == "__main__":
    app.run(main, flags_parser=common.parse_flags)
