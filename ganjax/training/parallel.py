"""Data parallelism over all local devices: a 1-D mesh with a "data" axis.

Train steps are `jax.jit`-compiled with the state replicated and batches sharded on their batch
axis; XLA inserts the gradient all-reduce and computes batch-norm statistics over the global
batch, so results do not depend on the number of devices (up to float summation order).
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ganjax.errors import ConfigError
from ganjax.training import distributed

DATA_AXIS = "data"


def create_mesh(num_devices: int | None = None) -> Mesh:
    """A mesh over the first `num_devices` devices (all when None).

    In a multi-process run (ganjax/training/distributed.py) it spans every process's devices,
    process 0's first, so each process's rows of a batch are one contiguous block; there
    `num_devices` must be None or all of them."""
    devices = sorted(jax.devices(), key=lambda d: (d.process_index, d.id))
    if num_devices:
        if num_devices > len(devices):
            raise ConfigError(
                f"Asked for {num_devices} devices but only {len(devices)} are visible"
            )
        if jax.process_count() > 1 and num_devices != len(devices):
            raise ConfigError(
                f"--num_devices={num_devices} in a run of {jax.process_count()} processes: a "
                f"multi-process run uses all {len(devices)} devices (leave --num_devices out)."
            )
        devices = devices[:num_devices]
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh, batch_axis: int = 0) -> NamedSharding:
    """Shards dimension `batch_axis` over the data axis."""
    return NamedSharding(mesh, P(*([None] * batch_axis), DATA_AXIS))


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
    n = mesh.devices.size
    if batch_size % n:
        raise ConfigError(
            f"config.train.batch_size={batch_size} is not divisible by the {n} devices in use; "
            f"use a multiple of {n} or fewer devices (--num_devices)."
        )


def put_batch(batch: dict[str, np.ndarray], sharding: NamedSharding) -> dict[str, jax.Array]:
    """Host numpy batch (this process's part of the global batch) -> sharded global arrays."""
    return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in batch.items()}


def put_global_batch(
    batch: dict[str, np.ndarray], sharding: NamedSharding, batch_axis: int
) -> dict[str, jax.Array]:
    """A whole global host batch -> sharded global arrays: each process puts its own rows."""
    return put_batch(distributed.local_share(batch, batch_axis), sharding)
