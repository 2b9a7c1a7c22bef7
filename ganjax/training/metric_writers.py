"""Metric writers: TensorBoard event files, metrics.jsonl and log lines.

The interface follows CLU's `metric_writers` (write_scalars / write_images / flush / close), but
TensorBoard files are written with the `tensorboard` package's own event writer: CLU's writers
import TensorFlow, a 600 MB dependency this project otherwise does not need.

A resumed run repeats the steps between its checkpoint and the interruption: `truncate_jsonl`
cuts a step-keyed log back to the restored step first, so each step is logged once.
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import stat
import tempfile
import time
from typing import Mapping

import numpy as np
from absl import logging

Scalars = Mapping[str, float]


class MetricWriter:
    """Base class; every method is a no-op unless overridden."""

    def write_scalars(self, step: int, scalars: Scalars) -> None:
        pass

    def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.flush()


class TensorBoardWriter(MetricWriter):
    """Writes scalars and images ([H, W, C] uint8) to a TensorBoard event file in `logdir`.

    Event files are append-only records and are never cut: after a resume, the events an
    interrupted run wrote past its checkpoint stay in the older file. Readers drop them:
    TensorBoard's default data server keeps, per tag, only the latest values of a step sequence
    that goes back (a step preempts every older record at that step or later), and its Python
    loader (--load_fast=false) purges every event at or after the step of a `SessionLog.START`
    marker that follows an earlier one. Each writer starts its file with that marker at
    `start_step + 1` (the first step it can log).
    """

    def __init__(self, logdir: str | pathlib.Path, start_step: int = 0):
        from tensorboard.compat.proto import event_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._writer = EventFileWriter(str(logdir))
        start = event_pb2.SessionLog(status=event_pb2.SessionLog.START)
        self._writer.add_event(
            event_pb2.Event(wall_time=time.time(), step=int(start_step) + 1, session_log=start)
        )

    def _add(self, step: int, values) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2

        summary = summary_pb2.Summary(value=values)
        self._writer.add_event(
            event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary)
        )

    def write_scalars(self, step, scalars):
        from tensorboard.compat.proto import summary_pb2

        self._add(
            step,
            [summary_pb2.Summary.Value(tag=k, simple_value=float(v)) for k, v in scalars.items()],
        )

    def write_images(self, step, images):
        from PIL import Image
        from tensorboard.compat.proto import summary_pb2

        values = []
        for tag, image in images.items():
            buf = io.BytesIO()
            Image.fromarray(np.squeeze(image)).save(buf, format="PNG")
            h, w = image.shape[:2]
            c = image.shape[2] if image.ndim == 3 else 1
            encoded = summary_pb2.Summary.Image(
                height=h, width=w, colorspace=c, encoded_image_string=buf.getvalue()
            )
            values.append(summary_pb2.Summary.Value(tag=tag, image=encoded))
        self._add(step, values)

    def flush(self):
        self._writer.flush()

    def close(self):
        self._writer.close()


class JsonlWriter(MetricWriter):
    """Appends one JSON object per `write_scalars` call ({"step": s, ...}) to a file."""

    def __init__(self, path: str | pathlib.Path):
        self._file = open(path, "a")

    def write_scalars(self, step, scalars):
        record = {"step": int(step), **{k: float(v) for k, v in scalars.items()}}
        self._file.write(json.dumps(record) + "\n")

    def flush(self):
        self._file.flush()

    def close(self):
        self._file.close()


class MultiWriter(MetricWriter):
    def __init__(self, writers: list[MetricWriter]):
        self.writers = writers

    def write_scalars(self, step, scalars):
        for w in self.writers:
            w.write_scalars(step, scalars)

    def write_images(self, step, images):
        for w in self.writers:
            w.write_images(step, images)

    def flush(self):
        for w in self.writers:
            w.flush()

    def close(self):
        for w in self.writers:
            w.close()


def create_default_writer(workdir: str | pathlib.Path, start_step: int = 0) -> MultiWriter:
    """TensorBoard files in <workdir>/tensorboard plus <workdir>/metrics.jsonl, for a run that
    continues from `start_step` (cut metrics.jsonl back to it first: `truncate_jsonl`)."""
    workdir = pathlib.Path(workdir)
    (workdir / "tensorboard").mkdir(parents=True, exist_ok=True)
    return MultiWriter(
        [
            TensorBoardWriter(workdir / "tensorboard", start_step),
            JsonlWriter(workdir / "metrics.jsonl"),
        ]
    )


def read_jsonl(path: str | pathlib.Path) -> list[dict]:
    """Reads metrics.jsonl back, skipping a torn last line left by a killed run."""
    records = []
    for line in pathlib.Path(path).read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            logging.warning("Skipping unreadable line in %s: %r", path, line[:80])
    return records


def truncate_jsonl(path: str | pathlib.Path, step: int) -> int:
    """Cuts a step-keyed jsonl log (one {"step": s, ...} object a line) back to `step`.

    A run resumed from its checkpoint at `step` repeats the steps after it, which an interrupted
    run may already have logged; cut first, each step is logged once. The records with
    "step" <= `step` are kept, in their order; records after it, and a torn line a killed run
    left, are dropped (`step` 0: a run starting afresh, every record). The file is rewritten
    atomically (a temporary file in its folder, then os.replace), so a kill during the rewrite
    leaves the old file or the new one, never a mix. A missing file, or one with nothing to
    drop, is left untouched. (TensorBoard event files cannot be cut: see TensorBoardWriter.)

    Args:
      path: the log.
      step: the step the run continues from.

    Returns:
      The number of lines dropped.
    """
    path = pathlib.Path(path)
    if not path.exists():
        return 0
    lines = path.read_text().splitlines(keepends=True)
    keep = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # A torn line.
        if int(record["step"]) <= step:
            keep.append(line if line.endswith("\n") else line + "\n")
    if keep == lines:
        return 0
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.writelines(keep)
        os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))  # mkstemp's file is owner-only.
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    dropped = len(lines) - len(keep)
    logging.info("Cut %s back to step %d (%d line(s) dropped)", path, step, dropped)
    return dropped
