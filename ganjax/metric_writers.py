"""Metric writers: TensorBoard event files, metrics.jsonl and log lines.

The interface follows CLU's `metric_writers` (write_scalars / write_images / flush / close), but
TensorBoard files are written with the `tensorboard` package's own event writer: CLU's writers
import TensorFlow, a 600 MB dependency this project otherwise does not need.
"""

from __future__ import annotations

import io
import json
import pathlib
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
    """Writes scalars and images ([H, W, C] uint8) to a TensorBoard event file in `logdir`."""

    def __init__(self, logdir: str | pathlib.Path):
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._writer = EventFileWriter(str(logdir))

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


def create_default_writer(workdir: str | pathlib.Path) -> MultiWriter:
    """TensorBoard files in <workdir>/tensorboard plus <workdir>/metrics.jsonl."""
    workdir = pathlib.Path(workdir)
    (workdir / "tensorboard").mkdir(parents=True, exist_ok=True)
    return MultiWriter(
        [TensorBoardWriter(workdir / "tensorboard"), JsonlWriter(workdir / "metrics.jsonl")]
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
