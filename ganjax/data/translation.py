"""Image-to-image translation datasets in the layouts of junyanz/pytorch-CycleGAN-and-pix2pix.

Two kinds, read from local files (no network):

  paired (pix2pix, "aligned")    <root>/<name>/{train,val,test}/*.jpg|png, each image holding A
                                 (left half) and B (right half) side by side; or the authors'
                                 archive <root>/<name>.tar.gz|.tgz|.tar|.zip holding <name>/.
  unpaired (CycleGAN)            <root>/<name>/{trainA,trainB,testA,testB}/*.jpg|png; or the
                                 authors' <root>/<name>.zip holding <name>/ (tar archives too).
                                 Failing those, tfds's prepared `cycle_gan/<name>`.

Archives are read member by member in memory; nothing is extracted. Images are decoded to RGB
(or grayscale), split into halves where aligned (A = [0, w // 2), B = [w // 2, w), as the authors
crop), and each half or image is resized to `load_size` x `load_size` with PIL's bicubic filter,
as the authors' `get_transform` does. Files are taken in sorted path order (the authors'
`sorted(make_dataset(dir))`), so the example order is the same from a folder and its archive.

`load_paired` returns {"input": uint8 [N, S, S, C], "target": uint8 [N, S, S, C]} with the
`direction` choosing which half is the input; `load_unpaired` returns {"a": uint8 [Na, S, S, C],
"b": uint8 [Nb, S, S, C]}. Random jitter (resize to 286, crop 256, flip) is in
ganjax/data/jitter.py: load at 286 for training and at 256 (= crop size, no jitter) for testing,
as the authors' test options do.

Where to look: `root` when given (it may also be the dataset folder itself, like the authors'
--dataroot); otherwise default_roots(kind), in order.
"""

from __future__ import annotations

import io
import os
import pathlib
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np
from absl import logging

from ganjax.data.sources import DatasetNotFoundError
from ganjax.errors import BadFileError, ConfigError

if TYPE_CHECKING:
    from PIL import Image

Dataset = dict[str, np.ndarray]

PAIRED_SPLITS = ("train", "val", "test")
UNPAIRED_SPLITS = ("train", "test")
DIRECTIONS = ("AtoB", "BtoA")
# The authors' IMG_EXTENSIONS (data/image_folder.py), compared case-insensitively.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".tif", ".tiff")
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")

# The authors' datasets/download_pix2pix_dataset.sh and download_cyclegan_dataset.sh names.
PIX2PIX_DATASETS = (
    "cityscapes",
    "night2day",
    "edges2handbags",
    "edges2shoes",
    "facades",
    "maps",
)
CYCLEGAN_DATASETS = (
    "ae_photos",
    "apple2orange",
    "summer2winter_yosemite",
    "horse2zebra",
    "monet2photo",
    "cezanne2photo",
    "ukiyoe2photo",
    "vangogh2photo",
    "maps",
    "cityscapes",
    "facades",
    "iphone2dslr_flower",
    "mini",
    "mini_pix2pix",
    "mini_colorization",
    "grumpifycat",
)
_URLS = {
    "pix2pix": "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/{name}.tar.gz",
    "cyclegan": "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/{name}.zip",
}
_SCRIPTS = {
    "pix2pix": "bash ./datasets/download_pix2pix_dataset.sh {name}",
    "cyclegan": "bash ./datasets/download_cyclegan_dataset.sh {name}",
}
_LAYOUTS = {
    "pix2pix": "<root>/{name}/{split}/*.jpg (A|B side by side, A on the left) or "
    "<root>/{name}.tar.gz (.tgz, .tar, .zip) holding {name}/{split}/",
    "cyclegan": "<root>/{name}/{split}A/*.jpg and <root>/{name}/{split}B/*.jpg or "
    "<root>/{name}.zip holding {name}/{split}A/ and {name}/{split}B/",
}


class TranslationDatasetNotFoundError(DatasetNotFoundError):
    """A translation dataset (or one of its splits) is in none of the searched places."""


def default_roots(kind: str) -> list[pathlib.Path]:
    """Folders searched for `<name>/` or `<name>.<archive>` when no root is given, in order.

    Args:
      kind: "pix2pix" (paired) or "cyclegan" (unpaired).

    Returns:
      $GANJAX_DATA_DIR/<kind> and $GANJAX_DATA_DIR (when set),
      ~/tensorflow_datasets/downloads/manual/<kind>, ./datasets (where the authors' download
      scripts put the files) and /usr/share/datasets/<kind>.
    """
    if kind not in _URLS:
        raise ValueError(f"kind must be 'pix2pix' or 'cyclegan', not '{kind}'")
    roots = []
    if os.environ.get("GANJAX_DATA_DIR"):
        base = pathlib.Path(os.environ["GANJAX_DATA_DIR"]).expanduser()
        roots += [base / kind, base]
    roots.append(pathlib.Path.home() / "tensorflow_datasets" / "downloads" / "manual" / kind)
    roots.append(pathlib.Path("datasets"))
    roots.append(pathlib.Path("/usr/share/datasets") / kind)
    return roots


# ---------------------------------------------------------------------------------------------
# Decoding.


def _convert(convert: Callable[[bytes], object], data: bytes, where: str) -> object:
    """convert(data), with the file named when it is not a readable image."""
    try:
        return convert(data)
    except (OSError, ValueError) as e:  # PIL's UnidentifiedImageError is an OSError.
        raise BadFileError(f"Cannot decode {where} as an image ({e}); remove or replace it") from e


def _is_image(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    # macOS archivers add "__MACOSX/" folders and "._name" resource forks next to real images.
    return (
        name.lower().endswith(IMAGE_EXTENSIONS)
        and not base.startswith("._")
        and "__MACOSX" not in name
    )


def _decode(data: bytes, grayscale: bool) -> Image.Image:
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    return image.convert("L" if grayscale else "RGB")


def _resize(image: Image.Image, load_size: int) -> np.ndarray:
    """PIL image -> uint8 [S, S, C], bicubic as the authors' transforms.Resize."""
    from PIL import Image

    if image.size != (load_size, load_size):
        image = image.resize((load_size, load_size), Image.Resampling.BICUBIC)
    array = np.asarray(image, dtype=np.uint8)
    return array[..., None] if array.ndim == 2 else array


def split_aligned(image: Image.Image) -> tuple[Image.Image, Image.Image]:
    """Splits a side-by-side PIL image into (A, B): A = columns [0, w // 2), B = [w // 2, w).

    This is the authors' AlignedDataset crop (for an odd width, B is one column wider).
    """
    w, h = image.size
    half = w // 2
    return image.crop((0, 0, half, h)), image.crop((half, 0, w, h))


def _stack(arrays: list[np.ndarray], load_size: int, channels: int) -> np.ndarray:
    if not arrays:
        return np.zeros((0, load_size, load_size, channels), np.uint8)
    return np.stack(arrays)


# ---------------------------------------------------------------------------------------------
# Where the files are: a folder or an archive, listed as {folder: [(relative path, reader)]}.


def _folder_files(folder: pathlib.Path, subdirs: tuple[str, ...]) -> dict[str, list] | None:
    """{subdir: sorted [(relative path, path)]} when every subdir exists, else None."""
    if not all((folder / s).is_dir() for s in subdirs):
        return None
    out = {}
    for s in subdirs:
        # Recursive, as the authors' make_dataset (os.walk).
        files = [p for p in (folder / s).rglob("*") if p.is_file() and _is_image(p.as_posix())]
        out[s] = sorted((p.relative_to(folder / s).as_posix(), p) for p in files)
    return out


def _archive_path(root: pathlib.Path, name: str) -> pathlib.Path | None:
    for suffix in ARCHIVE_SUFFIXES:
        if (root / f"{name}{suffix}").is_file():
            return root / f"{name}{suffix}"
    return None


def _member_split(member: str, name: str, subdirs: tuple[str, ...]) -> tuple[str, str] | None:
    """(subdir, path inside it) of an archive member `<name>/<subdir>/...`, or None.

    Archives without the top `<name>/` folder (`<subdir>/...`) are read too.
    """
    parts = [p for p in member.split("/") if p not in ("", ".")]
    if len(parts) >= 3 and parts[0] == name and parts[1] in subdirs:
        return parts[1], "/".join(parts[2:])
    if len(parts) >= 2 and parts[0] in subdirs:
        return parts[0], "/".join(parts[1:])
    return None


def _archive_members(archive: pathlib.Path) -> Iterator[tuple[str, bytes]]:
    """Yields (member name, bytes) of every image file in a tar (any compression) or zip.

    Tars are read as a stream: one pass through the (gzip) file, no backward seeks.
    """
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                if not info.is_dir() and _is_image(info.filename):
                    yield info.filename, z.read(info)
    else:
        with tarfile.open(archive, "r|*") as tar:
            for member in tar:
                if member.isfile() and _is_image(member.name):
                    yield member.name, tar.extractfile(member).read()


def _archive_subdirs(archive: pathlib.Path, name: str) -> list[str]:
    """Which split folders an archive holds (for the error message when one is missing)."""
    found = set()
    all_splits = tuple(PAIRED_SPLITS) + tuple(f"{s}{d}" for s in UNPAIRED_SPLITS for d in "AB")
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as z:
            names = z.namelist()
    else:
        with tarfile.open(archive, "r|*") as tar:
            names = [m.name for m in tar]
    for n in names:
        hit = _member_split(n + "/x", name, all_splits)
        if hit:
            found.add(hit[0])
    return sorted(found)


def _decode_archive(
    archive: pathlib.Path,
    name: str,
    subdirs: tuple[str, ...],
    convert: Callable[[bytes], object],
    max_examples: int | None,
) -> dict[str, list]:
    """{subdir: [converted image, ...]} in sorted member order, decoding only what is kept.

    Compressed bytes of the selected members are held in memory (archives are at most a few
    GB; decoded arrays are larger), then decoded and converted one at a time.
    """
    raw: dict[str, list[tuple[str, bytes]]] = {s: [] for s in subdirs}
    for member, data in _archive_members(archive):
        hit = _member_split(member, name, subdirs)
        if hit:
            raw[hit[0]].append((hit[1], data))
    out = {}
    for s in subdirs:
        items = sorted(raw[s], key=lambda item: item[0])[:max_examples]
        out[s] = [_convert(convert, data, f"{archive}:{s}/{member}") for member, data in items]
    return out


def _locate(
    kind: str, name: str, split: str, subdirs: tuple[str, ...], root: str | None
) -> tuple[str, pathlib.Path, list[pathlib.Path]]:
    """("folder" | "archive" | "none", where, roots searched) for one dataset split.

    Raises:
      TranslationDatasetNotFoundError: when a dataset folder exists but lacks the split's
        folders (naming those it has), so a missing split is not mistaken for a missing set.
    """
    if root:
        given = pathlib.Path(root).expanduser()
        roots = [given]
        folders = [given / name, given]  # The root may be the dataset folder (--dataroot).
    else:
        roots = default_roots(kind)
        folders = [r / name for r in roots]
    for folder in folders:
        if all((folder / s).is_dir() for s in subdirs):
            return "folder", folder, roots
    for r in roots:
        archive = _archive_path(r, name)
        if archive is not None:
            return "archive", archive, roots
    for folder in folders:
        if folder.is_dir() and folder.name == name:  # The set is there, the split is not.
            have = sorted(p.name for p in folder.iterdir() if p.is_dir())
            raise TranslationDatasetNotFoundError(
                f"{kind} dataset '{name}' in {folder} has no '{split}' split: expected "
                f"folder(s) {', '.join(subdirs)} there, found {have or 'no folders'}. "
                f"Expected layout: {_LAYOUTS[kind].format(name=name, split=split)}."
            )
    return "none", pathlib.Path(), roots


def locate(kind: str, name: str, split: str, root: str | None = None) -> pathlib.Path | None:
    """The folder or archive that `load_paired` / `load_unpaired` read a split from.

    Args:
      kind: "pix2pix" (paired) or "cyclegan" (unpaired).
      name: the dataset, e.g. "facades".
      split: "train", "val", "test" (pix2pix) or "train", "test" (CycleGAN).
      root: as the loaders' `root`; default_roots(kind) when None.

    Returns:
      The dataset folder or archive, or None when no local copy is found (a CycleGAN set may
      still come from tfds).
    """
    subdirs = (split,) if kind == "pix2pix" else (f"{split}A", f"{split}B")
    where, path, _ = _locate(kind, name, split, subdirs, root)
    return None if where == "none" else path


def _not_found(
    kind: str, name: str, split: str, roots: list[pathlib.Path], extra: str = ""
) -> TranslationDatasetNotFoundError:
    known = PIX2PIX_DATASETS if kind == "pix2pix" else CYCLEGAN_DATASETS
    note = "" if name in known else f" ('{name}' is not one of the authors' sets {known})"
    if name == "cityscapes":  # The authors' scripts refuse it: the license forbids mirroring.
        extra += (
            ". Cityscapes is not redistributed: download gtFine_trainvaltest.zip and "
            "leftImg8bit_trainvaltest.zip from cityscapes-dataset.com and build the set with the "
            "authors' datasets/prepare_cityscapes_dataset.py"
        )
    return TranslationDatasetNotFoundError(
        f"{kind} dataset '{name}' split '{split}' not found{note}. Expected layout: "
        f"{_LAYOUTS[kind].format(name=name, split=split)}. Searched: "
        f"{', '.join(str(r) for r in roots)}{extra}. Get it with the authors' script "
        f"(github.com/junyanz/pytorch-CycleGAN-and-pix2pix: "
        f"{_SCRIPTS[kind].format(name=name)}) or from {_URLS[kind].format(name=name)}, and "
        f"put it (the archive or its extracted {name}/ folder) in one of those folders or in "
        "the folder passed as root."
    )


def _check_common(load_size: int, max_examples: int | None) -> None:
    if load_size < 1:
        raise ConfigError(f"load_size must be positive, got {load_size}")
    if max_examples is not None and max_examples < 1:
        raise ConfigError(f"max_examples must be positive or None, got {max_examples}")


# ---------------------------------------------------------------------------------------------
# Paired (pix2pix).


def load_paired(
    name: str,
    split: str,
    *,
    root: str | None = None,
    direction: str = "AtoB",
    load_size: int = 256,
    grayscale: bool = False,
    max_examples: int | None = None,
) -> Dataset:
    """Loads one split of a pix2pix ("aligned") dataset from its folder or archive.

    Args:
      name: dataset name, e.g. "facades", "edges2shoes" (PIX2PIX_DATASETS), or any folder laid
        out the same way.
      split: "train", "val" or "test" (not every set has all three; edges2* have no test).
      root: folder holding `<name>/` or `<name>.tar.gz` (or the `<name>/` folder itself);
        default_roots("pix2pix") when None.
      direction: "AtoB" (input = left half A, target = right half B) or "BtoA".
      load_size: side of the square both halves are resized to (bicubic): 286 for training
        with jitter, 256 for testing.
      grayscale: decode to one channel (the authors' input_nc=1) instead of RGB.
      max_examples: keep only the first N images in sorted order.

    Returns:
      {"input": uint8 [N, S, S, C], "target": uint8 [N, S, S, C]}, C = 1 or 3, S = load_size.

    Raises:
      TranslationDatasetNotFoundError: naming the layout, the folders searched and the
        download script and URL.
      ValueError: for an unknown split or direction.
    """
    if split not in PAIRED_SPLITS:
        raise ConfigError(f"pix2pix splits are {PAIRED_SPLITS}, not '{split}'")
    if direction not in DIRECTIONS:
        raise ConfigError(f"direction must be one of {DIRECTIONS}, not '{direction}'")
    _check_common(load_size, max_examples)

    def convert(data: bytes) -> tuple[np.ndarray, np.ndarray]:
        a, b = split_aligned(_decode(data, grayscale))
        return _resize(a, load_size), _resize(b, load_size)

    where, path, roots = _locate("pix2pix", name, split, (split,), root)
    if where == "folder":
        files = _folder_files(path, (split,))[split][:max_examples]
        pairs = [_convert(convert, p.read_bytes(), str(p)) for _, p in files]
    elif where == "archive":
        pairs = _decode_archive(path, name, (split,), convert, max_examples)[split]
        if not pairs:
            have = _archive_subdirs(path, name)
            raise _not_found(
                "pix2pix",
                name,
                split,
                roots,
                f" ({path} holds no {name}/{split}/ images; its split folders: {have or 'none'})",
            )
    else:
        raise _not_found("pix2pix", name, split, roots)
    if not pairs:
        raise _not_found("pix2pix", name, split, roots, f" ({path}/{split} holds no images)")
    logging.info("Read %d %s/%s pairs from %s", len(pairs), name, split, path)
    channels = 1 if grayscale else 3
    a = _stack([p[0] for p in pairs], load_size, channels)
    b = _stack([p[1] for p in pairs], load_size, channels)
    return {"input": a, "target": b} if direction == "AtoB" else {"input": b, "target": a}


# ---------------------------------------------------------------------------------------------
# Unpaired (CycleGAN).


def _load_tfds_cycle_gan(
    name: str,
    split: str,
    data_dir: str | None,
    load_size: int,
    grayscale: bool,
    max_examples: int | None,
) -> Dataset | None:
    """{"a", "b"} from a prepared tfds `cycle_gan/<name>`; None when tfds or the data is absent."""
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        return None
    if name not in tfds.builder_cls("cycle_gan").builder_configs:
        return None  # Not one of tfds's cycle_gan datasets.
    builder = tfds.builder(f"cycle_gan/{name}", data_dir=data_dir or None)
    if not builder.is_prepared():
        return None
    from PIL import Image

    from ganjax.data.sources import _load_tfds

    out = {}
    for domain in "AB":
        data = _load_tfds(f"cycle_gan/{name}", f"{split}{domain}", data_dir)
        if data is None:
            return None
        images = [
            Image.fromarray(np.asarray(im, np.uint8).squeeze())
            for im in data["image"][:max_examples]
        ]
        out[domain.lower()] = _stack(
            [_resize(im.convert("L" if grayscale else "RGB"), load_size) for im in images],
            load_size,
            1 if grayscale else 3,
        )
    logging.info("Read cycle_gan/%s %s from tfds in %s", name, split, builder.data_dir)
    return out


def load_unpaired(
    name: str,
    split: str,
    *,
    root: str | None = None,
    tfds_data_dir: str | None = None,
    load_size: int = 256,
    grayscale: bool = False,
    max_examples: int | None = None,
    use_tfds: bool = True,
) -> Dataset:
    """Loads one split of a CycleGAN ("unaligned") dataset: its folder, its zip, or tfds.

    Args:
      name: dataset name, e.g. "horse2zebra" (CYCLEGAN_DATASETS), or any folder laid out the
        same way.
      split: "train" or "test" (folders <split>A and <split>B).
      root: folder holding `<name>/` or `<name>.zip` (or the `<name>/` folder itself);
        default_roots("cyclegan") when None.
      tfds_data_dir: tfds data_dir with a prepared `cycle_gan/<name>`, tried when no local
        files exist (None: tfds's default, ~/tensorflow_datasets). Never downloads.
      load_size: side of the square every image is resized to (bicubic): 286 for training
        with jitter, 256 for testing.
      grayscale: decode to one channel instead of RGB (a few sets hold gray images; RGB
        conversion replicates them, as the authors do).
      max_examples: keep only the first N images of each domain in sorted order.
      use_tfds: whether to try tfds when no local files exist.

    Returns:
      {"a": uint8 [Na, S, S, C], "b": uint8 [Nb, S, S, C]}; Na and Nb usually differ.

    Raises:
      TranslationDatasetNotFoundError: naming the layout, the folders searched and the
        download script and URL.
      ValueError: for an unknown split.
    """
    if split not in UNPAIRED_SPLITS:
        raise ConfigError(f"CycleGAN splits are {UNPAIRED_SPLITS}, not '{split}'")
    _check_common(load_size, max_examples)
    subdirs = (f"{split}A", f"{split}B")

    def convert(data: bytes) -> np.ndarray:
        return _resize(_decode(data, grayscale), load_size)

    where, path, roots = _locate("cyclegan", name, split, subdirs, root)
    if where == "folder":
        files = _folder_files(path, subdirs)
        images = {
            s: [_convert(convert, p.read_bytes(), str(p)) for _, p in files[s][:max_examples]]
            for s in files
        }
    elif where == "archive":
        images = _decode_archive(path, name, subdirs, convert, max_examples)
        if not all(images.values()):
            have = _archive_subdirs(path, name)
            raise _not_found(
                "cyclegan",
                name,
                split,
                roots,
                f" ({path} lacks images in "
                f"{name}/{subdirs[0]}/ or {name}/{subdirs[1]}/; its split folders: "
                f"{have or 'none'})",
            )
    else:
        data = None
        if use_tfds:
            data = _load_tfds_cycle_gan(
                name, split, tfds_data_dir, load_size, grayscale, max_examples
            )
        if data is None:
            tfds_note = (
                f", and no prepared tfds cycle_gan/{name} in "
                f"{tfds_data_dir or 'the default tfds data_dir'}"
                if use_tfds
                else ""
            )
            raise _not_found("cyclegan", name, split, roots, tfds_note)
        return data
    for s in subdirs:
        if not images[s]:
            raise _not_found("cyclegan", name, split, roots, f" ({path}/{s} holds no images)")
    logging.info(
        "Read %s/%s from %s: %d A and %d B images",
        name,
        split,
        path,
        len(images[subdirs[0]]),
        len(images[subdirs[1]]),
    )
    channels = 1 if grayscale else 3
    return {
        "a": _stack(images[subdirs[0]], load_size, channels),
        "b": _stack(images[subdirs[1]], load_size, channels),
    }
