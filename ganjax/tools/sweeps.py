"""Hyper-parameter grids: parsing, run naming, resumable execution and result tables.

A sweep string is `key=v1,v2;other.key=v3,v4`: the grid is the product of the axes. Each point
runs `experiments.train` in its own process (a crash does not stop the sweep) in
<workdir>/<run name>; a point whose results.json exists is not run again, and an interrupted
one resumes from its checkpoint.
"""

from __future__ import annotations

import concurrent.futures
import csv
import itertools
import json
import os
import pathlib
import re
import subprocess
import sys

from absl import logging

from ganjax.errors import ConfigError


def parse_sweep(spec: str) -> list[tuple[str, list[str]]]:
    """'a.b=1,2;c=x' -> [('a.b', ['1', '2']), ('c', ['x'])].

    Raises:
      ValueError: for an axis without '=' or without values, or a key given twice.
    """
    axes = []
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        key, sep, values = part.partition("=")
        vals = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not key.strip() or not vals:
            raise ConfigError(f"Bad sweep axis '{part}': write key=value1,value2")
        axes.append((key.strip(), vals))
    keys = [k for k, _ in axes]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"A sweep key appears twice: {keys}")
    if not axes:
        raise ConfigError(
            "Empty --sweep; write e.g. 'optim.d.learning_rate=1e-3,3e-4;model.dropout=0.3,0.5'"
        )
    return axes


def grid(axes: list[tuple[str, list[str]]]) -> list[dict[str, str]]:
    keys = [k for k, _ in axes]
    return [dict(zip(keys, combo)) for combo in itertools.product(*(v for _, v in axes))]


def run_name(point: dict[str, str]) -> str:
    name = "__".join(f"{k}={v}" for k, v in point.items())
    return re.sub(r"[^A-Za-z0-9._=+-]", "_", name)


def run_point(
    config_arg: str, workdir: pathlib.Path, point: dict[str, str], extra_flags: list[str]
) -> dict:
    """Runs (or reuses) one grid point in a subprocess; returns its row for the tables."""
    run_dir = workdir / run_name(point)
    results_path = run_dir / "results.json"
    row = {**point, "run": run_name(point)}
    if results_path.exists():
        logging.info("Reusing finished run %s", run_dir)
        return {**row, "status": "done", **json.loads(results_path.read_text())}
    cmd = [
        sys.executable,
        "-m",
        "experiments.train",
        f"--config={config_arg}",
        f"--workdir={run_dir}",
    ]
    cmd += [f"--config.{k}={v}" for k, v in point.items()] + list(extra_flags)
    logging.info("Running %s", " ".join(cmd))
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "log.txt", "a") as log:
        proc = subprocess.run(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=pathlib.Path(__file__).resolve().parents[2],  # The repository root.
            env=os.environ.copy(),
        )
    if proc.returncode != 0 or not results_path.exists():
        tail = (run_dir / "log.txt").read_text().strip().splitlines()[-1:] or ["(no output)"]
        logging.error("Run %s failed (exit %d): %s", run_dir, proc.returncode, tail[0])
        return {**row, "status": f"failed: {tail[0][:200]}"}
    return {**row, "status": "done", **json.loads(results_path.read_text())}


def write_tables(
    rows: list[dict], keys: list[str], workdir: pathlib.Path, metric: str | None
) -> tuple[pathlib.Path, pathlib.Path]:
    """results.csv (every column) and summary.md (sorted by `metric`, best first)."""
    scalar_cols = sorted(
        {
            k
            for r in rows
            for k, v in r.items()
            if k not in keys and k != "run" and isinstance(v, (int, float, str)) and k != "status"
        }
    )
    cols = keys + ["status"] + scalar_cols + ["run"]
    csv_path = workdir / "results.csv"
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    if metric:
        rows = sorted(
            rows,
            key=lambda r: (
                -(r.get(metric) if isinstance(r.get(metric), (int, float)) else float("-inf"))
            ),
        )
    shown = keys + [
        c
        for c in (metric, "test_accuracy", "ema_test_accuracy", "d_loss", "g_loss")
        if c and c in scalar_cols and c not in keys
    ]
    shown = list(dict.fromkeys(shown)) + ["status"]
    lines = ["| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c, "")) for c in shown) + " |")
    md_path = workdir / "summary.md"
    md_path.write_text(
        f"# Sweep over {', '.join(keys)}\n\n"
        + (f"Sorted by {metric} (best first).\n\n" if metric else "")
        + "\n".join(lines)
        + "\n"
    )
    return csv_path, md_path


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def run_sweep(
    config_arg: str,
    workdir: str | pathlib.Path,
    spec: str,
    *,
    jobs: int = 1,
    metric: str | None = None,
    extra_flags: tuple[str, ...] = (),
):
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    axes = parse_sweep(spec)
    points = grid(axes)
    logging.info("Sweep of %d runs in %s", len(points), workdir)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
        rows = list(
            pool.map(lambda p: run_point(config_arg, workdir, p, list(extra_flags)), points)
        )
    return rows, write_tables(rows, [k for k, _ in axes], workdir, metric)
