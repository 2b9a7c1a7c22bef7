"""Translates your own images with a trained pix2pix run.

  python -m experiments.translate --workdir=runs/fmnist_p2p --input=edges/ --out=translated/
  python -m experiments.translate --workdir=runs/facades --input=labels.png --out=out/

Each image (any size, any mode) is converted to the run's channels (gray or RGB), resized with
PIL's bicubic filter to the run's training crop size (e.g. 28 or 256 px, what G was trained on),
translated, and the output resized back to the input's size (bicubic) and written as
<out>/<name>.png. Images are resized, not tiled: G sees the whole image at its training scale,
so an input much larger than that loses detail (tiling would keep it but breaks the image into
independent patches). Outputs use the run's test mode (config.eval.test_mode: "inference", or
"paper" with dropout and one image per batch). --direction must match the run's
config.data.direction (translating the other way needs a run trained that way).
"""

from __future__ import annotations

import pathlib

import numpy as np
from absl import app, flags

from experiments import common
from ganjax.data.translation import IMAGE_EXTENSIONS
from ganjax.errors import IncompatibleRunError, MissingFileError, UnreadableFileError
from ganjax.training import sampling

_WORKDIR = flags.DEFINE_string("workdir", None, "A pix2pix run folder (experiments.train).")
_INPUT = flags.DEFINE_string("input", None, "An image file, or a folder of images.")
_OUT = flags.DEFINE_string("out", None, "Output folder (created).")
_DIRECTION = flags.DEFINE_enum(
    "direction", None, ["AtoB", "BtoA"], "Expected direction (default: the run's)."
)
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step (default: latest).")
flags.mark_flags_as_required(["workdir", "input", "out"])


def input_files(path: str | pathlib.Path) -> list[pathlib.Path]:
    """The image files named by --input (a file, or a folder's images in sorted order)."""
    path = pathlib.Path(path).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise MissingFileError(
                f"{path} holds no images ({', '.join(IMAGE_EXTENSIONS)}); point --input at an "
                "image or a folder of images."
            )
        return files
    raise MissingFileError(f"--input={path} does not exist; give an image or a folder of them.")


def translate_files(
    workdir: str | pathlib.Path,
    files: list[pathlib.Path],
    out_dir: str | pathlib.Path,
    *,
    direction: str | None = None,
    step: int | None = None,
) -> list[pathlib.Path]:
    """Translates `files` with the run in `workdir`; returns the written PNG paths."""
    from PIL import Image

    from ganjax.methods.pix2pix import Pix2Pix, translate_images

    state, config, method, data = sampling.restore_run(workdir, step)
    if not isinstance(method, Pix2Pix):
        raise IncompatibleRunError(
            f"{workdir} is a '{method.name}' run; experiments.translate needs a pix2pix run."
        )
    if direction and direction != config.data.direction:
        raise IncompatibleRunError(
            f"{workdir} was trained {config.data.direction}; --direction={direction} needs a "
            f"run trained with --config.data.direction={direction}."
        )
    size, in_channels = data.info["input_shape"][0], data.info["input_shape"][-1]
    mode = "L" if in_channels == 1 else "RGB"
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in files:
        try:
            image = Image.open(path).convert(mode)
        except OSError as e:
            raise UnreadableFileError(
                f"{path} is not a readable image ({e}); remove it or fix it."
            ) from e
        original = image.size
        x = np.asarray(image.resize((size, size), Image.Resampling.BICUBIC), np.uint8)
        x = x.reshape(1, size, size, in_channels)
        y = translate_images(
            state,
            x,
            mode=config.eval.test_mode,
            batch_size=1,
            seed=config.eval.seed,
        )[0]
        out = Image.fromarray(y[..., 0] if y.shape[-1] == 1 else y)
        target = out_dir / f"{path.stem}.png"
        out.resize(original, Image.Resampling.BICUBIC).save(target)
        written.append(target)
    return written


def main(argv):
    del argv
    common.setup_logging()
    try:
        files = input_files(_INPUT.value)
        written = translate_files(
            _WORKDIR.value, files, _OUT.value, direction=_DIRECTION.value, step=_STEP.value
        )
    except common.USER_ERRORS as e:
        common.fail(e)
    print(f"Wrote {len(written)} translated image(s) to {_OUT.value}")


if __name__ == "__main__":
    app.run(main, flags_parser=common.parse_flags)
