"""ganjax.host: glibc malloc tuning for XLA:CPU's large per-step buffers."""

import json
import os
import platform
import subprocess
import sys

import pytest

_PROBE = r"""
import json, resource, sys
from ganjax import host
setting = host.tune_allocator(single_arena=True)
import jax, jax.numpy as jnp
f = jax.jit(lambda x: jnp.concatenate([x, x + 1.0]))  # A 128 MB result per call.
x = jnp.ones((16 * 1024 * 1024,), jnp.float32)
for _ in range(10):
    f(x).block_until_ready()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    f(x).block_until_ready()
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10
mb = faults * resource.getpagesize() / 2**20
print(json.dumps({"setting": setting, "faulted_mb_per_call": mb}))
"""


def _probe(env_extra: dict) -> dict:
    env = {**os.environ, **env_extra}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the tuning applies to glibc only")
def test_tuned_allocator_reuses_large_buffers():
    """With the tuning, a step that returns 128 MB does not page-fault it in again every call."""
    row = _probe({})
    assert row["setting"] == "reuse, one arena"
    assert row["faulted_mb_per_call"] < 64, (
        row
    )  # Untuned glibc: 128 MB of faults per call (measured).


def test_allocator_tuning_can_be_turned_off():
    row = _probe({"GANJAX_MALLOC": "system"})
    assert row["setting"].startswith("system")


def test_single_arena_only_for_models_with_large_activations():
    from ganjax import host

    assert host.wants_single_arena("dcgan") and host.wants_single_arena("seeds_svhn")
    assert not host.wants_single_arena("mlp") and not host.wants_single_arena("paper_mnist")
