"""Multi-process runs on JAX's own distributed runtime (`jax.distributed`).

One program runs as several processes (one per host on a cluster; several on one machine for
tests), tied together by `initialize` before JAX computes anything. After it `jax.devices()`
lists every process's devices, and the loop's mesh (training/parallel.py) spans them all:

- the global batch and every random stream stay functions of (seed, step); each process puts
  its own rows of the global batch on its own devices (`process_rows`);
- the jitted step runs on all processes at once (XLA's collectives: gloo on CPU, NCCL on GPU,
  the interconnect on TPU); the state stays replicated, so the NaN stop and the end of the run
  are the same on every process;
- checkpoints are written by all processes together (orbax) into one shared folder, and a run
  resumes with any process count;
- only process 0 writes the run folder's files (`is_main_process`).

Explicit addresses (`--coordinator_address`, `--num_processes`, `--process_id`) or JAX's own
cluster detection (`--distributed`: SLURM, Open MPI, Cloud TPU, GKE) start it. docs/multihost.md
gives the launch recipes.
"""

from __future__ import annotations

import jax
import numpy as np

from ganjax.errors import ConfigError


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    auto: bool = False,
    heartbeat_timeout_s: int | None = None,
    initialization_timeout_s: int | None = None,
) -> bool:
    """Joins this process to a multi-process run; returns whether one was started.

    Nothing is started unless an address is given or `auto` asks for cluster detection. Call it
    before any JAX computation.

    Args:
      coordinator_address: "host:port" of process 0's coordination service.
      num_processes: how many processes take part.
      process_id: this process's index, 0 .. num_processes - 1.
      auto: let JAX detect the cluster (SLURM, Open MPI, Cloud TPU, GKE) from its environment.
      heartbeat_timeout_s: a process that is silent this long is taken as dead and the others
        stop with an error (JAX's default: 100 s).
      initialization_timeout_s: how long to wait for every process to join (JAX's: 300 s).

    Raises:
      ConfigError: an incomplete or inconsistent set of explicit arguments.
    """
    explicit = (coordinator_address, num_processes, process_id)
    if not auto and all(v is None for v in explicit):
        return False
    if not auto and any(v is None for v in explicit):
        raise ConfigError(
            "A multi-process run needs all of --coordinator_address, --num_processes and "
            "--process_id (or --distributed, for JAX's cluster detection)."
        )
    if num_processes is not None and not (
        num_processes >= 1 and process_id is not None and 0 <= process_id < num_processes
    ):
        raise ConfigError(
            f"--process_id={process_id} is not in 0 .. --num_processes - 1 = {num_processes - 1}."
        )
    kwargs = {}
    if heartbeat_timeout_s is not None:
        kwargs["heartbeat_timeout_seconds"] = heartbeat_timeout_s
    if initialization_timeout_s is not None:
        kwargs["initialization_timeout"] = initialization_timeout_s
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
        **kwargs,
    )
    return True


def is_main_process() -> bool:
    """Whether this process writes the run folder (process 0; the only one when single)."""
    return jax.process_index() == 0


def process_rows(size: int) -> slice:
    """This process's rows of a global batch dimension of `size` (contiguous, in process order:
    the mesh lists process 0's devices first)."""
    count = jax.process_count()
    if size % count:
        raise ConfigError(
            f"A global batch of {size} does not split over {count} processes; use a multiple "
            f"of {count}."
        )
    per = size // count
    return slice(jax.process_index() * per, (jax.process_index() + 1) * per)


def local_share(batch: dict[str, np.ndarray], batch_axis: int) -> dict[str, np.ndarray]:
    """This process's rows (along `batch_axis`) of every array of a global host batch."""
    if jax.process_count() == 1:
        return batch
    out = {}
    for key, value in batch.items():
        index = [slice(None)] * value.ndim
        index[batch_axis] = process_rows(value.shape[batch_axis])
        out[key] = value[tuple(index)]
    return out


def barrier(name: str) -> None:
    """Waits until every process reaches the barrier `name` (nothing in a single process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def check_supported(config) -> None:
    """Refuses what multi-process runs do not do yet, before anything is computed.

    Raises:
      ConfigError: the config evaluates during training (sample grids, test metrics or periodic
        FID): those gather sharded outputs on one host, which is single-process code today.
    """
    every = int(config.eval.get("every_steps", 0) or 0)
    fid_every = int(config.eval.get("fid_every_steps", 0) or 0)
    if every >= 0 or fid_every > 0:
        raise ConfigError(
            f"A run of {jax.process_count()} processes does not evaluate during training yet "
            f"(config.eval.every_steps={every}, config.eval.fid_every_steps={fid_every}). Train "
            "with --config.eval.every_steps=-1 --config.eval.fid_every_steps=0 and evaluate the "
            "finished run on one process (python -m experiments.evaluate --workdir=...)."
        )
