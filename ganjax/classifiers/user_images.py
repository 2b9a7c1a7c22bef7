"""A user's image files -> uint8 arrays at a classifier run's shape, by the run's dataset's rule
(`python -m experiments.classify`).

Each file is decoded with PIL, turned upright by its EXIF orientation (phone photos; dataset
images carry none), converted to the run's channels (PIL's "L" luma for gray runs, "RGB" for
color ones; an alpha channel is dropped), then brought to the run's shape by the rule of the
dataset whose test images the run was scored on (`config.data.test_dataset`, else
`config.data.name`):

  celeb_a   the data pipeline's own `celeba.preprocess`, unchanged: the center 108 x 108 pixels
            (top-left at ((H - 108) // 2, (W - 108) // 2)), resized to the run's side with PIL's
            BOX filter. An aligned 178 x 218 CelebA face gets exactly the training array. The
            rule is in pixels, not relative, and the pipeline applies it to any size, so a
            photo of another size gets the same 108-pixel center crop: a 201 x 173 photo keeps
            its central 108 x 108 pixels, a 1000 x 1200 photo only its central 108 x 108 pixels
            (about a 10th of its width; a note is logged). Scale the photo so that the face
            fills it as in CelebA's aligned 178 x 218 faces to give the classifier what it was
            trained on. A photo with a side under 108 pixels, where the crop does not fit, is
            first enlarged (bicubic, aspect ratio kept) until its shorter side is 108.
  others    (mnist, fashion_mnist, svhn_cropped, cifar10): every source image already has the
            run's size and the pipeline resizes nothing, so an image of exactly that size is
            used as it is (bit for bit the pipeline's array). Any other size is resized as a
            whole to the run's H x W with PIL's bicubic filter (antialiased when shrinking),
            aspect ratio not kept, as `experiments.translate` does; nothing is cropped.

Then the run's normalization (uint8 -> [-1, 1], inside the network function) and prediction
in fixed-size batches. The images should look like the dataset (Fashion-MNIST garments are light
on black, MNIST digits white on black): nothing here inverts or recenters them.
"""

from __future__ import annotations

import math
import pathlib

import numpy as np
from absl import logging

from ganjax.classifiers.restore import Classifier
from ganjax.data import celeba
from ganjax.errors import MissingFileError, UnreadableFileError

# Files read as images when a folder is walked (others are skipped with a note).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")
CELEBA_NATIVE = (178, 218)  # Width, height of the aligned CelebA faces the crop was set for.


def input_files(path: str | pathlib.Path) -> list[tuple[str, pathlib.Path]]:
    """(name, path) of the images --input names: a file, or a folder walked recursively in
    sorted order, named by their path relative to it (posix). Other files are skipped with a
    logged note.

    Raises:
      FileNotFoundError: `path` does not exist, or the folder holds no image.
    """
    path = pathlib.Path(path).expanduser()
    if path.is_file():
        return [(path.name, path)]
    if not path.is_dir():
        raise MissingFileError(f"--input={path} does not exist; give an image or a folder.")
    files, skipped = [], []
    for p in sorted(path.rglob("*"), key=lambda p: p.relative_to(path).parts):
        if not p.is_file():
            continue
        name = p.relative_to(path).as_posix()
        if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith("."):
            files.append((name, p))
        else:
            skipped.append(name)
    if skipped:
        logging.info(
            "Skipped %d file(s) that are not images (%s): %s",
            len(skipped),
            ", ".join(IMAGE_EXTENSIONS),
            ", ".join(skipped),
        )
    if not files:
        raise MissingFileError(
            f"{path} holds no images ({', '.join(IMAGE_EXTENSIONS)}); point --input at an image "
            "or a folder of images."
        )
    return files


def prepare(image, dataset: str, image_shape: tuple[int, int, int]) -> tuple[np.ndarray, str]:
    """A decoded PIL image -> uint8 [H, W, C] at the run's shape by `dataset`'s rule (see the
    module docstring), and a note saying what was done to it."""
    from PIL import Image, ImageOps

    h, w, c = image_shape
    image = ImageOps.exif_transpose(image).convert("L" if c == 1 else "RGB")
    size = f"{image.width}x{image.height}"
    if dataset == "celeb_a":
        crop = celeba.CELEBA_CROP
        note = f"{size}: center {crop}-pixel crop, resized to {h}"
        if min(image.size) < crop:
            new = tuple(max(crop, math.ceil(s * crop / min(image.size))) for s in image.size)
            image = image.resize(new, Image.Resampling.BICUBIC)
            note = f"{size}: enlarged to {new[0]}x{new[1]} (bicubic), center {crop}-pixel crop"
        elif image.size == CELEBA_NATIVE:
            note = f"{size}: native size, the pipeline's crop and resize"
        elif image.width > CELEBA_NATIVE[0] or image.height > CELEBA_NATIVE[1]:
            note += f" (the crop covers only {crop / image.width:.0%} of the width)"
        array = celeba.preprocess(np.asarray(image), h)
    elif image.size == (w, h):
        array, note = np.asarray(image), f"{size}: native size, unchanged"
    else:
        image = image.resize((w, h), Image.Resampling.BICUBIC)
        array, note = np.asarray(image), f"{size}: resized to {w}x{h} (bicubic)"
    return array.reshape(h, w, c).astype(np.uint8), note


def read_image(path: pathlib.Path, dataset: str, image_shape) -> tuple[np.ndarray, str]:
    """`prepare` of one file; OSError naming the file when it is not a readable image."""
    from PIL import Image

    try:
        image = Image.open(path)
        image.load()  # Decodes now: a truncated or damaged file fails here, not later.
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise UnreadableFileError(
            f"{path} is not a readable image ({type(e).__name__}: {e}); fix or remove it."
        ) from e
    with image:
        return prepare(image, dataset, image_shape)


def read_images(classifier: Classifier, files: list[tuple[str, pathlib.Path]]) -> np.ndarray:
    """uint8 [N, H, W, C] of `files`, each prepared by the run's rule (all decoded first, so an
    unreadable file stops before any prediction)."""
    arrays, changed = [], []
    for name, path in files:
        array, note = read_image(path, classifier.dataset, classifier.image_shape)
        arrays.append(array)
        if "native size" not in note:
            changed.append(f"{name} ({note})")
    if changed:
        logging.info(
            "%d of %d image(s) not at the run's native size: %s%s",
            len(changed),
            len(files),
            "; ".join(changed[:10]),
            " ..." if len(changed) > 10 else "",
        )
    if any("covers only" in n for n in changed):
        logging.warning(
            "CelebA runs crop the center 108 pixels whatever the image size, so in images larger "
            "than the aligned 178x218 faces the classifier sees only their center: scale your "
            "photos so that the face fills them as in CelebA's."
        )
    return np.stack(arrays)
