"""pytorch-fid's FID Inception weights: read the `.pth` without torch, convert, save, find.

The weights are the TensorFlow 2015-12-05 Inception graph that FID is defined with, ported to
PyTorch by pytorch-fid and published as PT_INCEPTION_FILENAME. `load_inception_params` turns
that file (or a converted `.npz` written by `save_converted`) into the variables of
`ganjax.models.inception.FIDInceptionV3`:

  variables = load_inception_params(resolve_inception_weights(config.eval.inception_weights))
  pool3, logits = FIDInceptionV3().apply(variables, images)

`read_torch_state_dict` understands both formats `torch.save` writes: the zip archive (torch
>= 1.6) and the older "legacy" pickle stream (the format of files saved before 1.6). It unpickles
with an allow-list of globals, so it neither needs torch nor runs code from the file.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import io
import os
import pathlib
import pickle
import struct
import zipfile
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
from absl import logging
from flax import traverse_util

from ganjax.models.inception import INPUT_SIZE, FIDInceptionV3

Variables = dict[str, Any]

PT_INCEPTION_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
PT_INCEPTION_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + PT_INCEPTION_FILENAME
)
# No md5 or full sha256 of this file is published next to it (pytorch-fid only names it); the
# "6726825d" in its name is the sha256 prefix torch.hub's check_hash=True verifies.
PT_INCEPTION_SHA256_PREFIX = "6726825d"
ENV_VAR = "GANJAX_INCEPTION_WEIGHTS"
DEFAULT_CACHE_PATH = pathlib.Path("~/.cache/ganjax/inception") / PT_INCEPTION_FILENAME

# torch storage class name -> numpy dtype (the pickle names the class, the bytes follow).
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


class _StateDictUnpickler(pickle.Unpickler):
    """Unpickles a torch state dict with tensors as `_TensorRef`s; refuses any other global."""

    _GLOBALS: dict[tuple[str, str], Any] = {
        ("torch._utils", "_rebuild_tensor_v2"): _TensorRef,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("collections", "OrderedDict"): collections.OrderedDict,
    }

    def __init__(self, file: io.BufferedIOBase, storages: dict[str, _Storage]):
        super().__init__(file)
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._GLOBALS:
            return self._GLOBALS[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
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
        raise ValueError(
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


def _read_zip(path: pathlib.Path) -> Any:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl")]
        if len(pkl) != 1:
            raise ValueError(f"{path} is a zip file but not a torch.save archive (no */data.pkl)")
        prefix = pkl[0][: -len("data.pkl")]
        big_endian = f"{prefix}byteorder" in names and zf.read(f"{prefix}byteorder") == b"big"
        storages: dict[str, _Storage] = {}
        obj = _StateDictUnpickler(io.BytesIO(zf.read(pkl[0])), storages).load()
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
        raise ValueError(
            f"{path} is not a PyTorch state dict saved with torch.save ({type(e).__name__}: {e})"
        ) from e
    if not isinstance(obj, dict):
        raise ValueError(f"{path} holds a {type(obj).__name__}, not a state dict")
    state = _resolve(obj)
    bad = [k for k, v in state.items() if not isinstance(v, np.ndarray)]
    if bad:
        raise ValueError(f"{path}: entries {bad[:5]} are not tensors")
    return state


@functools.lru_cache(maxsize=1)
def expected_shapes() -> dict[str, tuple[int, ...]]:
    """{'params/Mixed_5b/branch1x1/conv/kernel': shape, ...} for FIDInceptionV3 (traced once)."""
    x = jax.ShapeDtypeStruct((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32)
    tree = jax.eval_shape(FIDInceptionV3().init, jax.random.key(0), x)
    flat = traverse_util.flatten_dict(tree, sep="/")
    return {k: tuple(v.shape) for k, v in flat.items()}


def random_variables(seed: int = 0) -> Variables:
    """He-scaled random FIDInceptionV3 variables drawn with numpy (for plumbing checks only).

    Much faster than jitting the module's init (40 s for this network on 2 CPU cores): only the
    shapes are traced. Batch-norm scales are 1, shifts 0, running means 0, running variances 1.
    """
    rng = np.random.default_rng(seed)
    flat = {}
    for key, shape in expected_shapes().items():
        leaf = key.rsplit("/", 1)[1]
        if leaf == "kernel":
            fan_in = int(np.prod(shape[:-1]))
            flat[key] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        else:
            flat[key] = np.full(shape, 1.0 if leaf in ("scale", "var") else 0.0, np.float32)
    return traverse_util.unflatten_dict(flat, sep="/")


def _torch_name(flax_key: str) -> tuple[str, Callable[[np.ndarray], np.ndarray]]:
    """'params/A/b/conv/kernel' -> ('A.b.conv.weight', the array transform from torch's layout)."""
    _, *modules, leaf = flax_key.split("/")  # drop the collection (params / batch_stats)
    module = ".".join(modules)
    if leaf == "kernel" and modules[-1] == "conv":  # [out, in, kh, kw] -> [kh, kw, in, out]
        return f"{module}.weight", lambda w: w.transpose(2, 3, 1, 0)
    if leaf == "kernel":  # fc: [out, in] -> [in, out]
        return f"{module}.weight", lambda w: w.T
    names = {"scale": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var"}
    return f"{module}.{names[leaf]}", lambda w: w


def convert_pytorch_fid_state_dict(state_dict: dict[str, np.ndarray]) -> Variables:
    """pytorch-fid's `fid_inception_v3()` state dict -> FIDInceptionV3 variables.

    Args:
      state_dict: {torch name: array}, e.g. from `read_torch_state_dict`. BatchNorm's
        `num_batches_tracked` counters (absent from old files) are ignored.

    Returns:
      {"params": ..., "batch_stats": ...} nested dicts of float32 numpy arrays.

    Raises:
      ValueError: naming the missing torch keys, the unexpected ones, and any shape mismatch.
    """
    flat, used, missing, bad_shapes = {}, set(), [], []
    for flax_key, shape in expected_shapes().items():
        name, transform = _torch_name(flax_key)
        if name not in state_dict:
            missing.append(name)
            continue
        value = transform(np.asarray(state_dict[name], dtype=np.float32))
        used.add(name)
        if value.shape != shape:
            bad_shapes.append(f"{name}: {np.shape(state_dict[name])} (want {shape} in Flax layout)")
            continue
        flat[flax_key] = np.ascontiguousarray(value)
    unexpected = sorted(
        k for k in state_dict if k not in used and not k.endswith(".num_batches_tracked")
    )
    if missing or unexpected or bad_shapes:
        raise ValueError(
            "not pytorch-fid's FID Inception state dict: "
            f"missing keys {missing}; unexpected keys {unexpected}; wrong shapes {bad_shapes}"
        )
    return traverse_util.unflatten_dict(flat, sep="/")


def _check_variables(flat: dict[str, np.ndarray], source: str) -> None:
    want = expected_shapes()
    missing = sorted(set(want) - set(flat))
    unexpected = sorted(set(flat) - set(want))
    bad = [
        f"{k}: {flat[k].shape} (want {want[k]})"
        for k in want
        if k in flat and tuple(flat[k].shape) != want[k]
    ]
    if missing or unexpected or bad:
        raise ValueError(
            f"{source} does not hold FIDInceptionV3 variables: missing {missing}; "
            f"unexpected {unexpected}; wrong shapes {bad}"
        )


def save_converted(variables: Variables, path: str | os.PathLike) -> None:
    """Writes variables to an `.npz` with flattened 'params/Mixed_5b/.../kernel' keys."""
    flat = traverse_util.flatten_dict(jax.device_get(variables), sep="/")
    _check_variables(flat, "variables to save")
    with open(path, "wb") as f:  # an open file: np.savez would otherwise append ".npz"
        np.savez(f, **{k: np.asarray(v, np.float32) for k, v in flat.items()})


def load_inception_params(path: str | os.PathLike) -> Variables:
    """FIDInceptionV3 variables from pytorch-fid's `.pth` or an `.npz` from `save_converted`.

    Raises:
      ValueError: the file is neither, or its tensors do not fit the network.
    """
    path = pathlib.Path(path)
    if path.suffix == ".npz":
        with np.load(path) as npz:
            flat = {k: npz[k] for k in npz.files}
        _check_variables(flat, str(path))
        variables = traverse_util.unflatten_dict(flat, sep="/")
    else:
        variables = convert_pytorch_fid_state_dict(read_torch_state_dict(path))
    logging.info("Loaded FID Inception weights %s (hash %s)", path, weights_hash(variables))
    return variables


def weights_hash(variables: Variables) -> str:
    """First 16 hex digits of a sha256 over the variables, in sorted 'a/b/c' key order.

    Each array contributes its key, shape and float32 little-endian bytes, so the hash names the
    weights independently of the file format they were loaded from.
    """
    h = hashlib.sha256()
    flat = traverse_util.flatten_dict(jax.device_get(variables), sep="/")
    for key in sorted(flat):
        arr = np.ascontiguousarray(flat[key], dtype="<f4")
        h.update(f"{key}:{arr.shape}".encode())
        h.update(arr.tobytes())
    return h.hexdigest()[:16]


def resolve_inception_weights(path_or_empty: str = "") -> pathlib.Path:
    """Finds the weights: the explicit path, else $GANJAX_INCEPTION_WEIGHTS, else the cache.

    Args:
      path_or_empty: config.eval.inception_weights; "" to search the usual places.

    Returns:
      The path of an existing file (`.pth` or converted `.npz`).

    Raises:
      FileNotFoundError: none of them exists; the message says what to download and where to put
        it.
    """
    if path_or_empty:
        where, path = "config.eval.inception_weights", pathlib.Path(path_or_empty)
    elif os.environ.get(ENV_VAR):
        where, path = f"${ENV_VAR}", pathlib.Path(os.environ[ENV_VAR])
    else:
        where, path = "the default cache path", DEFAULT_CACHE_PATH
    # An explicit path (or $ENV_VAR) that does not exist is an error, not a reason to fall back.
    path = path.expanduser()
    if path.is_file():
        return path
    raise FileNotFoundError(
        f"FID Inception weights not found at {path} ({where}). Download "
        f"{PT_INCEPTION_FILENAME} (sha256 starts with {PT_INCEPTION_SHA256_PREFIX}) from "
        f"{PT_INCEPTION_URL} and pass its path as config.eval.inception_weights, or set "
        f"${ENV_VAR} to it, or put it at {DEFAULT_CACHE_PATH.expanduser()}."
    )
