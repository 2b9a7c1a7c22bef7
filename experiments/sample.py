"""Draws a sample grid from the latest (or a given) checkpoint of a training run.

  python -m experiments.sample --workdir=runs/fmnist --num=64 --out=samples.png [--seed=1]
  python -m experiments.sample --workdir=runs/fmnist_cgan --label=7 --out=sneakers.png
  python -m experiments.sample --workdir=runs/celeba64 --interpolate=10 --num=8 --out=interp.png

Uses the EMA generator weights when the run kept an EMA (config.model.ema_decay > 0). Works for
every method with a generator; --label=K draws class K from a class-conditional run (without it,
a conditional run's images are class-balanced: image i has class i mod K). --interpolate=S
draws --num rows of S images each, on the straight line between two random latents.
"""

from absl import app, flags

from experiments import common
from ganjax.errors import ConfigError
from ganjax.evaluators import samples
from ganjax.training import sampling

_WORKDIR = flags.DEFINE_string("workdir", None, "A folder written by experiments.train.")
_NUM = flags.DEFINE_integer("num", 64, "Number of images.")
_OUT = flags.DEFINE_string("out", "samples.png", "Output PNG path.")
_SEED = flags.DEFINE_integer("seed", 0, "Latent seed.")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step (default: latest).")
_NO_EMA = flags.DEFINE_bool("no_ema", False, "Use the raw generator weights even if an EMA exists.")
_LABEL = flags.DEFINE_integer("label", None, "Class of every image (class-conditional runs).")
_INTERPOLATE = flags.DEFINE_integer(
    "interpolate", 0, "S >= 2: --num rows of S images between two latents each (0: a plain grid)."
)
flags.mark_flags_as_required(["workdir"])


def main(argv):
    del argv
    common.setup_logging()
    try:
        generator = sampling.restore_generator(
            _WORKDIR.value, _STEP.value, use_ema=not _NO_EMA.value
        )
        if _INTERPOLATE.value:
            if _LABEL.value is not None:
                raise ConfigError(
                    "--label and --interpolate: an interpolation row keeps class row mod K; "
                    "drop --label."
                )
            images = sampling.interpolate_images(
                generator, _NUM.value, _INTERPOLATE.value, _SEED.value
            )
        else:
            images = sampling.sample_images(
                generator, _NUM.value, _SEED.value, label=_LABEL.value
            )
    except common.USER_ERRORS as e:
        common.fail(e)
    ncols = _INTERPOLATE.value or None
    samples.save_png(samples.make_grid(images, ncols=ncols), _OUT.value)
    which = "" if _LABEL.value is None else f" of class {_LABEL.value}"
    if _INTERPOLATE.value:
        which = f" x {_INTERPOLATE.value} interpolated (one row each)"
    print(
        f"Wrote {_NUM.value} samples{which} from step {generator.step} "
        f"({generator.weights} weights) to {_OUT.value}"
    )


if __name__ == "__main__":
    app.run(main, flags_parser=common.parse_flags)
