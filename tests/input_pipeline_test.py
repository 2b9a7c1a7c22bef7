"""Dataset readers on fixtures in the real formats, missing-data errors, and the iterator."""

import gzip

import numpy as np
import pytest

from ganjax.data import BatchIterator, DatasetNotFoundError, load_split, prefetch, sources
from tests import fixtures, real_data


def test_idx_reader_gz_and_raw(tmp_path):
    for compress in (True, False):
        d = fixtures.make_mnist(tmp_path / str(compress), n_train=30, n_test=10, compress=compress)
        train = load_split("mnist", "train", manual_dir=str(d))
        test = load_split("fashion_mnist", "test", manual_dir=str(d))
        assert train["image"].shape == (30, 28, 28, 1) and train["image"].dtype == np.uint8
        assert test["image"].shape == (10, 28, 28, 1)
        np.testing.assert_array_equal(train["label"], np.arange(30) % 10)
        expected, _ = fixtures._pattern_images(30, 28, 28, 1, 0)
        np.testing.assert_array_equal(train["image"], expected)


def test_idx_reader_rejects_truncated_file(tmp_path):
    d = fixtures.make_mnist(tmp_path, n_train=20, n_test=5)
    path = d / "train-images-idx3-ubyte.gz"
    with gzip.open(path) as f:
        data = f.read()
    with gzip.open(path, "wb") as f:
        f.write(data[:-100])
    with pytest.raises(ValueError, match="truncated"):
        load_split("mnist", "train", manual_dir=str(d))


def test_real_debian_fashion_mnist():
    real_data.require("fashion_mnist")  # Under CI a missing package fails, never skips.
    data = load_split("fashion_mnist", "test")  # Found in the standard place.
    assert data["image"].shape == (10000, 28, 28, 1)
    assert np.bincount(data["label"]).tolist() == [1000] * 10


def test_svhn_mat(tmp_path):
    d = fixtures.make_svhn(tmp_path)
    train = load_split("svhn_cropped", "train", manual_dir=str(d))
    assert train["image"].shape == (64, 32, 32, 3)
    np.testing.assert_array_equal(train["label"], np.arange(64) % 10)  # 10 -> 0
    expected, _ = fixtures._pattern_images(64, 32, 32, 3, 2)
    np.testing.assert_array_equal(train["image"], expected)


@pytest.mark.parametrize("as_tarball", [False, True])
def test_cifar10_batches_and_tarball(tmp_path, as_tarball):
    d = fixtures.make_cifar10(tmp_path, per_batch=20, as_tarball=as_tarball)
    train = load_split("cifar10", "train", manual_dir=str(d))
    test = load_split("cifar10", "test", manual_dir=str(d))
    assert train["image"].shape == (100, 32, 32, 3) and test["image"].shape == (20, 32, 32, 3)
    expected, _ = fixtures._pattern_images(20, 32, 32, 3, 10)
    np.testing.assert_array_equal(train["image"][:20], expected)


def test_celeba_crop_resize_attributes_and_splits(tmp_path):
    d = fixtures.make_celeba(tmp_path / "celeba", n=12)
    train = load_split(
        "celeb_a", "train", manual_dir=str(d), image_size=28, cache_dir=str(tmp_path / "cache")
    )
    assert train["image"].shape == (8, 28, 28, 3)
    # The 108x108 center crop is exactly the bright face box: no dark border survives.
    assert train["image"].min() >= 190
    np.testing.assert_array_equal(train["label"], np.arange(8) % 2)  # "Male"
    assert train["attributes"].shape == (8, 4)
    assert list(train["attribute_names"]) == fixtures.CELEBA_ATTRS
    val = load_split(
        "celeb_a", "validation", manual_dir=str(d), image_size=64, cache_dir=str(tmp_path / "cache")
    )
    assert val["image"].shape == (2, 64, 64, 3)
    assert list((tmp_path / "cache").iterdir())  # Decoded faces are cached.
    again = load_split(
        "celeb_a", "train", manual_dir=str(d), image_size=28, cache_dir=str(tmp_path / "cache")
    )
    np.testing.assert_array_equal(again["image"], train["image"])


def _faces(d, split="train", size=28, cache=None, **kw):
    return load_split(
        "celeb_a", split, manual_dir=str(d), image_size=size, cache_dir=str(cache), **kw
    )


def test_celeba_zip_as_downloaded_reads_like_its_folder(tmp_path):
    """img_align_celeba.zip is read member by member; a subset with the official numbering."""
    numbers = [1, 19, 36, 162770, 162771, 182637, 182638, 202599]
    folder = fixtures.make_celeba(tmp_path / "folder", numbers=numbers)
    zipped = fixtures.make_celeba(tmp_path / "zip", numbers=numbers, as_zip=True)
    assert not (zipped / "img_align_celeba").exists()
    for split, count in (("train", 4), ("validation", 2), ("test", 2)):
        a = _faces(folder, split, cache=tmp_path / "c1")
        b = _faces(zipped, split, cache=tmp_path / "c2")
        assert a["image"].shape == (count, 28, 28, 3) and a["image"].min() >= 190
        np.testing.assert_array_equal(a["image"], b["image"])
        np.testing.assert_array_equal(a["attributes"], b["attributes"])
        np.testing.assert_array_equal(a["label"], b["label"])
    # Found in a standard place by its marker file, without manual_dir.
    with pytest.MonkeyPatch.context() as m:
        m.setattr(sources, "default_dirs", lambda name: [tmp_path / "nothing", zipped])
        again = load_split("celeb_a", "test", image_size=28, cache_dir=str(tmp_path / "c2"))
    np.testing.assert_array_equal(again["image"], b["image"])


def test_celeba_cache_is_keyed_by_the_files_not_the_count(tmp_path):
    """Two CelebA copies with the same split sizes but other images share a cache_dir: each
    gets its own faces (the old name, split/size/count only, gave the second the first's)."""
    cache = tmp_path / "cache"
    a = fixtures.make_celeba(tmp_path / "a", n=12, seed=4)
    b = fixtures.make_celeba(tmp_path / "b", n=12, seed=5)
    faces_a = _faces(a, cache=cache)["image"]
    faces_b = _faces(b, cache=cache)["image"]
    fresh_b = _faces(b, cache=tmp_path / "fresh")["image"]
    assert faces_a.shape == faces_b.shape and not np.array_equal(faces_a, faces_b)
    np.testing.assert_array_equal(faces_b, fresh_b)
    assert len(list(cache.iterdir())) == 2
    # A zip and a folder with the same images are different sources, read alike.
    z = fixtures.make_celeba(tmp_path / "z", n=12, seed=5, as_zip=True)
    np.testing.assert_array_equal(_faces(z, cache=cache)["image"], fresh_b)


def test_celeba_attribute_lines_without_images_name_them(tmp_path):
    d = fixtures.make_celeba(tmp_path / "folder", n=12)
    for n in (3, 7):
        (d / "img_align_celeba" / f"{n:06d}.jpg").unlink()
    with pytest.raises(ValueError, match=r"2 image\(s\) that are not in .*000003.jpg, 000007.jpg"):
        _faces(d, cache=tmp_path / "c")
    z = fixtures.make_celeba(tmp_path / "zip", n=12, as_zip=True)
    with open(z / "list_attr_celeba.txt", "a") as f:
        f.write("000099.jpg -1  1 1 -1\r\n")
    with open(z / "list_eval_partition.txt", "a") as f:
        f.write("000099.jpg 0\r\n")
    with pytest.raises(ValueError, match="img_align_celeba.zip: 000099.jpg"):
        _faces(z, "test", cache=tmp_path / "c")


def test_source_fingerprint_names_the_files_read(tmp_path):
    import os

    d = fixtures.make_mnist(tmp_path / "mnist", n_train=20, n_test=5)

    def fp(split, **kw):
        return sources.source_fingerprint("mnist", split, manual_dir=str(d), **kw)

    train, test = fp("train"), fp("test")
    assert len(train) == 16 and int(train, 16) >= 0 and train == fp("train") and train != test
    assert fp("train", max_examples=10) != train
    st = (d / "train-images-idx3-ubyte.gz").stat()
    os.utime(d / "train-images-idx3-ubyte.gz", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert fp("train") != train and fp("test") == test  # Only the files that split reads.
    a = fixtures.make_celeba(tmp_path / "a", n=12, seed=4)
    b = fixtures.make_celeba(tmp_path / "b", n=12, seed=5)

    def celeb(directory, **kw):
        return sources.source_fingerprint("celeb_a", "train", manual_dir=str(directory), **kw)

    assert celeb(a) == celeb(a, image_size=64) != celeb(b)
    assert celeb(a, image_size=32) != celeb(a) != celeb(a, max_examples=4)
    with pytest.raises(DatasetNotFoundError, match="list_attr_celeba.txt"):
        sources.source_fingerprint("celeb_a", "train", manual_dir=str(tmp_path / "mnist"))


def test_missing_manual_dir_names_the_fix(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="svhn_cropped|train_32x32.mat"):
        load_split("svhn_cropped", "train", manual_dir=str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match="cifar-10-python.tar.gz"):
        load_split("cifar10", "train", manual_dir=str(tmp_path / "empty"))


def test_no_local_files_and_no_tfds_copy(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "default_dirs", lambda name: [tmp_path / "a" / name])
    with pytest.raises(DatasetNotFoundError, match="manual_dir"):
        load_split("cifar10", "train", tfds_data_dir=str(tmp_path / "tfds"))


class _FakeBuilder:
    """A tfds builder stand-in: `as_data_source` raises `error`; prepared or not."""

    data_dir = "/fake/tfds"

    def __init__(self, error: Exception, prepared: bool):
        self.error, self.prepared = error, prepared

    def as_data_source(self, split):
        raise self.error

    def is_prepared(self) -> bool:
        return self.prepared


def test_tfds_without_a_copy_is_not_found_but_a_loader_bug_propagates(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    monkeypatch.setattr(sources, "default_dirs", lambda name: [tmp_path / name])

    def use(builder):
        monkeypatch.setattr(tfds, "builder", lambda name, data_dir=None: builder)

    # What tfds raises for a copy without random access (none at all, or tfrecord): not found.
    use(_FakeBuilder(NotImplementedError("no random access"), prepared=False))
    assert sources._load_tfds("mnist", "train", None) is None
    with pytest.raises(DatasetNotFoundError, match="no prepared tfds copy"):
        load_split("mnist", "train")
    # A tfrecord copy without TensorFlow installed: one message naming the fix.
    use(_FakeBuilder(NotImplementedError("tfrecord"), prepared=True))
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        with pytest.raises(DatasetNotFoundError, match="needs TensorFlow"):
            load_split("mnist", "train")
    # Anything else is a bug (in ganjax, tfds or the copy) and surfaces as itself.
    for error in (RuntimeError("a bug inside the loader"), ValueError("a bug, too")):
        use(_FakeBuilder(error, prepared=True))
        with pytest.raises(type(error), match="a bug") as info:
            load_split("mnist", "train")
        assert not isinstance(info.value, DatasetNotFoundError)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="Unknown dataset"):
        load_split("imagenet", "train")


def _data(n=50):
    return {"image": np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1), "label": np.arange(n)}


def test_iterator_epochs_are_permutations_and_deterministic():
    it = BatchIterator(_data(), batch_size=10, seed=3)
    epoch = np.concatenate([next(it)["image"].ravel() for _ in range(5)])
    assert sorted(epoch.tolist()) == list(range(50))
    epoch2 = np.concatenate([next(it)["image"].ravel() for _ in range(5)])
    assert sorted(epoch2.tolist()) == list(range(50)) and not np.array_equal(epoch, epoch2)
    other_seed = BatchIterator(_data(), batch_size=10, seed=4)
    assert not np.array_equal(
        next(other_seed)["image"],
        BatchIterator(_data(), batch_size=10, seed=3).batch_at(0)["image"],
    )


def test_iterator_resumes_exactly():
    full = BatchIterator(_data(), batch_size=8, seed=0, batches_per_step=2)
    seq = [next(full)["image"] for _ in range(9)]
    resumed = BatchIterator(_data(), batch_size=8, seed=0, batches_per_step=2, start_step=4)
    for k in range(4, 9):
        batch = next(resumed)["image"]
        assert batch.shape == (2, 8, 1, 1, 1)
        np.testing.assert_array_equal(batch, seq[k])


def test_iterator_too_small_dataset():
    with pytest.raises(ValueError, match="batch_size"):
        BatchIterator(_data(5), batch_size=10, seed=0)


def test_prefetch_preserves_order_and_reraises():
    assert list(prefetch(iter(range(7)), lambda x: x * 2)) == [0, 2, 4, 6, 8, 10, 12]

    def broken():
        yield 1
        raise OSError("disk gone")

    out = prefetch(broken(), lambda x: x)
    assert next(out) == 1
    with pytest.raises(OSError, match="disk gone"):
        next(out)


def test_tfds_source_when_no_local_files(tmp_path, monkeypatch):
    """With no original files, a prepared tfds copy is read (tfds's mock stands in for one)."""
    import tensorflow_datasets as tfds

    monkeypatch.setattr(sources, "default_dirs", lambda name: [tmp_path / name])
    with tfds.testing.mock_data(num_examples=12, policy=tfds.testing.MockPolicy.USE_CODE):
        data = load_split("mnist", "train")
        assert data["image"].shape == (12, 28, 28, 1) and data["image"].dtype == np.uint8
        assert data["label"].shape == (12,) and data["label"].dtype == np.int32
        faces = load_split("celeb_a", "train", image_size=32)
    assert faces["image"].shape == (12, 32, 32, 3)  # 218x178 mock faces, cropped and resized.
    assert faces["attributes"].shape == (12, 40) and "Male" in list(faces["attribute_names"])
