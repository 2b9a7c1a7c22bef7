"""Runs a hyper-parameter grid over any config, resumably, and writes a CSV and a summary.

  python -m experiments.sweep --config=configs/fashion_mnist_ssl.py --workdir=runs/sweep \
      --sweep='optim.d.learning_rate=1e-3,3e-4;model.dropout=0.3,0.5' [--jobs=2] \
      [--metric=val_accuracy]

Each point runs in its own process in <workdir>/<key=value__...>; rerunning the command skips
finished points and resumes interrupted ones. --jobs runs several points at once (useful when
each needs only part of the machine). Extra trainer flags: --set=--config.train.num_epochs=5.
"""

from absl import app, flags

from experiments import common
from ganjax.tools import sweeps

_CONFIG = flags.DEFINE_string(
    "config", None, "Config file (with optional :arg), as for experiments.train."
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Sweep folder.")
_SWEEP = flags.DEFINE_string("sweep", None, "Grid: 'key=v1,v2;other.key=v3,v4'.")
_JOBS = flags.DEFINE_integer("jobs", 1, "Runs at once.")
_METRIC = flags.DEFINE_string(
    "metric", None, "Sort the summary by this results.json key (higher is better)."
)
_SET = flags.DEFINE_multi_string(
    "set", [], "Extra flags passed to every run, e.g. --set=--config.train.num_steps=100."
)
flags.mark_flags_as_required(["config", "workdir", "sweep"])


def main(argv):
    del argv
    common.setup_logging()
    try:
        rows, (csv_path, md_path) = sweeps.run_sweep(
            _CONFIG.value,
            _WORKDIR.value,
            _SWEEP.value,
            jobs=_JOBS.value,
            metric=_METRIC.value,
            extra_flags=tuple(_SET.value),
        )
    except common.USER_ERRORS as e:
        common.fail(e)
    print(md_path.read_text())
    print(f"CSV: {csv_path}")
    failed = [r["run"] for r in rows if r["status"] != "done"]
    if failed:
        common.fail(RuntimeError(f"{len(failed)} run(s) failed: {failed}; see their log.txt"))


if __name__ == "__main__":
    app.run(main, flags_parser=common.parse_flags)
