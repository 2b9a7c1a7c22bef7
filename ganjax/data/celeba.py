"""CelebA in its distribution format: the aligned faces, their attributes and the partition.

  img_align_celeba.zip     as downloaded (members img_align_celeba/NNNNNN.jpg), read member by
                           member without unpacking; or its extracted img_align_celeba/ folder
  list_attr_celeba.txt     a count line, the 40 attribute names, then "NNNNNN.jpg  1 -1 ..."
  list_eval_partition.txt  "NNNNNN.jpg P", P = 0 train / 1 validation / 2 test (optional;
                           without it every image is in "train")

Any subset of the official images works, with the partition file as given (the official one, or
one listing only the subset). `select_split` finds the images a split reads and their
identity without decoding any; `load` decodes (and caches) them. The cache is keyed by
that identity, so another file set with the same count never reuses it. Reached through
`ganjax.data.sources.load_split("celeb_a", ...)`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import pathlib
import posixpath
import re
import zipfile

import numpy as np
from absl import logging

from ganjax.errors import BadFileError, ConfigError, DataError, MissingFileError

Dataset = dict[str, np.ndarray]

CELEBA_CROP = 108  # Center crop of the aligned 178x218 faces, as in the DCGAN face experiments.
IMAGES_DIR, IMAGES_ZIP = "img_align_celeba", "img_align_celeba.zip"
ATTRIBUTES_FILE, PARTITION_FILE = "list_attr_celeba.txt", "list_eval_partition.txt"
SPLITS = {"train": 0, "validation": 1, "test": 2}  # list_eval_partition.txt's numbers.
# The official header of list_attr_celeba.txt.
ATTRIBUTE_NAMES = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose "
    "Black_Hair Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee "
    "Gray_Hair Heavy_Makeup High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard "
    "Oval_Face Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair "
    "Wavy_Hair Wearing_Earrings Wearing_Hat Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young"
).split()


class FormatError(BadFileError):
    """CelebA files that break the official format; the message names the line or file."""


def official_partition(number: int) -> int:
    """The official split of image NNNNNN.jpg: 0 train (<= 162770), 1 validation (<= 182637),
    2 test."""
    return 0 if number <= 162770 else (1 if number <= 182637 else 2)


def _find(directory: pathlib.Path, *names: str) -> pathlib.Path | None:
    return next((directory / n for n in names if (directory / n).exists()), None)


def find_images(directory: pathlib.Path) -> pathlib.Path | None:
    """The img_align_celeba/ folder (first) or img_align_celeba.zip in `directory`, or None."""
    return _find(directory, IMAGES_DIR, IMAGES_ZIP)


def preprocess(image: np.ndarray, size: int, crop: int = CELEBA_CROP) -> np.ndarray:
    """Center-crops a face to crop x crop, then resizes to size x size (area-averaging)."""
    from PIL import Image

    h, w = image.shape[:2]
    top, left = (h - crop) // 2, (w - crop) // 2
    face = Image.fromarray(image[top : top + crop, left : left + crop])
    return np.asarray(face.resize((size, size), Image.Resampling.BOX), dtype=np.uint8)


@dataclasses.dataclass(frozen=True)
class Selection:
    """The CelebA images one split reads, found without decoding any.

    Attributes:
      images: the img_align_celeba.zip or img_align_celeba/ folder they are read from.
      attribute_names: the header of list_attr_celeba.txt (40 names in the official file).
      files: kept image names (NNNNNN.jpg), in attribute-file order.
      members: their zip member names (for a folder: the file names).
      rows: their attribute values as written ("1" / "-1" separated by spaces).
      identity: short sha256 of the kept names with their zip CRC32 and size (for a folder:
        size and mtime_ns), the attribute and partition files' size and mtime_ns, the crop and
        the output size: the key of the decoded-image cache.
    """

    images: pathlib.Path
    attribute_names: list[str]
    files: list[str]
    members: list[str]
    rows: list[str]
    identity: str

    def attributes(self) -> np.ndarray:
        """int8 [N, len(attribute_names)] in {0, 1}."""
        values = np.asarray([r.split() for r in self.rows], np.int8)
        values = values.reshape(len(self.rows), len(self.attribute_names))
        return (values > 0).astype(np.int8)


def image_index(images: pathlib.Path) -> dict[str, zipfile.ZipInfo | None]:
    """Image name -> its zip member (None for a file of a folder), for every image present."""
    if images.is_dir():
        return dict.fromkeys(n for n in os.listdir(images) if not n.startswith("._"))
    try:
        with zipfile.ZipFile(images) as z:
            infos = z.infolist()
    except zipfile.BadZipFile as e:
        raise BadFileError(f"{images} is not a readable zip ({e}); download it again") from e
    return {
        posixpath.basename(i.filename): i
        for i in infos
        if not i.is_dir()
        and posixpath.dirname(i.filename) in (IMAGES_DIR, "")
        and not posixpath.basename(i.filename).startswith("._")
    }


def select_split(
    directory: pathlib.Path, split: str, image_size: int = 64, max_examples: int | None = None
) -> Selection:
    """Which CelebA images `load_split("celeb_a", split, ...)` reads from `directory`.

    Args:
      directory: holds img_align_celeba.zip or img_align_celeba/, and the text files.
      split: "train", "validation", "test" or "all".
      image_size: the output side (part of the identity only).
      max_examples: keep the first N of the split.

    Raises:
      FileNotFoundError: the images or the attribute file (or the partition file that a split
        other than train/all needs) are not in `directory`.
      ValueError: an unknown split; attribute lines whose images are missing (naming a few);
        images the partition file does not list.
    """
    if split not in SPLITS and split != "all":
        raise ConfigError(f"celeb_a has splits train, validation, test and all, not '{split}'")
    images = find_images(directory)
    attr_path = _find(directory, ATTRIBUTES_FILE)
    if images is None or attr_path is None:
        raise MissingFileError(
            f"img_align_celeba.zip (or img_align_celeba/) and list_attr_celeba.txt not in "
            f"{directory}"
        )
    lines = attr_path.read_text().splitlines()
    names = lines[1].split() if len(lines) > 1 else []
    entries = [line.split(None, 1) for line in lines[2:] if line.strip()]
    files = [e[0] for e in entries]
    index = image_index(images)
    if missing := [f for f in files if f not in index]:
        raise BadFileError(
            f"{attr_path} lists {len(missing)} image(s) that are not in {images}: "
            f"{', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}. Use the attribute "
            "file that came with these images, or add the missing images."
        )
    part_path = _find(directory, PARTITION_FILE)
    if split == "all" or (part_path is None and split == "train"):
        keep = list(range(len(files)))
    elif part_path is None:
        raise MissingFileError(
            f"list_eval_partition.txt (needed for split '{split}') not in {directory}"
        )
    else:
        partition = {
            p[0]: p[1] for line in part_path.read_text().splitlines() if len(p := line.split()) > 1
        }
        if unlisted := [f for f in files if f not in partition]:
            raise BadFileError(
                f"{part_path} has no line for {len(unlisted)} image(s) of {attr_path.name}: "
                f"{', '.join(unlisted[:5])}. Use the partition file that came with these images."
            )
        keep = [i for i, f in enumerate(files) if partition[f] == str(SPLITS[split])]
    keep = keep[:max_examples] if max_examples else keep
    digest = hashlib.sha256(f"celeb_a crop{CELEBA_CROP} {image_size}px\n".encode())
    for path in (attr_path, part_path):
        st = path.stat() if path else None
        digest.update((f"{path.name} {st.st_size} {st.st_mtime_ns}\n" if st else "-\n").encode())
    for i in keep:
        info = index[files[i]]
        if info is None:
            st = (images / files[i]).stat()
            digest.update(f"{files[i]} {st.st_size} {st.st_mtime_ns}\n".encode())
        else:
            digest.update(f"{files[i]} {info.CRC:08x} {info.file_size}\n".encode())
    return Selection(
        images=images,
        attribute_names=names,
        files=[files[i] for i in keep],
        members=[files[i] if index[files[i]] is None else index[files[i]].filename for i in keep],
        rows=[entries[i][1] if len(entries[i]) > 1 else "" for i in keep],
        identity=digest.hexdigest()[:16],
    )


def _decode(selection: Selection, image_size: int) -> np.ndarray:
    from PIL import Image

    def face(data: bytes | pathlib.Path) -> np.ndarray:
        image = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)
        return preprocess(np.asarray(image.convert("RGB")), image_size)

    if selection.images.is_dir():
        return np.stack([face(selection.images / m) for m in selection.members])
    with zipfile.ZipFile(selection.images) as z:
        return np.stack([face(z.read(m)) for m in selection.members])


def load(
    directory: pathlib.Path, split: str, image_size: int, max_examples: int | None, cache_dir: str
) -> Dataset:
    """The faces of one split, center-cropped to 108 and resized; cached in `cache_dir`.

    Returns:
      {"image": uint8 [N, S, S, 3], "label": int32 [N] (the "Male" attribute), "attributes":
      int8 [N, 40] in {0, 1}, "attribute_names": [40] str}.

    Raises:
      FileNotFoundError, ValueError: as `select_split`, or when the split holds no image.
    """
    selection = select_split(directory, split, image_size, max_examples)
    if not selection.files:
        raise DataError(f"celeb_a split '{split}' has no images in {directory}")
    # Keyed by the source's identity: another file set with the same count must not reuse it.
    cache = pathlib.Path(cache_dir).expanduser() / (
        f"celeb_a_{split}_{image_size}px_crop{CELEBA_CROP}_{len(selection.files)}_"
        f"{selection.identity}.npz"
    )
    if cache.exists():
        with np.load(cache) as z:
            images = z["image"]
    else:
        logging.info(
            "Decoding %d CelebA images from %s to %dpx (cached at %s)",
            len(selection.files),
            selection.images,
            image_size,
            cache,
        )
        images = _decode(selection, image_size)
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, image=images)
        os.replace(tmp, cache)
    # Binary label for plain classifiers: the "Male" attribute.
    attributes = selection.attributes()
    names = selection.attribute_names
    return {
        "image": images,
        "label": attributes[:, names.index("Male")].astype(np.int32),
        "attributes": attributes,
        "attribute_names": np.asarray(names),
    }


def check_official_format(directory: pathlib.Path) -> dict[str, int]:
    """Checks a CelebA folder (any subset) against the official format, image by image.

    The attribute file has the count line, the 40 official names and a line of 40 values 1/-1
    per image; every image it lists is in the zip or folder and has a partition line; every
    partition line follows the official rule (official_partition). Reads no image.

    Returns:
      The image count of each split: {"train": n, "validation": n, "test": n}.

    Raises:
      FormatError: naming the first offending lines or files, and the fix.
    """
    images, attr_path = find_images(directory), directory / ATTRIBUTES_FILE
    part_path = directory / PARTITION_FILE
    if images is None or not attr_path.is_file() or not part_path.is_file():
        raise FormatError(
            f"{directory} lacks img_align_celeba.zip (or img_align_celeba/), {ATTRIBUTES_FILE} "
            f"or {PARTITION_FILE}: put the three there"
        )
    lines = attr_path.read_text().splitlines()
    if len(lines) < 2 or lines[1].split() != ATTRIBUTE_NAMES:
        raise FormatError(
            f"{attr_path}: line 2 is not the official header of the 40 attribute names "
            "(5_o_Clock_Shadow ... Young). Use the official list_attr_celeba.txt."
        )
    rows = [line.split() for line in lines[2:] if line.strip()]
    bad = [r[0] for r in rows if len(r) != 41 or any(v not in ("1", "-1") for v in r[1:])]
    if bad or lines[0].strip() != str(len(rows)):
        raise FormatError(
            f"{attr_path}: line 1 says {lines[0].strip()} images and {len(rows)} lines follow; "
            f"lines that are not a name and 40 values 1/-1: {', '.join(bad[:5]) or 'none'}. "
            "Use the official file (or its lines, unchanged)."
        )
    index = image_index(images)
    if missing := [r[0] for r in rows if r[0] not in index]:
        raise FormatError(
            f"{len(missing)} image(s) of {ATTRIBUTES_FILE} are not in {images}: "
            f"{', '.join(missing[:5])}. Add them, or use the attribute file of these images."
        )
    partition = {}
    for line in part_path.read_text().splitlines():
        name, part = (line.split() + ["", ""])[:2]
        number = int(name[:6]) if re.fullmatch(r"\d{6}\.jpg", name) else 0
        if line.strip() and (not number or part != str(official_partition(number))):
            raise FormatError(
                f"{part_path}: '{line.strip()}' breaks the official partition (images up to "
                "162770 train 0, up to 182637 validation 1, the rest test 2). Use the official "
                "list_eval_partition.txt (or its lines, unchanged)."
            )
        partition[name] = part
    if unlisted := [r[0] for r in rows if r[0] not in partition]:
        raise FormatError(
            f"{part_path} has no line for {len(unlisted)} image(s): {', '.join(unlisted[:5])}. "
            "Use the official list_eval_partition.txt."
        )
    return {s: sum(partition[r[0]] == str(k) for r in rows) for s, k in SPLITS.items()}
