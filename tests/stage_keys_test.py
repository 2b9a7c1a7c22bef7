"""Stage keys (ganjax/latent/stage_keys.py): canonical, stable hashes of what produced a stage, and
the
refusal of a folder made with other inputs."""

from __future__ import annotations

import hashlib
import json

import ml_collections
import numpy as np
import pytest

from ganjax.errors import UserError
from ganjax.latent import stage_keys


def test_key_is_the_sha256_of_canonical_json_independent_of_order():
    a = {"b": 1, "a": {"y": [1, 2], "x": "s"}}
    b = {"a": {"x": "s", "y": (1, 2)}, "b": 1}
    expected = hashlib.sha256(b'{"a":{"x":"s","y":[1,2]},"b":1}').hexdigest()
    assert stage_keys.key(a) == stage_keys.key(b) == expected
    assert stage_keys.key({**a, "b": 2}) != expected
    with pytest.raises(TypeError, match="Cannot key"):
        stage_keys.key({"f": object()})


def test_config_inputs_drop_caches_and_named_paths():
    c = ml_collections.ConfigDict(
        {"data": {"cache_dir": "/tmp/a", "manual_dir": "/d", "n": 3}, "seed": 1}
    )
    assert stage_keys.config_inputs(c) == {"data": {"manual_dir": "/d", "n": 3}, "seed": 1}
    assert stage_keys.config_inputs(c, drop=["data.manual_dir", "no.such"]) == {
        "data": {"n": 3},
        "seed": 1,
    }
    moved = c.copy_and_resolve_references()
    moved.data.cache_dir = "/elsewhere"  # A cache elsewhere does not change outputs.
    assert stage_keys.key(stage_keys.config_inputs(moved)) == stage_keys.key(
        stage_keys.config_inputs(c)
    )


def test_arrays_key_sees_values_shapes_and_names():
    w = {"a": np.zeros((2, 3), np.float32), "b": np.ones(2, np.float32)}
    assert stage_keys.arrays_key(w) == stage_keys.arrays_key({k: v.copy() for k, v in w.items()})
    assert stage_keys.arrays_key(w) != stage_keys.arrays_key({**w, "a": np.zeros((3, 2))})
    assert stage_keys.arrays_key(w) != stage_keys.arrays_key({**w, "b": np.full(2, 2.0)})
    assert stage_keys.arrays_key(w) != stage_keys.arrays_key({"c": w["a"], "b": w["b"]})


def test_claim_reuse_and_refusal(tmp_path):
    folder, inputs = tmp_path / "stage", {"num": 64, "strategy": "shift", "up": {"g": "k1"}}
    assert stage_keys.mismatch(folder, inputs) is None  # Missing: free to run.
    key = stage_keys.claim(folder, inputs)
    record = json.loads((folder / stage_keys.FILENAME).read_text())
    assert record == {"key": key, "inputs": inputs} and key == stage_keys.key(inputs)
    (folder / "out.npy").write_bytes(b"x")
    assert stage_keys.mismatch(folder, dict(inputs)) is None  # Same key: reuse.
    changed = {**inputs, "num": 32, "up": {"g": "k2"}}
    with pytest.raises(stage_keys.StageMismatchError) as e:
        stage_keys.check([("synthetic", folder, changed)], "Use a new workdir.")
    msg = str(e.value)
    assert "synthetic" in msg and "num: 64 -> 32" in msg and "up.g: 'k1' -> 'k2'" in msg
    assert "strategy" not in msg and msg.endswith("Use a new workdir.")
    assert isinstance(e.value, UserError)  # The entry points print it as one line.
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "results.json").write_text("{}")
    assert "no stage.json" in stage_keys.mismatch(legacy, inputs)
    (tmp_path / "empty").mkdir()
    assert stage_keys.mismatch(tmp_path / "empty", inputs) is None
