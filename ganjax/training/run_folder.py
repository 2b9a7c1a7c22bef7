"""A run folder's config.json, kept true when the run is resumed with another config.

`write_config` writes <workdir>/config.json for the training loop. When the folder already holds
a run (a checkpoint and a config.json), the new config is compared with the saved one first:

- a change of a key in `FREE_KEYS` (how often to log, checkpoint and evaluate; where the data
  and caches are) leaves the trained state alone and passes;
- `train.num_steps` / `train.num_epochs` (training a run further, or stopping it earlier) pass
  unless an optimizer's learning-rate schedule depends on the total number of steps
  (`linear_decay`): the steps already taken then followed another schedule than the new total
  gives, and the result differs from a run trained with the new config from the start;
- any other change (a learning rate, the model, the loss, the data, the seed ...) alters the
  results and is refused with `ConfigChangedError`, naming each changed key with its old and new
  value, unless the caller allows it (experiments.train --allow_config_change).

Every change that goes through, free or allowed, is appended to <workdir>/config_changes.jsonl
with the checkpoint step it applies from, and config.json then holds the new config, so the
folder says what produced its checkpoints.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging

from ganjax.errors import IncompatibleRunError
from ganjax.training import checkpointing, distributed, optim

CONFIG_FILE = "config.json"
CHANGES_FILE = "config_changes.jsonl"

# Keys whose change leaves the trained state, and so the results, as they are.
FREE_KEYS = frozenset(
    {
        "train.log_every_steps",  # Which steps' mean losses are logged.
        "ckpt.every_steps",  # Where a run can resume from (resume is exact).
        "ckpt.max_to_keep",
        "eval.every_steps",  # Sample grids and the method's evaluation (accuracy, FID ...).
        "eval.fid_every_steps",  # Periodic FID: which steps get a FID, not what it is.
        "eval.grid_rows",  # Sample grid layout.
        "data.cache_dir",  # Caches are keyed by what produced them.
        # Where the dataset's files are; the files there are taken to be the same dataset.
        "data.manual_dir",
        "data.tfds_data_dir",
        "data.test_manual_dir",
    }
)
# The run's length: free unless a learning-rate schedule spans the total number of steps.
LENGTH_KEYS = frozenset({"train.num_steps", "train.num_epochs"})

_UNSET = "<unset>"


class ConfigChangedError(IncompatibleRunError):
    """Resuming a run folder with a config that would change the run's results."""


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """A nested dict (a config's JSON) as {dotted key: leaf value}."""
    if not isinstance(node, dict) or not node:
        return {prefix: node}
    out = {}
    for k, v in node.items():
        out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def config_diff(old: dict, new: dict) -> dict[str, tuple[Any, Any]]:
    """{dotted key: (old value, new value)} for every leaf that differs between two configs'
    JSON (a key only one of them has reads "<unset>" in the other)."""
    a, b = flatten(old), flatten(new)
    return {
        k: (a.get(k, _UNSET), b.get(k, _UNSET))
        for k in sorted(set(a) | set(b))
        if a.get(k, _UNSET) != b.get(k, _UNSET)
    }


def schedules_spanning_num_steps(config: ml_collections.ConfigDict) -> list[str]:
    """The optimizers (`optim.<player>`) whose learning-rate schedule depends on the run's
    total number of steps, found by building each schedule for two totals and comparing it step
    by step (so a schedule added to ganjax/training/optim.py is judged without a list to update)."""
    out = []
    for name, cfg in sorted(config.get("optim", {}).items()):
        if not isinstance(cfg, ml_collections.ConfigDict) or "schedule" not in cfg:
            continue
        steps = np.arange(2000)
        short, long = (optim.create_schedule(cfg, 100, n) for n in (1000, 2000))
        if not np.allclose(jax.vmap(short)(steps), jax.vmap(long)(steps)):
            out.append(f"optim.{name}.schedule={cfg.schedule!r}")
    return out


def result_changes(
    diff: dict[str, tuple[Any, Any]], config: ml_collections.ConfigDict
) -> dict[str, str]:
    """The changes in `diff` (from `config_diff`, `config` the new config) that alter the run's
    results: {key: "old -> new", with the reason for a length key}."""
    spanning = None
    out = {}
    for key, (old, new) in diff.items():
        if key in FREE_KEYS:
            continue
        line = f"{_short(old)} -> {_short(new)}"
        if key in LENGTH_KEYS:
            steps = diff.get("train.num_steps")
            if key == "train.num_epochs" and steps is None and config.train.num_steps:
                continue  # train.num_steps is set, the same, and wins over num_epochs.
            spanning = schedules_spanning_num_steps(config) if spanning is None else spanning
            if not spanning:
                continue
            line += (
                f" ({', '.join(spanning)} spans the run's total steps: the steps already "
                "taken followed another learning-rate schedule)"
            )
        out[key] = line
    return out


def latest_checkpoint_step(workdir: str | pathlib.Path) -> int | None:
    """The step of the folder's latest checkpoint, or None (a folder without one is left as
    it is: no empty checkpoints/ folder is made)."""
    if not (pathlib.Path(workdir) / "checkpoints").is_dir():  # checkpointing.Checkpointer's.
        return None
    checkpointer = checkpointing.Checkpointer(workdir)
    try:
        return checkpointer.latest_step()
    finally:
        checkpointer.close()


def write_config(
    config: ml_collections.ConfigDict,
    workdir: str | pathlib.Path,
    *,
    allow_change: bool = False,
) -> dict[str, Any] | None:
    """Writes <workdir>/config.json, after checking a change against the run already there.

    Args:
      config: the config the run continues (or starts) with.
      workdir: the run folder.
      allow_change: resume even when the change alters the results (see the module docstring).

    Returns:
      The change recorded in <workdir>/config_changes.jsonl ({"step", "time", "changes":
      {key: {"old", "new"}}, "result_changes": [keys]}), or None when there was none to record
      (a fresh folder, one without a checkpoint, or the same config).

    Raises:
      ConfigChangedError: the folder holds a checkpoint written with another config, the change
        alters the results and `allow_change` is False. Nothing is written then.
    """
    workdir = pathlib.Path(workdir)
    path = workdir / CONFIG_FILE
    text = config.to_json_best_effort(indent=2, sort_keys=True)
    step = latest_checkpoint_step(workdir) if path.exists() else None
    record = None
    if step is not None:
        diff = config_diff(json.loads(path.read_text()), json.loads(text))
        altering = result_changes(diff, config) if diff else {}
        if altering and not allow_change:
            lines = "\n".join(f"  {k}: {v}" for k, v in altering.items())
            raise ConfigChangedError(
                f"{workdir} holds a run (latest checkpoint: step {step}) made with another "
                f"config; resuming it with this config would change its results:\n{lines}\n"
                "To train with this config, use a new --workdir. To continue this run with it "
                "anyway, pass --allow_config_change (train_and_evaluate(..., "
                f"allow_config_change=True)); the change is then recorded in {CHANGES_FILE}. "
                "Changes of cadences and paths pass (ganjax/training/run_folder.py FREE_KEYS)."
            )
        if diff:
            record = {
                "step": step,
                "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "changes": {k: {"old": old, "new": new} for k, (old, new) in diff.items()},
                "result_changes": sorted(altering),
            }
            logging.warning(
                "Resuming %s at step %d with a changed config: %s%s",
                workdir,
                step,
                "; ".join(f"{k}: {_short(o)} -> {_short(n)}" for k, (o, n) in diff.items()),
                " (allowed: --allow_config_change)" if altering else "",
            )
    # Multi-process: every process checks the folder as it was, then process 0 alone writes.
    distributed.barrier("config_checked")
    if not distributed.is_main_process():
        return record
    workdir.mkdir(parents=True, exist_ok=True)
    if record is not None:
        with open(workdir / CHANGES_FILE, "a") as f:
            f.write(json.dumps(record) + "\n")
    tmp = workdir / f".{CONFIG_FILE}.tmp"
    tmp.write_text(text)
    os.replace(tmp, path)  # A kill mid-write leaves the old config.json, never half of one.
    return record


def _short(v: Any, limit: int = 60) -> str:
    s = v if v == _UNSET else repr(v)
    return s if len(s) <= limit else s[: limit - 3] + "..."
