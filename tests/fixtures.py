"""Writes tiny datasets in the real original formats (IDX .gz, .mat, CIFAR pickles, CelebA)."""

from __future__ import annotations

import gzip
import io
import pathlib
import pickle
import struct
import tarfile

import numpy as np


def _pattern_images(n: int, h: int, w: int, c: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class-dependent images (a bright bar whose position encodes the label) plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    images = rng.integers(0, 60, size=(n, h, w, c), dtype=np.uint8)
    for i, y in enumerate(labels):
        row = (y * h) // 10
        images[i, row : row + max(h // 10, 1)] = 255
    return images, labels.astype(np.uint8)


def write_idx(path: pathlib.Path, array: np.ndarray, compress: bool = True) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    data = header + np.ascontiguousarray(array, np.uint8).tobytes()
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def make_mnist(
    directory: pathlib.Path, n_train: int = 256, n_test: int = 64, compress: bool = True
) -> pathlib.Path:
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if compress else ""
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = _pattern_images(n, 28, 28, 1, seed)
        write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", images[..., 0], compress)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", labels, compress)
    return directory


def make_svhn(directory: pathlib.Path, n_train: int = 64, n_test: int = 32) -> pathlib.Path:
    import scipy.io

    directory.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", n_train, 2), ("test", n_test, 3)):
        images, labels = _pattern_images(n, 32, 32, 3, seed)
        y = np.where(labels == 0, 10, labels).reshape(-1, 1)  # SVHN's .mat labels 0 as 10.
        scipy.io.savemat(
            directory / f"{split}_32x32.mat", {"X": images.transpose(1, 2, 3, 0), "y": y}
        )
    return directory


def make_cifar10(
    directory: pathlib.Path, per_batch: int = 20, as_tarball: bool = False
) -> pathlib.Path:
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        images, labels = _pattern_images(per_batch, 32, 32, 3, 10 + i)
        d = {
            b"data": images.transpose(0, 3, 1, 2).reshape(per_batch, -1),
            b"labels": labels.tolist(),
        }
        files[name] = pickle.dumps(d)
    if as_tarball:
        with tarfile.open(directory / "cifar-10-python.tar.gz", "w:gz") as tar:
            for name, blob in files.items():
                info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
                info.size = len(blob)
                tar.addfile(info, io.BytesIO(blob))
    else:
        (directory / "cifar-10-batches-py").mkdir(exist_ok=True)
        for name, blob in files.items():
            (directory / "cifar-10-batches-py" / name).write_bytes(blob)
    return directory


CELEBA_ATTRS = ["5_o_Clock_Shadow", "Male", "Smiling", "Young"]
# The official header of list_attr_celeba.txt.
CELEBA_OFFICIAL_ATTRS = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose "
    "Black_Hair Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee "
    "Gray_Hair Heavy_Makeup High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard "
    "Oval_Face Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair "
    "Wavy_Hair Wearing_Earrings Wearing_Hat Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young"
).split()


def celeba_official_partition(number: int) -> int:
    """The official split of CelebA image NNNNNN: 0 train, 1 validation, 2 test."""
    return 0 if number <= 162770 else (1 if number <= 182637 else 2)


def make_celeba(
    directory: pathlib.Path,
    n: int = 12,
    *,
    numbers: list[int] | None = None,
    attrs: list[str] = CELEBA_ATTRS,
    as_zip: bool = False,
    seed: int = 4,
) -> pathlib.Path:
    """Aligned-CelebA-shaped JPEGs (178 wide, 218 high) with attribute and partition files.

    Images 1..n, the last four in validation (2) and test (2), by default; with `numbers`,
    those official image numbers, partitioned by the official rule. `as_zip` writes them into
    img_align_celeba.zip (members img_align_celeba/NNNNNN.jpg, as the official download) instead
    of an img_align_celeba/ folder. `seed` changes the images' noise. Text files have CRLF line
    ends, as the official ones.
    """
    import zipfile

    from PIL import Image

    official = numbers is not None
    numbers = numbers if official else list(range(1, n + 1))
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    attr_lines = [str(len(numbers)), " ".join(attrs)]
    part_lines, jpegs = [], {}
    for i, number in enumerate(numbers):
        name = f"{number:06d}.jpg"
        image = np.full((218, 178, 3), 40, np.uint8)
        image[55:163, 35:143] = 200  # The central 108x108 face box is bright.
        image += rng.integers(0, 10, image.shape, dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=95)
        jpegs[name] = buffer.getvalue()
        male = 1 if i % 2 else -1
        attr_lines.append(f"{name} -1 {male:2d} 1 -1" + " -1" * (len(attrs) - 4))
        if official:
            part = celeba_official_partition(number)
        else:
            part = 0 if i < n - 4 else (1 if i < n - 2 else 2)
        part_lines.append(f"{name} {part}")
    if as_zip:
        with zipfile.ZipFile(directory / "img_align_celeba.zip", "w") as z:
            z.writestr("img_align_celeba/", b"")
            for name, data in jpegs.items():
                z.writestr(f"img_align_celeba/{name}", data)
    else:
        (directory / "img_align_celeba").mkdir(exist_ok=True)
        for name, data in jpegs.items():
            (directory / "img_align_celeba" / name).write_bytes(data)
    (directory / "list_attr_celeba.txt").write_bytes(("\r\n".join(attr_lines) + "\r\n").encode())
    (directory / "list_eval_partition.txt").write_bytes(("\r\n".join(part_lines) + "\r\n").encode())
    return directory


def run_on_forced_devices(script: str, num_devices: int = 4, timeout: int = 600) -> dict:
    """Runs `script` in a fresh Python with `num_devices` forced CPU devices (XLA_FLAGS must be
    set before JAX starts) from the repository root; returns the JSON of its last stdout line."""
    import json
    import os
    import subprocess
    import sys

    repo = pathlib.Path(__file__).resolve().parents[1]
    env = {
        **os.environ,
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={num_devices}",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": str(repo),
    }
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def train_tiny_by_command(
    config: str, mnist_dir: pathlib.Path, workdir: pathlib.Path, summary: str
) -> pathlib.Path:
    """Trains `configs/<config>:tiny` on the Fashion-MNIST fixture through `experiments.train`
    (its domain classifier from the shared tiny cache) and checks the run's summary line."""
    import subprocess
    import sys

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.train",
            f"--config=configs/{config}:tiny",
            f"--config.data.manual_dir={mnist_dir}",
            f"--config.data.cache_dir={tiny_classifier_cache(mnist_dir)}",
            f"--workdir={workdir}",
        ],
        capture_output=True,
        text=True,
        cwd=pathlib.Path(__file__).resolve().parents[1],
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert summary in proc.stdout, proc.stdout
    return workdir


def classifier_config(dataset: str, data_cfg, arg: str = ""):
    """configs/<stem>_classifier.py[:arg] with the data folders of `data_cfg` (a config.data)."""
    import importlib

    from configs import classifier_common

    module = importlib.import_module(
        f"configs.{classifier_common.CONFIG_STEMS[dataset]}_classifier"
    )
    res = data_cfg.get("image_size") or 0
    c = module.get_config(
        ",".join(filter(None, [arg, f"res={res}" if dataset == "celeb_a" and res else ""])) or None
    )
    for key in ("manual_dir", "tfds_data_dir", "cache_dir"):
        c.data[key] = data_cfg.get(key, c.data[key])
    return c


def train_classifier(dataset: str, data_cfg, arg: str = "") -> pathlib.Path:
    """Trains `classifier:<dataset>` into the cache folder evaluation looks in, unless done:
    what the command of `extractors.train_command` does, as a library call (evaluation never
    trains a classifier by itself)."""
    from ganjax.evaluators import extractors
    from ganjax.training import train

    workdir = extractors.classifier_cache_dir(data_cfg, dataset, arg)
    if not (workdir / "results.json").exists():
        train.train_and_evaluate(classifier_config(dataset, data_cfg, arg), workdir)
    return workdir


_TINY_CACHES: dict[str, pathlib.Path] = {}


def tiny_classifier_cache(mnist_dir: pathlib.Path | str) -> pathlib.Path:
    """A cache folder holding a trained tiny Fashion-MNIST classifier (`classifier:fashion_mnist`).

    The `:tiny` translation configs evaluate with `classifier:fashion_mnist` (classifier_arg
    "tiny"), and evaluation never trains a classifier by itself, so their tests point
    `config.data.cache_dir` here. Trained once per process on the fixture data (as a user runs the
    command the evaluation's error names), in a temporary folder removed when the process ends:
    never the user's ~/.cache.
    """
    import atexit
    import shutil
    import tempfile

    key = str(mnist_dir)
    if key not in _TINY_CACHES:
        from configs import fashion_mnist_classifier

        cache = pathlib.Path(tempfile.mkdtemp(prefix="ganjax-tiny-classifier-"))
        atexit.register(shutil.rmtree, cache, ignore_errors=True)
        data = fashion_mnist_classifier.get_config("tiny").data
        data.manual_dir, data.cache_dir = key, str(cache)
        train_classifier("fashion_mnist", data, "tiny")
        _TINY_CACHES[key] = cache
    return _TINY_CACHES[key]


def uses_dataset_classifier(config) -> bool:
    """Whether a config evaluates with `classifier:<dataset>`, or a transfer head reads its
    features (needs a trained classifier)."""
    specs = (config.eval.get("extractor", "") or "", config.model.get("extractor", "") or "")
    return any(s.startswith("classifier:") and "/" not in s for s in specs)
