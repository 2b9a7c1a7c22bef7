"""One entry for every experiment kind: dispatches on `config.task` ("gan", "ssl", "classifier")."""

from __future__ import annotations

from typing import Any


def train_and_evaluate(config, workdir, *, num_devices: int | None = None) -> dict[str, Any]:
    task = config.get("task", "gan")
    if task == "ssl":
        from ganjax import ssl_train

        return ssl_train.train_and_evaluate(config, workdir, num_devices=num_devices)
    if task == "gan":
        from ganjax import train

        return train.train_and_evaluate(config, workdir, num_devices=num_devices)
    if task == "classifier":
        from ganjax import classifier_train

        return classifier_train.train_and_evaluate(config, workdir, num_devices=num_devices)
    raise ValueError(f"Unknown config.task '{task}'; use 'gan', 'ssl' or 'classifier'")
