"""Attribute vectors and editing figures from a trained run's code space (a VAE-GAN, or a DCGAN
with a post-hoc encoder from experiments.encode).

  python -m experiments.attributes --workdir=runs/fmnist_vaegan --attribute=class=6:0 \
      --num_labeled=50
  python -m experiments.attributes --workdir=runs/celeba_vaegan --attribute=Male \
      --remove_attribute=Eyeglasses
  python -m experiments.attributes --workdir=runs/fmnist_vaegan --attribute=all

--attribute: a CelebA attribute name, class=<c> (class vs rest), class=<a,b>:<c> (grouping vs
grouping), or `all` (every CelebA attribute, or every class vs the rest). Uses --num_labeled
random labeled training images per side (the label budget; --seed picks them). Writes
<workdir>/attributes/<attribute>.npz (mean codes of both sides, their difference, the indices
used) and, from test images: <attribute>_edit.png (image, reconstruction, the code moved by
k x the vector for k in --strengths), <attribute>_interpolation.png (test images of the two
sides, interpolated), and with --remove_attribute <a>_plus_minus_<b>.png.
"""

import numpy as np
from absl import app, flags

from experiments import common
from ganjax import rng as rng_lib
from ganjax.data import attribute_specs, load_config_split
from ganjax.latent import code_space, editing

_WORKDIR = flags.DEFINE_string("workdir", None, "A VAE-GAN run, or a DCGAN run with an encoder.")
_ATTRIBUTE = flags.DEFINE_string("attribute", None, "Attribute spec (see the module doc) or all.")
_REMOVE = flags.DEFINE_string("remove_attribute", None, "Attribute to subtract (arithmetic grid).")
_NUM_LABELED = flags.DEFINE_integer("num_labeled", 50, "Labeled images per side (0: all).")
_SEED = flags.DEFINE_integer("seed", 0, "Which labeled images are used.")
_STRENGTHS = flags.DEFINE_list(
    "strengths",
    ["-1.5", "-1", "-0.5", "0", "0.5", "1", "1.5"],
    "Multiples k of the vector in the edit grid.",
)
_ROWS = flags.DEFINE_integer("rows", 8, "Test images per grid.")
_REFINE = flags.DEFINE_integer(
    "refine_steps", None, "Post-hoc encoder: latent optimization steps (default: trained)."
)
flags.mark_flags_as_required(["workdir", "attribute"])


def _specs(train, attribute: str) -> list[str]:
    if attribute != "all":
        return [attribute]
    if "attribute_names" in train:
        return [str(n) for n in train["attribute_names"]]
    return [f"class={c}" for c in range(int(train["label"].max()) + 1)]


def _rows(sides: attribute_specs.Sides, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = rng_lib.stream(seed, "attribute_grid_rows")
    pick = [
        rng.permutation(np.flatnonzero(m))[: (n + 1) // 2] for m in (sides.positive, sides.negative)
    ]
    return pick[0], pick[1]


def main(argv):
    del argv
    common.setup_logging()
    try:
        space = code_space.load_code_space(_WORKDIR.value, refine_steps=_REFINE.value)
        train = load_config_split(space.config.data, "train")
        test = load_config_split(space.config.data, "test")
        out = editing.attributes_dir(_WORKDIR.value)
        strengths = [float(k) for k in _STRENGTHS.value]
        removed = None
        if _REMOVE.value:
            removed, _ = editing.compute_vector(
                space, train, _REMOVE.value, _NUM_LABELED.value, _SEED.value, out
            )
        for spec in _specs(train, _ATTRIBUTE.value):
            vec, _ = editing.compute_vector(
                space, train, spec, _NUM_LABELED.value, _SEED.value, out
            )
            stem = editing.file_stem(spec)
            test_sides = attribute_specs.select_sides(test, spec)
            pos, neg = _rows(test_sides, _ROWS.value, _SEED.value)
            rows = test["image"][np.concatenate([pos, neg])]
            written = [
                editing.save(
                    editing.edit_grid(space, rows, vec.direction, strengths),
                    out / f"{stem}_edit.png",
                )
            ]
            n = min(len(pos), len(neg))
            written.append(
                editing.save(
                    editing.interpolation_grid(
                        space, test["image"][pos[:n]], test["image"][neg[:n]]
                    ),
                    out / f"{stem}_interpolation.png",
                )
            )
            if removed is not None:
                written.append(
                    editing.save(
                        editing.arithmetic_grid(space, rows, vec.direction, removed.direction),
                        out / f"{stem}_plus_minus_{editing.file_stem(_REMOVE.value)}.png",
                    )
                )
            norm = float(np.linalg.norm(vec.direction))
            print(
                f"{spec}: |v| = {norm:.3f} from {vec.num_positive} + {vec.num_negative} "
                f"labeled codes ({space.source}); wrote {out / (stem + '.npz')}, "
                + ", ".join(p.name for p in written)
            )
    except common.USER_ERRORS as e:
        common.fail(e)


if __name__ == "__main__":
    app.run(main, flags_parser=common.parse_flags)
