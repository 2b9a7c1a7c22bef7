"""The multi-process flags of experiments.train (evaluation runs on one process).

  --coordinator_address=HOST:PORT --num_processes=N --process_id=I   explicit (any cluster)
  --distributed                                                      JAX's cluster detection
                                                                     (SLURM, Open MPI, TPU, GKE)

Without them a run is one process. docs/multihost.md has the launch recipes.
"""

from absl import flags

from ganjax.training import distributed

_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None, "host:port of process 0's coordination service."
)
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Processes in the run.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index (0 writes files).")
_AUTO = flags.DEFINE_bool(
    "distributed", False, "Join a multi-process run found by JAX's cluster detection."
)
_HEARTBEAT = flags.DEFINE_integer(
    "heartbeat_timeout_s",
    None,
    "A silent process is taken as dead after this long, and the others stop (JAX's default 100).",
)


def initialize() -> bool:
    """Starts jax.distributed as the flags ask (before any JAX computation)."""
    return distributed.initialize(
        _COORDINATOR.value,
        _NUM_PROCESSES.value,
        _PROCESS_ID.value,
        auto=_AUTO.value,
        heartbeat_timeout_s=_HEARTBEAT.value,
    )
