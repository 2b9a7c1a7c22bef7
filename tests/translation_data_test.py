"""Translation datasets (pix2pix / CycleGAN layouts and archives), jitter, Fashion-MNIST tasks.

Fixtures are written in the authors' formats: side-by-side JPEGs in <name>/{train,test}/,
CycleGAN <name>/{trainA,trainB,testA,testB}/, and the same packed as .tar.gz / .tgz / .tar /
.zip archives with the <name>/ folder inside.
"""

import io
import pathlib
import tarfile
import zipfile

import numpy as np
import pytest
import scipy.ndimage
from PIL import Image

from ganjax.data import DatasetNotFoundError, jitter, load_split, translation
from ganjax.data import fashion_translation as ft
from tests import fixtures, real_data

S = 16  # Half width and height of the aligned fixtures; a multiple of the JPEG MCU (16).
# Per-image constant colors: A (left half) and B (right half) differ for every image.
PAIR_COLORS = {
    "1.jpg": ((200, 30, 30), (30, 30, 200)),
    "10.jpg": ((30, 200, 30), (220, 220, 40)),
    "2.jpg": ((240, 240, 240), (20, 20, 20)),
}
TEST_COLORS = {"a.png": ((10, 120, 250), (250, 120, 10)), "b.jpg": ((128, 0, 128), (0, 128, 0))}
JPEG_TOLERANCE = 6  # JPEG rounding of constant blocks (YCbCr round trip).


def _side_by_side(a: tuple, b: tuple) -> Image.Image:
    image = np.zeros((S, 2 * S, 3), np.uint8)
    image[:, :S], image[:, S:] = a, b
    return Image.fromarray(image)


def _save(image: Image.Image, path: pathlib.Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jpg":  # 4:4:4 chroma: no color bleeding across the A|B seam.
        image.save(path, quality=95, subsampling=0)
    else:
        image.save(path)


def _make_pix2pix(root: pathlib.Path, name: str = "facades") -> pathlib.Path:
    for split, colors in (("train", PAIR_COLORS), ("test", TEST_COLORS)):
        for fname, (a, b) in colors.items():
            _save(_side_by_side(a, b), root / name / split / fname)
    return root


CYCLE_FILES = {  # subdir -> [(file, color, (width, height), mode)]
    "trainA": [
        ("n1.jpg", (220, 40, 40), (20, 20), "RGB"),
        ("n0.png", (200, 60, 60), (24, 16), "RGB"),
    ],
    "trainB": [("z0.jpg", (40, 40, 220), (16, 16), "RGB"), ("z1.jpg", (90, 90, 90), (16, 16), "L")],
    "testA": [("t0.jpg", (250, 250, 0), (32, 32), "RGB")],
    "testB": [("u0.png", (0, 250, 250), (16, 16), "RGB"), ("u1.png", (0, 0, 0), (16, 16), "RGB")],
}


def _make_cyclegan(root: pathlib.Path, name: str = "horse2zebra") -> pathlib.Path:
    for subdir, files in CYCLE_FILES.items():
        for fname, color, size, mode in files:
            image = Image.new("RGB", size, color).convert(mode)
            _save(image, root / name / subdir / fname)
    return root


def _pack(root: pathlib.Path, name: str, suffix: str, out_dir: pathlib.Path) -> pathlib.Path:
    """Packs root/name/ into out_dir/name<suffix> with the name/ folder inside, plus macOS junk."""
    out_dir.mkdir(parents=True, exist_ok=True)
    archive = out_dir / f"{name}{suffix}"
    files = sorted(p for p in (root / name).rglob("*") if p.is_file())
    junk = f"__MACOSX/{name}/train/._1.jpg"
    if suffix == ".zip":
        with zipfile.ZipFile(archive, "w") as z:
            z.writestr(junk, b"not an image")
            for p in files:
                z.write(p, p.relative_to(root).as_posix())
    else:
        mode = {".tar.gz": "w:gz", ".tgz": "w:gz", ".tar": "w"}[suffix]
        with tarfile.open(archive, mode) as tar:
            info = tarfile.TarInfo(junk)
            info.size = 12
            tar.addfile(info, io.BytesIO(b"not an image"))
            for p in reversed(files):  # Member order must not matter.
                tar.add(p, p.relative_to(root).as_posix())
    return archive


def _assert_color(images: np.ndarray, colors: list, tol: int = JPEG_TOLERANCE) -> None:
    assert len(images) == len(colors)
    for image, color in zip(images, colors):
        diff = np.abs(image.astype(int) - np.asarray(color)[None, None, :])
        assert diff.max() <= tol, (color, image.reshape(-1, image.shape[-1])[:2])


# ---------------------------------------------------------------------------------------------
# pix2pix (aligned).


def test_paired_folder_halves_direction_and_order(tmp_path):
    root = _make_pix2pix(tmp_path)
    data = translation.load_paired("facades", "train", root=str(root), load_size=8)
    assert set(data) == {"input", "target"}
    assert data["input"].shape == (3, 8, 8, 3) and data["input"].dtype == np.uint8
    names = sorted(PAIR_COLORS)  # "1.jpg", "10.jpg", "2.jpg": the authors' sorted() order.
    _assert_color(data["input"], [PAIR_COLORS[n][0] for n in names])  # AtoB: input = left.
    _assert_color(data["target"], [PAIR_COLORS[n][1] for n in names])
    flipped = translation.load_paired(
        "facades", "train", root=str(root), load_size=8, direction="BtoA"
    )
    np.testing.assert_array_equal(flipped["input"], data["target"])
    np.testing.assert_array_equal(flipped["target"], data["input"])
    test = translation.load_paired("facades", "test", root=str(root / "facades"), load_size=S)
    assert test["input"].shape == (2, S, S, 3)  # root may be the dataset folder (--dataroot).
    _assert_color(test["input"], [TEST_COLORS[n][0] for n in sorted(TEST_COLORS)])
    gray = translation.load_paired("facades", "train", root=str(root), grayscale=True)
    assert gray["input"].shape == (3, 256, 256, 1)
    small = translation.load_paired("facades", "train", root=str(root), max_examples=2)
    assert len(small["input"]) == 2


def test_split_aligned_odd_width():
    image = Image.fromarray(np.arange(7, dtype=np.uint8)[None, :].repeat(2, 0))
    a, b = translation.split_aligned(image)
    np.testing.assert_array_equal(np.asarray(a)[0], [0, 1, 2])
    np.testing.assert_array_equal(np.asarray(b)[0], [3, 4, 5, 6])


@pytest.mark.parametrize("suffix", [".tar.gz", ".tgz", ".tar", ".zip"])
def test_paired_archive_equals_folder(tmp_path, suffix):
    root = _make_pix2pix(tmp_path / "folder")
    archive = _pack(root, "facades", suffix, tmp_path / "archives")
    for split in ("train", "test"):
        for direction in ("AtoB", "BtoA"):
            want = translation.load_paired(
                "facades", split, root=str(root), load_size=12, direction=direction
            )
            got = translation.load_paired(
                "facades", split, root=str(archive.parent), load_size=12, direction=direction
            )
            for key in ("input", "target"):
                np.testing.assert_array_equal(got[key], want[key])
    assert sorted(p.name for p in archive.parent.iterdir()) == [archive.name]  # Not extracted.


def test_paired_missing_dataset_and_split(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # ./datasets is one of the default roots.
    monkeypatch.setenv("GANJAX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # Not the real facades set up in ~.
    with pytest.raises(DatasetNotFoundError) as info:
        translation.load_paired("facades", "train")
    message = str(info.value)
    assert isinstance(info.value, translation.TranslationDatasetNotFoundError)
    assert "<root>/facades/train/*.jpg" in message and "facades.tar.gz" in message
    assert str(tmp_path / "data" / "pix2pix") in message  # The folders searched.
    assert "download_pix2pix_dataset.sh facades" in message
    assert "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/facades.tar.gz" in message
    # Found in the default roots once there.
    _make_pix2pix(tmp_path / "data" / "pix2pix")
    assert translation.load_paired("facades", "train", load_size=4)["input"].shape[0] == 3
    with pytest.raises(DatasetNotFoundError, match=r"no 'val' split.*\['test', 'train'\]"):
        translation.load_paired("facades", "val")
    archive = _pack(tmp_path / "data" / "pix2pix", "facades", ".zip", tmp_path / "z")
    with pytest.raises(DatasetNotFoundError, match=r"split folders: \['test', 'train'\]"):
        translation.load_paired("facades", "val", root=str(archive.parent))
    with pytest.raises(ValueError, match="direction"):
        translation.load_paired("facades", "train", direction="AB")
    with pytest.raises(DatasetNotFoundError, match="prepare_cityscapes_dataset.py"):
        translation.load_paired("cityscapes", "train")  # Not redistributed: says how to build.


# ---------------------------------------------------------------------------------------------
# CycleGAN (unaligned).


def test_unpaired_folder(tmp_path):
    root = _make_cyclegan(tmp_path)
    train = translation.load_unpaired("horse2zebra", "train", root=str(root), load_size=10)
    assert train["a"].shape == (2, 10, 10, 3) and train["b"].shape == (2, 10, 10, 3)
    order = {s: sorted(CYCLE_FILES[s]) for s in CYCLE_FILES}  # Sorted by file name.
    _assert_color(train["a"], [c for _, c, _, _ in order["trainA"]])
    gray = round(0.299 * 90 + 0.587 * 90 + 0.114 * 90)  # The "L" image comes back as RGB.
    _assert_color(train["b"], [(40, 40, 220), (gray, gray, gray)])
    test = translation.load_unpaired("horse2zebra", "test", root=str(root), load_size=10)
    assert len(test["a"]) == 1 and len(test["b"]) == 2
    _assert_color(test["b"], [c for _, c, _, _ in order["testB"]], tol=0)  # PNG: exact.
    one = translation.load_unpaired(
        "horse2zebra", "train", root=str(root), grayscale=True, max_examples=1, load_size=6
    )
    assert one["a"].shape == (1, 6, 6, 1) and one["b"].shape == (1, 6, 6, 1)


@pytest.mark.parametrize("suffix", [".zip", ".tar.gz"])
def test_unpaired_archive_equals_folder(tmp_path, suffix):
    root = _make_cyclegan(tmp_path / "folder")
    archive = _pack(root, "horse2zebra", suffix, tmp_path / "archives")
    for split in ("train", "test"):
        want = translation.load_unpaired("horse2zebra", split, root=str(root), load_size=9)
        got = translation.load_unpaired("horse2zebra", split, root=str(archive.parent), load_size=9)
        for key in ("a", "b"):
            np.testing.assert_array_equal(got[key], want[key])


def test_unpaired_missing_dataset_names_layout_and_download(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetNotFoundError) as info:
        translation.load_unpaired(
            "horse2zebra", "train", root=str(empty), tfds_data_dir=str(tmp_path / "tfds")
        )
    message = str(info.value)
    assert "<root>/horse2zebra/trainA/*.jpg" in message and "horse2zebra.zip" in message
    assert str(empty) in message
    assert "download_cyclegan_dataset.sh horse2zebra" in message
    assert "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/horse2zebra.zip" in message
    assert "cycle_gan/horse2zebra" in message  # tfds was tried too.
    (empty / "horse2zebra" / "trainA").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match=r"no 'train' split.*\['trainA'\]"):
        translation.load_unpaired("horse2zebra", "train", root=str(empty), use_tfds=False)
    with pytest.raises(ValueError, match="splits"):
        translation.load_unpaired("horse2zebra", "val", root=str(empty))


def test_unpaired_tfds_bug_propagates_and_unknown_names_skip_tfds(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    def broken(name, data_dir=None):
        raise RuntimeError("a bug inside the loader")

    monkeypatch.setattr(tfds, "builder", broken)
    # Not one of tfds's cycle_gan datasets: tfds is not asked, so nothing can fail there.
    assert translation._load_tfds_cycle_gan("my_pairs", "train", None, 8, False, None) is None
    with pytest.raises(DatasetNotFoundError):
        translation.load_unpaired("my_pairs", "train", root=str(tmp_path))
    # One of them: a failure inside the loader is not "not found".
    with pytest.raises(RuntimeError, match="a bug inside the loader"):
        translation.load_unpaired("horse2zebra", "train", root=str(tmp_path))


def test_unpaired_reads_prepared_tfds_when_no_files(tmp_path, monkeypatch):
    """The tfds branch's glue (split names, A/B, resize) on a stand-in for a prepared copy."""
    import tensorflow_datasets as tfds

    from ganjax.data import sources

    class Prepared:
        data_dir = str(tmp_path / "tfds")

        def is_prepared(self) -> bool:
            return True

    requested = []
    stored = {"trainA": _random_batch(3, 16, 3, 5), "trainB": _random_batch(2, 16, 3, 6)}

    def fake_load_tfds(name, split, data_dir):
        requested.append((name, split, data_dir))
        return {"image": stored[split], "label": np.zeros(len(stored[split]), np.int32)}

    monkeypatch.setattr(tfds, "builder", lambda name, data_dir=None: Prepared())
    monkeypatch.setattr(sources, "_load_tfds", fake_load_tfds)
    data = translation.load_unpaired(
        "horse2zebra", "train", root=str(tmp_path), tfds_data_dir="/x", load_size=8
    )
    assert requested == [
        ("cycle_gan/horse2zebra", "trainA", "/x"),
        ("cycle_gan/horse2zebra", "trainB", "/x"),
    ]
    np.testing.assert_array_equal(data["a"], jitter.resize_batch(stored["trainA"], 8))
    np.testing.assert_array_equal(data["b"], jitter.resize_batch(stored["trainB"], 8))
    one = translation.load_unpaired("horse2zebra", "train", root=str(tmp_path), max_examples=1)
    assert one["a"].shape == (1, 256, 256, 3) and one["b"].shape == (1, 256, 256, 3)


def test_unreadable_image_is_named(tmp_path):
    root = _make_cyclegan(tmp_path)
    bad = root / "horse2zebra" / "trainB" / "z2.jpg"
    bad.write_bytes(b"truncated download")
    with pytest.raises(ValueError, match="z2.jpg"):
        translation.load_unpaired("horse2zebra", "train", root=str(root))
    archive = _pack(root, "horse2zebra", ".zip", tmp_path / "zips")
    with pytest.raises(ValueError, match=r"horse2zebra.zip:trainB/z2.jpg"):
        translation.load_unpaired("horse2zebra", "train", root=str(archive.parent))


# ---------------------------------------------------------------------------------------------
# Jitter.


def _random_batch(b: int, size: int, c: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (b, size, size, c), dtype=np.uint8)


def test_jitter_is_deterministic_and_matches_its_params():
    x = _random_batch(16, 12, 3, 0)
    out1 = jitter.jitter_batch([x], seed=3, step=5, load_size=12, crop_size=8, flip=True)
    out2 = jitter.jitter_batch([x], seed=3, step=5, load_size=12, crop_size=8, flip=True)
    assert out1[0].shape == (16, 8, 8, 3) and out1[0].dtype == np.uint8
    np.testing.assert_array_equal(out1[0], out2[0])
    other = jitter.jitter_batch([x], seed=3, step=6, load_size=12, crop_size=8, flip=True)
    assert not np.array_equal(other[0], out1[0])  # A new draw each step.
    top, left, flipped = jitter.jitter_params(3, 5, np.arange(16), 12, 8, True)
    assert 0 < flipped.sum() < 16  # Some examples are mirrored, some are not.
    assert top.min() >= 0 and top.max() <= 4 and len(set(top.tolist())) > 1
    for i in range(16):
        crop = x[i, top[i] : top[i] + 8, left[i] : left[i] + 8]
        np.testing.assert_array_equal(out1[0][i], crop[:, ::-1] if flipped[i] else crop)
    j = int(np.flatnonzero(flipped)[0])  # A mirrored example really differs from the crop.
    assert not np.array_equal(out1[0][j], x[j, top[j] : top[j] + 8, left[j] : left[j] + 8])
    # Draws depend on the example's index, not on its position in this batch.
    tail = jitter.jitter_batch([x[10:]], 3, 5, 12, 8, True, indices=np.arange(10, 16))
    np.testing.assert_array_equal(tail[0], out1[0][10:])


def test_jitter_same_crop_and_flip_for_input_and_target():
    x = _random_batch(12, 10, 1, 1)
    target = np.repeat(255 - x, 3, axis=-1)  # [B, H, W, 3], a pixelwise function of x.
    got_x, got_t = jitter.jitter_batch([x, target], 0, 7, load_size=10, crop_size=6, flip=True)
    np.testing.assert_array_equal(got_t, np.repeat(255 - got_x, 3, axis=-1))
    with pytest.raises(ValueError, match="batch sizes"):
        jitter.jitter_batch([x, target[:3]], 0, 7, 10, 6, True)
    with pytest.raises(ValueError, match="crop_size"):
        jitter.jitter_batch([x], 0, 7, load_size=10, crop_size=11, flip=True)


def test_jitter_identity_and_resize_paths():
    x = _random_batch(5, 8, 3, 2)
    (same,) = jitter.jitter_batch([x], 1, 2, load_size=8, crop_size=8, flip=False)
    np.testing.assert_array_equal(same, x)
    resized = jitter.resize_batch(x, 12)
    want = np.stack(
        [np.asarray(Image.fromarray(im).resize((12, 12), Image.Resampling.BICUBIC)) for im in x]
    )
    np.testing.assert_array_equal(resized, want)
    (crops,) = jitter.jitter_batch([x], 1, 2, load_size=12, crop_size=10, flip=True)
    top, left, flipped = jitter.jitter_params(1, 2, np.arange(5), 12, 10, True)
    for i in range(5):
        crop = want[i, top[i] : top[i] + 10, left[i] : left[i] + 10]
        np.testing.assert_array_equal(crops[i], crop[:, ::-1] if flipped[i] else crop)
    gray = jitter.resize_batch(x[..., :1], 6)
    assert gray.shape == (5, 6, 6, 1)


# ---------------------------------------------------------------------------------------------
# Edge detector.


def _scipy_magnitude(image: np.ndarray, sigma: float) -> np.ndarray:
    x = image.astype(np.float64) / 255.0
    if sigma > 0:
        x = scipy.ndimage.gaussian_filter(x, sigma, mode="reflect", truncate=4.0)
    return np.hypot(scipy.ndimage.sobel(x, axis=1), scipy.ndimage.sobel(x, axis=0))


@pytest.mark.parametrize("sigma", [0.0, 0.7, 1.0, 2.0])
@pytest.mark.parametrize("shape", [(28, 28), (3, 5), (17, 9)])
def test_edges_match_scipy(sigma, shape):
    images = np.random.default_rng(len(shape) + shape[0]).integers(
        0, 256, (4, *shape, 1), dtype=np.uint8
    )
    images[1] = 77  # A constant image has no edges.
    magnitude = ft.edge_magnitude(images, sigma)
    want = np.stack([_scipy_magnitude(im[..., 0], sigma) for im in images])
    np.testing.assert_allclose(magnitude, want, rtol=1e-10, atol=1e-12)
    edges = ft.edge_map(images, sigma, threshold=0.25)
    peak = want.max(axis=(1, 2), keepdims=True)
    ref = np.where((want > 0.25 * peak) & (peak > 0), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(edges[..., 0], ref)
    assert (edges[1] == 255).all()


def test_edges_hand_computed():
    step = np.zeros((1, 4, 4, 1), np.uint8)
    step[..., 2:, 0] = 255  # Columns 0-1 black, 2-3 white.
    m = ft.edge_magnitude(step, sigma=0)[0]
    # Column 1: -x[0] + x[2] = 1, summed over rows with [1, 2, 1] -> 4; columns 0 and 3 see a
    # reflected neighbour equal to themselves -> 0.
    np.testing.assert_allclose(m, np.tile([0.0, 4.0, 4.0, 0.0], (4, 1)))
    square = np.zeros((1, 16, 16, 1), np.uint8)
    square[0, 4:12, 4:12] = 200
    edges = ft.edge_map(square)[0, ..., 0]
    assert set(np.unique(edges)) == {0, 255}
    assert edges[8, 4] == 0 and edges[4, 8] == 0  # The square's outline is black ...
    assert edges[8, 8] == 255 and edges[0, 0] == 255  # ... its inside and the border white.


# ---------------------------------------------------------------------------------------------
# Fashion-MNIST tasks.


@pytest.fixture(scope="module")
def fashion_dir(tmp_path_factory) -> pathlib.Path:
    return fixtures.make_mnist(tmp_path_factory.mktemp("fashion"), n_train=100, n_test=40)


def test_fashion_edges_pairs(fashion_dir):
    source = load_split("fashion_mnist", "train", manual_dir=str(fashion_dir))
    data = ft.load_fashion_edges("train", manual_dir=str(fashion_dir))
    assert data["input"].shape == data["target"].shape == (100, 28, 28, 1)
    np.testing.assert_array_equal(data["target"], source["image"])  # Pairs keep their order.
    np.testing.assert_array_equal(data["input"], ft.edge_map(source["image"]))
    np.testing.assert_array_equal(data["label"], np.arange(100) % 10)
    flipped = ft.load_fashion_edges("test", manual_dir=str(fashion_dir), direction="BtoA")
    test = load_split("fashion_mnist", "test", manual_dir=str(fashion_dir))
    np.testing.assert_array_equal(flipped["input"], test["image"])
    np.testing.assert_array_equal(flipped["target"], ft.edge_map(test["image"]))
    big = ft.load_fashion_edges("test", manual_dir=str(fashion_dir), load_size=32, max_examples=7)
    assert big["input"].shape == (7, 32, 32, 1)
    assert set(np.unique(big["input"])) == {0, 255}  # Edges are computed after the resize.
    np.testing.assert_array_equal(big["target"], jitter.resize_batch(test["image"][:7], 32))


def test_fashion_classes_selection(fashion_dir):
    source = load_split("fashion_mnist", "train", manual_dir=str(fashion_dir))
    data = ft.load_fashion_classes("train", manual_dir=str(fashion_dir))
    assert set(data) == {"a", "b"}
    np.testing.assert_array_equal(data["a"], source["image"][source["label"] == 7])
    np.testing.assert_array_equal(data["b"], source["image"][source["label"] == 9])
    assert len(data["a"]) == len(data["b"]) == 10  # Labels 0..9 cycle over 100 images.
    custom = ft.load_fashion_classes(
        "test", class_a=0, class_b=3, manual_dir=str(fashion_dir), load_size=16, max_examples=2
    )
    test = load_split("fashion_mnist", "test", manual_dir=str(fashion_dir))
    assert custom["a"].shape == (2, 16, 16, 1)
    np.testing.assert_array_equal(
        custom["b"], jitter.resize_batch(test["image"][test["label"] == 3][:2], 16)
    )
    with pytest.raises(ValueError, match="differ"):
        ft.load_fashion_classes("train", class_a=7, class_b=7, manual_dir=str(fashion_dir))
    with pytest.raises(ValueError, match="0..9"):
        ft.load_fashion_classes("train", class_b=10, manual_dir=str(fashion_dir))


def test_real_fashion_mnist_tasks():
    d = real_data.require("fashion_mnist")  # Under CI a missing package fails, never skips.
    classes = ft.load_fashion_classes("test", manual_dir=str(d))
    assert len(classes["a"]) == len(classes["b"]) == 1000
    edges = ft.load_fashion_edges("test", manual_dir=str(d), max_examples=500)
    edge_fraction = (edges["input"] == 0).mean()
    assert 0.05 < edge_fraction < 0.5, edge_fraction  # Outlines, not blank or solid maps.
