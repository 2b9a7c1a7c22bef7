"""The one place that talks to orbax: periodic saves, keep-last-K, automatic resume.

Orbax writes each checkpoint into a temporary folder and renames it into place only when it is
complete, so a run killed mid-save leaves the previous checkpoint as the latest readable one.
"""

from __future__ import annotations

import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from ganjax.errors import UserError

PyTree = Any


class CheckpointError(UserError, RuntimeError):
    """A checkpoint that exists but cannot be restored."""


class Checkpointer:
    """Saves and restores the train state under <workdir>/checkpoints/<step>."""

    def __init__(
        self,
        workdir: str | pathlib.Path,
        *,
        max_to_keep: int = 3,
        async_save: bool = True,
        subdir: str = "checkpoints",
    ):
        self.directory = pathlib.Path(workdir).absolute() / subdir
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(
                max_to_keep=max_to_keep, create=True, enable_async_checkpointing=async_save
            ),
        )

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def save(self, step: int, state: PyTree) -> None:
        """Saves `state` at `step` (asynchronously; call wait() before reading it back)."""
        self._manager.save(int(step), args=ocp.args.StandardSave(state))

    def restore(self, target: PyTree, step: int | None = None) -> PyTree:
        """Restores into the structure, shapes, dtypes and shardings of `target`.

        Raises:
          CheckpointError: if the checkpoint is unreadable or does not match `target`.
        """
        step = self.latest_step() if step is None else step
        if step is None:
            raise CheckpointError(f"No checkpoint in {self.directory}")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        try:
            return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
        except Exception as e:  # orbax raises many types for unreadable or mismatched data.
            others = [s for s in self.all_steps() if s != step]
            hint = (
                f"move {self.directory / str(step)} aside to resume from step {max(others)}"
                if others
                else "start from a fresh --workdir"
            )
            raise CheckpointError(
                f"Checkpoint {self.directory / str(step)} could not be restored "
                f"({type(e).__name__}: {str(e)[:300]}). It is corrupt or was written by a "
                f"different model/config. To continue, {hint}."
            ) from e

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()


class BestCheckpointer:
    """Keeps the one best checkpoint by a metric (lower is better, e.g. FID) in
    <workdir>/best_checkpoint/<step>, beside the latest ones; orbax's best-checkpoint support
    (best_fn / best_mode) decides what stays. Restore it with `Checkpointer(workdir,
    subdir="best_checkpoint")`."""

    SUBDIR = "best_checkpoint"

    def __init__(self, workdir: str | pathlib.Path, metric: str = "fid"):
        self.metric = metric
        self.directory = pathlib.Path(workdir).absolute() / self.SUBDIR
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(
                max_to_keep=1,
                best_fn=lambda m: m[metric],
                best_mode="min",
                keep_checkpoints_without_metrics=False,
                create=True,
                enable_async_checkpointing=False,
            ),
        )

    def save(self, step: int, state: PyTree, value: float) -> None:
        self._manager.save(
            int(step), args=ocp.args.StandardSave(state), metrics={self.metric: float(value)}
        )

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()


@jax.jit
def _all_finite(leaves: list) -> jax.Array:
    return jnp.all(jnp.stack([jnp.isfinite(x).all() for x in leaves]))


def tree_is_finite(tree: PyTree) -> bool:
    """True when every floating-point leaf of `tree` is finite (checked before every save)."""
    leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(jnp.result_type(x), jnp.floating)]
    return bool(_all_finite(leaves)) if leaves else True
