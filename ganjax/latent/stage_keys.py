"""Keys for cached stages: outputs are reused only for the inputs that produced them.

A stage's key is the sha256 of the canonical JSON (sorted keys, no whitespace) of its inputs: the
part of the config that determines its output, plus the keys of the stages (or the identity of
the run) it reads. `stage.json` beside the outputs holds the key and those inputs, so a mismatch
can name the settings that changed. The synthetic-data pipeline
(ganjax/latent/synthetic_pipeline.py)
and the post-hoc encoder (ganjax/latent/posthoc_encoder.py) key their stages with it.

A stage folder is reusable when it is empty, or when its stage.json has the same key. Any other
folder (another key, or outputs without a stage.json: written before stages were keyed) is a
mismatch: callers refuse it with `StageMismatchError` rather than label old outputs with new
settings.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
from typing import Any, Iterable

import jax
import ml_collections
import numpy as np

from ganjax.errors import UserError

FILENAME = "stage.json"


class StageMismatchError(UserError, ValueError):
    """A stage folder holds outputs of other settings (a user error: its message names the fix)."""


def canonical(inputs: Any) -> str:
    """Canonical JSON of `inputs` (ConfigDicts as plain dicts): sorted keys, no whitespace."""
    return json.dumps(_plain(inputs), sort_keys=True, separators=(",", ":"))


def key(inputs: Any) -> str:
    """sha256 (hex) of `canonical(inputs)`."""
    return hashlib.sha256(canonical(inputs).encode()).hexdigest()


def config_inputs(
    config: ml_collections.ConfigDict | dict, drop: Iterable[str] = ()
) -> dict[str, Any]:
    """A config as a plain dict (references resolved) without every `cache_dir` (caches are
    keyed on their own and do not change outputs) and without the dotted paths in `drop`."""
    if isinstance(config, ml_collections.ConfigDict):
        config = config.copy_and_resolve_references().to_dict()
    out = _plain(config)
    _drop_cache_dirs(out)
    for path in drop:
        *parents, last = path.split(".")
        node = out
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return out


def arrays_key(tree: Any) -> str:
    """sha256 (hex) of a pytree of arrays (network weights): each leaf's path, dtype, shape and
    bytes, in path order."""
    h = hashlib.sha256()
    leaves, _ = jax.tree_util.tree_flatten_with_path(jax.device_get(tree))
    for path, leaf in sorted(leaves, key=lambda pl: jax.tree_util.keystr(pl[0])):
        a = np.ascontiguousarray(leaf)
        h.update(f"{jax.tree_util.keystr(path)}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def mismatch(folder: str | pathlib.Path, inputs: Any) -> str | None:
    """None when `folder` is missing or empty or its stage.json has the key of `inputs`; else
    what differs (the changed keys, dotted, with old -> new values)."""
    folder = pathlib.Path(folder)
    if not folder.is_dir() or not any(folder.iterdir()):
        return None
    path = folder / FILENAME
    if not path.exists():
        return f"{folder} has outputs but no {FILENAME} (written before stages were keyed)"
    record = json.loads(path.read_text())
    if record.get("key") == key(inputs):
        return None
    old, new = _flatten(record.get("inputs", {})), _flatten(_plain(inputs))
    changed = [
        f"{k}: {_short(old.get(k, '<unset>'))} -> {_short(new.get(k, '<unset>'))}"
        for k in sorted(set(old) | set(new))
        if old.get(k, "<unset>") != new.get(k, "<unset>")
    ]
    return f"{folder} was made with other settings ({'; '.join(changed) or 'same inputs'})"


def check(stages: Iterable[tuple[str, str | pathlib.Path, Any]], fix: str) -> None:
    """Raises one StageMismatchError naming every (name, folder, inputs) stage that mismatches.

    Raises:
      StageMismatchError: some stage folder holds outputs of other inputs; `fix` ends the
        message.
    """
    problems = [
        f"  {name}: {m}" for name, folder, inputs in stages if (m := mismatch(folder, inputs))
    ]
    if problems:
        raise StageMismatchError(
            "Refusing to reuse stage outputs made with other settings:\n"
            + "\n".join(problems)
            + f"\n{fix}"
        )


def claim(folder: str | pathlib.Path, inputs: Any) -> str:
    """Writes `folder`/stage.json (key and inputs) before the stage writes its outputs, so an
    interrupted stage resumes only under the same key. Returns the key."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    k = key(inputs)
    record = {"key": k, "inputs": _plain(inputs)}
    tmp = folder / f".{FILENAME}.tmp"
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True))
    tmp.replace(folder / FILENAME)
    return k


def _plain(x: Any) -> Any:
    """JSON-ready copy: ConfigDicts and mappings as dicts, tuples as lists; other values must be
    JSON scalars (a TypeError otherwise: a key must not depend on an object's repr)."""
    if isinstance(x, ml_collections.ConfigDict):
        x = x.copy_and_resolve_references().to_dict()
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if hasattr(x, "item"):  # numpy scalars.
        return _plain(x.item())
    raise TypeError(f"Cannot key a stage on {type(x).__name__} value {x!r}")


def _drop_cache_dirs(node: Any) -> None:
    if isinstance(node, dict):
        node.pop("cache_dir", None)
        for v in node.values():
            _drop_cache_dirs(v)


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(node, dict):
        return {prefix: node}
    out = {}
    for k, v in node.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else k))
    return out


def _short(v: Any, limit: int = 60) -> str:
    s = repr(v)
    return s if len(s) <= limit else s[: limit - 3] + "..."
