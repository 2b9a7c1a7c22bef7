"""Runs a semi-supervised config over N seeds (and its supervised baseline) and tabulates test
error next to the paper's figure.

  python -m experiments.reproduce --config=configs/mnist_ssl.py --seeds=5 --workdir=runs/repro_mnist

Writes <workdir>/reproduction.md and reproduction.json; finished seeds are reused on a rerun.
"""

from absl import app, flags
from ml_collections import config_flags

from experiments import common
from ganjax import methods
from ganjax.errors import ConfigError
from ganjax.tools import reproduce
from ganjax.training import host

_CONFIG = config_flags.DEFINE_config_file("config", None, "An SSL config file.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output folder.")
_SEEDS = flags.DEFINE_integer("seeds", 3, "Number of seeds (config.seed, config.seed + 1, ...).")
_BASELINE = flags.DEFINE_bool("baseline", True, "Also run the supervised-only baseline per seed.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    common.setup_logging()
    host.tune_allocator(
        single_arena=host.wants_single_arena(_CONFIG.value.model.name)
    )  # Before JAX starts.
    try:
        if methods.method_name(_CONFIG.value) != "ssl_gan":
            raise ConfigError(
                "experiments.reproduce takes a semi-supervised config (config.method = 'ssl_gan')"
            )
        reproduce.run_reproduction(
            _CONFIG.value, _WORKDIR.value, _SEEDS.value, with_baseline=_BASELINE.value
        )
    except common.USER_ERRORS as e:
        common.fail(e)
    print(open(f"{_WORKDIR.value}/reproduction.md").read())


if __name__ == "__main__":
    app.run(main, flags_parser=common.parse_flags)
