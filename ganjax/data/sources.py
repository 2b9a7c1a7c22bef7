"""Dataset sources: local original files (no network) or prepared tensorflow-datasets.

`load_split(name, split, ...)` returns {"image": uint8 [N, H, W, C], "label": int32 [N]} (CelebA
adds "attributes": int8 [N, 40] in {0, 1} and "attribute_names"). The local readers parse each
dataset's original distribution format:

  mnist, fashion_mnist  train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-... (IDX;
                        gzipped or not)
  svhn_cropped          train_32x32.mat, test_32x32.mat (MATLAB; label 10 means digit 0)
  cifar10               cifar-10-batches-py/{data_batch_1..5,test_batch} or cifar-10-python.tar.gz
  celeb_a               img_align_celeba.zip as downloaded (members img_align_celeba/NNNNNN.jpg)
                        or its extracted img_align_celeba/ folder, beside list_attr_celeba.txt
                        and list_eval_partition.txt (optional; without it every image is in
                        "train"); any subset of the official images

Where to look: `manual_dir` when given; otherwise the first existing of $GANJAX_DATA_DIR/<name>,
~/tensorflow_datasets/downloads/manual/<name>, /usr/share/datasets/<name with dashes>. If no
local files are found the tfds copy in `tfds_data_dir` is used when it has been prepared.

`source_fingerprint(name, split, ...)` names the files a `load_split` call would read (names,
sizes, modification times or zip CRCs; nothing is decoded): caches of what was computed from a
split (decoded CelebA faces here, FID reference statistics) carry it, so that other files with the
same dataset name never reuse them.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import pathlib
import pickle
import tarfile

import numpy as np
from absl import logging

from ganjax.data import celeba
from ganjax.errors import BadFileError, ConfigError, MissingFileError

Dataset = dict[str, np.ndarray]

DATASETS = ("mnist", "fashion_mnist", "svhn_cropped", "cifar10", "celeb_a")

_DOWNLOAD_HINTS = {
    "mnist": "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz "
    "and t10k-labels-idx1-ubyte.gz from the MNIST page (yann.lecun.com/exdb/mnist or a mirror)",
    "fashion_mnist": "the four IDX .gz files from github.com/zalandoresearch/fashion-mnist "
    "(on Debian: apt-get install dataset-fashion-mnist puts them in "
    "/usr/share/datasets/fashion-mnist)",
    "svhn_cropped": "train_32x32.mat and test_32x32.mat from ufldl.stanford.edu/housenumbers",
    "cifar10": "cifar-10-python.tar.gz from www.cs.toronto.edu/~kriz/cifar.html (the tarball or "
    "its extracted cifar-10-batches-py/ folder)",
    "celeb_a": "img_align_celeba.zip (as downloaded, or extracted to img_align_celeba/), "
    "list_attr_celeba.txt and list_eval_partition.txt from "
    "mmlab.ie.cuhk.edu.hk/projects/CelebA.html",
}


class DatasetNotFoundError(MissingFileError):
    """No local files and no prepared tfds copy of a dataset."""


def default_dirs(name: str) -> list[pathlib.Path]:
    """Standard places searched for a dataset's original files, in order."""
    dirs = []
    if os.environ.get("GANJAX_DATA_DIR"):
        dirs.append(pathlib.Path(os.environ["GANJAX_DATA_DIR"]) / name)
    dirs.append(pathlib.Path.home() / "tensorflow_datasets" / "downloads" / "manual" / name)
    dirs.append(pathlib.Path("/usr/share/datasets") / name.replace("_", "-"))
    return dirs


# ---------------------------------------------------------------------------------------------
# Local readers.


def _find(directory: pathlib.Path, *names: str) -> pathlib.Path | None:
    for n in names:
        if (directory / n).exists():
            return directory / n
    return None


def read_idx(path: pathlib.Path) -> np.ndarray:
    """Reads an IDX file (gzipped or not) into a numpy array of its declared type and shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise BadFileError(f"{path} is not an IDX file (bad magic number)")
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if data[2] not in dtypes:
        raise BadFileError(f"{path}: unknown IDX data type 0x{data[2]:02x}")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    array = np.frombuffer(data, dtype=dtypes[data[2]], offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise BadFileError(
            f"{path}: header says {shape} but holds {array.size} values (truncated?)"
        )
    return array.reshape(shape)


def _idx_paths(directory: pathlib.Path, split: str) -> list[pathlib.Path]:
    prefix = {"train": "train", "test": "t10k"}.get(split)
    if prefix is None:
        raise ConfigError(f"MNIST-family datasets have splits 'train' and 'test', not '{split}'")
    img = _find(directory, f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-images-idx3-ubyte")
    lab = _find(directory, f"{prefix}-labels-idx1-ubyte.gz", f"{prefix}-labels-idx1-ubyte")
    if img is None or lab is None:
        raise MissingFileError(f"{prefix}-images/labels IDX files not in {directory}")
    return [img, lab]


def _load_idx_dataset(directory: pathlib.Path, split: str) -> Dataset:
    img, lab = _idx_paths(directory, split)
    images, labels = read_idx(img), read_idx(lab)
    if len(images) != len(labels):
        raise BadFileError(f"{img} has {len(images)} images but {lab} has {len(labels)} labels")
    return {"image": images[..., None].astype(np.uint8), "label": labels.astype(np.int32)}


def _svhn_paths(directory: pathlib.Path, split: str) -> list[pathlib.Path]:
    if split not in ("train", "test", "extra"):
        raise ConfigError(f"svhn_cropped has splits train, test and extra, not '{split}'")
    path = _find(directory, f"{split}_32x32.mat")
    if path is None:
        raise MissingFileError(f"{split}_32x32.mat not in {directory}")
    return [path]


def _load_svhn(directory: pathlib.Path, split: str) -> Dataset:
    import scipy.io

    mat = scipy.io.loadmat(_svhn_paths(directory, split)[0])
    images = np.transpose(mat["X"], (3, 0, 1, 2)).astype(np.uint8)  # [32, 32, 3, N] -> NHWC
    labels = mat["y"].reshape(-1).astype(np.int32) % 10  # The .mat files label digit 0 as 10.
    return {"image": images, "label": labels}


def _unpickle_cifar(fileobj) -> tuple[np.ndarray, np.ndarray]:
    d = pickle.load(fileobj, encoding="bytes")
    images = np.asarray(d[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, np.asarray(d[b"labels"], np.int32)


_CIFAR_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


def _cifar_paths(directory: pathlib.Path, split: str) -> list[pathlib.Path]:
    """The extracted batch files of the split, or [the tarball]."""
    names = _CIFAR_BATCHES.get(split)
    if names is None:
        raise ConfigError(f"cifar10 has splits 'train' and 'test', not '{split}'")
    folder = _find(directory, "cifar-10-batches-py") or directory
    if all((folder / n).exists() for n in names):
        return [folder / n for n in names]
    if (tarball := _find(directory, "cifar-10-python.tar.gz")) is not None:
        return [tarball]
    raise MissingFileError(f"CIFAR-10 batches ({', '.join(names)}) not in {directory}")


def _load_cifar10(directory: pathlib.Path, split: str) -> Dataset:
    paths = _cifar_paths(directory, split)
    parts = []
    if paths[0].name.endswith(".tar.gz"):
        with tarfile.open(paths[0]) as tar:
            for n in _CIFAR_BATCHES[split]:
                parts.append(_unpickle_cifar(tar.extractfile(f"cifar-10-batches-py/{n}")))
    else:
        for path in paths:
            with open(path, "rb") as f:
                parts.append(_unpickle_cifar(f))
    return {
        "image": np.concatenate([p[0] for p in parts]),
        "label": np.concatenate([p[1] for p in parts]),
    }


def _stat_line(path: pathlib.Path) -> str:
    st = path.stat()
    return f"{path.name} {st.st_size} {st.st_mtime_ns}"


_LOCAL_READERS = {
    "mnist": _load_idx_dataset,
    "fashion_mnist": _load_idx_dataset,
    "svhn_cropped": _load_svhn,
    "cifar10": _load_cifar10,
}
_LOCAL_FILES = {
    "mnist": _idx_paths,
    "fashion_mnist": _idx_paths,
    "svhn_cropped": _svhn_paths,
    "cifar10": _cifar_paths,
}


def _has_local_files(name: str, directory: pathlib.Path) -> bool:
    markers = {
        "mnist": [
            "train-images-idx3-ubyte.gz",
            "train-images-idx3-ubyte",
            "t10k-images-idx3-ubyte.gz",
        ],
        "fashion_mnist": [
            "train-images-idx3-ubyte.gz",
            "train-images-idx3-ubyte",
            "t10k-images-idx3-ubyte.gz",
        ],
        "svhn_cropped": ["train_32x32.mat", "test_32x32.mat"],
        "cifar10": ["cifar-10-batches-py", "cifar-10-python.tar.gz", "data_batch_1", "test_batch"],
        "celeb_a": ["list_attr_celeba.txt"],
    }[name]
    return directory.is_dir() and any((directory / m).exists() for m in markers)


# ---------------------------------------------------------------------------------------------
# tfds.


def _load_tfds(name: str, split: str, data_dir: str | None) -> Dataset | None:
    """Reads a prepared tfds dataset into numpy; None when it has not been prepared.

    array_record-prepared datasets are read as tfds data sources (no TensorFlow needed);
    tfrecord-prepared ones through tf.data, which needs TensorFlow.
    """
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=data_dir or None)
    try:
        source = builder.as_data_source(split=split)
    except NotImplementedError:  # No random-access copy: none at all, or a tfrecord one.
        source = None
    if source is None:
        if not builder.is_prepared():
            return None
        try:
            import tensorflow  # noqa: F401
        except ImportError as e:
            raise DatasetNotFoundError(
                f"The tfds copy of '{name}' in {builder.data_dir} is in tfrecord format, which "
                "needs TensorFlow: pip install tensorflow, or prepare it with "
                "file_format='array_record', "
                "or point config.data.manual_dir at the original files."
            ) from e
        data = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
    else:
        examples = [source[i] for i in range(len(source))]
        data = {
            k: np.stack([np.asarray(e[k]) for e in examples])
            for k in examples[0]
            if k != "attributes"
        }
        if "attributes" in examples[0]:
            data["attributes"] = {
                a: np.asarray([e["attributes"][a] for e in examples])
                for a in examples[0]["attributes"]
            }
    out = {"image": np.asarray(data["image"], np.uint8)}
    if "label" in data:
        out["label"] = np.asarray(data["label"], np.int32)
    if "attributes" in data:
        attr_names = sorted(data["attributes"])
        out["attributes"] = np.stack(
            [np.asarray(data["attributes"][a]) for a in attr_names], -1
        ).astype(np.int8)
        out["attribute_names"] = np.asarray(attr_names)
        out["label"] = np.asarray(data["attributes"]["Male"], np.int32)
    return out


# ---------------------------------------------------------------------------------------------
# Entry points.


def _check_name(name: str) -> None:
    if name not in DATASETS:
        raise ConfigError(
            f"Unknown dataset '{name}'; choose one of {DATASETS} or 'synthetic' (with manual_dir)"
        )


def local_directory(name: str, manual_dir: str | None = None) -> pathlib.Path | None:
    """The folder `load_split` reads `name`'s original files from; None where it uses tfds.

    Raises:
      DatasetNotFoundError: `manual_dir` is given but is not a directory.
    """
    _check_name(name)
    if not manual_dir:
        return next((d for d in default_dirs(name) if _has_local_files(name, d)), None)
    directory = pathlib.Path(manual_dir).expanduser()
    if not directory.is_dir():
        raise DatasetNotFoundError(
            f"config.data.manual_dir={manual_dir!r} is not a directory. Put "
            f"{_DOWNLOAD_HINTS[name]} "
            f"there, or point config.data.manual_dir at the folder that holds them."
        )
    return directory


@contextlib.contextmanager
def _missing_files_explained(name: str, split: str, directory: pathlib.Path):
    try:
        yield
    except FileNotFoundError as e:
        raise DatasetNotFoundError(
            f"Dataset '{name}' split '{split}': {e}. Put {_DOWNLOAD_HINTS[name]} in "
            f"{directory} "
            "(or set config.data.manual_dir to the folder that holds them)."
        ) from e


def load_split(
    name: str,
    split: str,
    *,
    manual_dir: str | None = None,
    tfds_data_dir: str | None = None,
    image_size: int | None = None,
    max_examples: int | None = None,
    cache_dir: str = "~/.cache/ganjax",
) -> Dataset:
    """Loads one split of a dataset as uint8 NHWC images and int32 labels.

    Args:
      name: one of DATASETS, or "synthetic" (a folder experiments.synthesize wrote, in
        `manual_dir`).
      split: "train" or "test" (CelebA also "validation").
      manual_dir: folder with the original files; searched in default_dirs(name) when empty.
      tfds_data_dir: tfds data_dir to read a prepared copy from when no local files exist.
      image_size: CelebA only: output side after the 108-pixel center crop (28, 32, 64...).
      max_examples: keep only the first N examples (quick runs).
      cache_dir: where decoded CelebA arrays are cached (keyed by the files' identity).

    Raises:
      DatasetNotFoundError: with what to download and where to put it.
    """
    if name == "synthetic":  # A generated labeled set (ganjax/data/synthetic.py).
        from ganjax.data.synthetic import load_synthetic

        data = load_synthetic(manual_dir, split)
        return {k: v[:max_examples] for k, v in data.items()} if max_examples else data
    directory = local_directory(name, manual_dir)
    if directory is not None:
        logging.info("Reading %s/%s from local files in %s", name, split, directory)
        with _missing_files_explained(name, split, directory):
            if name == "celeb_a":
                data = celeba.load(directory, split, image_size or 64, max_examples, cache_dir)
            else:
                data = _LOCAL_READERS[name](directory, split)
    else:
        data = _load_tfds(name, split, tfds_data_dir)
        if data is None:
            looked = ", ".join(str(d) for d in default_dirs(name))
            raise DatasetNotFoundError(
                f"Dataset '{name}' not found: no local files in [{looked}] and no prepared "
                "tfds copy. "
                f"Download {_DOWNLOAD_HINTS[name]}, put them in one of those folders, or pass "
                f"--config.data.manual_dir=/path/to/folder."
            )
        if name == "celeb_a":
            data["image"] = np.stack(
                [celeba.preprocess(im, image_size or 64) for im in data["image"]]
            )
    if max_examples:
        data = {k: (v[:max_examples] if k != "attribute_names" else v) for k, v in data.items()}
    return data


def source_fingerprint(
    name: str,
    split: str,
    *,
    manual_dir: str | None = None,
    tfds_data_dir: str | None = None,
    image_size: int | None = None,
    max_examples: int | None = None,
) -> str:
    """Short hex identity of what `load_split` with these arguments reads; decodes nothing.

    Original files: their names, sizes and mtime_ns (CelebA: the kept images' zip CRC32 and size
    or, in a folder, size and mtime_ns; the text files' size and mtime_ns; crop and output size).
    tfds: the builder's name, version and data_dir. A synthetic folder: its files' names, sizes
    and mtime_ns. The split and `max_examples` are part of it.

    Raises:
      DatasetNotFoundError: where `load_split` would raise it for missing local files.
    """
    parts = [f"{name} {split} max={max_examples or ''}"]
    if name == "synthetic":  # Its loader names a missing folder; here it is just "none".
        folder = pathlib.Path(manual_dir).expanduser() if manual_dir else None
        files = sorted(folder.iterdir()) if folder and folder.is_dir() else []
        parts += [_stat_line(p) for p in files if p.is_file()] or ["none"]
    elif (directory := local_directory(name, manual_dir)) is None:
        import tensorflow_datasets as tfds

        builder = tfds.builder(name, data_dir=tfds_data_dir or None)
        parts.append(f"tfds {builder.name} {builder.version} {builder.data_dir}")
        parts.append(f"{image_size or 64}px" if name == "celeb_a" else "")
    else:
        with _missing_files_explained(name, split, directory):
            if name == "celeb_a":
                selection = celeba.select_split(directory, split, image_size or 64, max_examples)
                parts.append(selection.identity)
            else:
                parts += [_stat_line(p) for p in _LOCAL_FILES[name](directory, split)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _config_kwargs(data_config) -> dict:
    d = data_config
    return {
        "manual_dir": d.manual_dir or None,
        "tfds_data_dir": d.tfds_data_dir or None,
        "image_size": d.get("image_size") or None,
    }


def load_config_split(data_config, split: str, max_examples: int | None = None) -> Dataset:
    """`load_split` of a run's `config.data` (name, folders, image size, cache)."""
    return load_split(
        data_config.name,
        split,
        max_examples=max_examples or None,
        cache_dir=data_config.cache_dir,
        **_config_kwargs(data_config),
    )


def config_source_fingerprint(data_config, split: str, max_examples: int | None = None) -> str:
    """`source_fingerprint` of what `load_config_split` with the same arguments reads."""
    return source_fingerprint(
        data_config.name, split, max_examples=max_examples or None, **_config_kwargs(data_config)
    )
