"""One entry for every experiment: a domain classifier (`config.task = "classifier"`) or a
training method of the loop (`config.method`: gan, ssl_gan, ...; ganjax/methods)."""

from __future__ import annotations

from typing import Any


def train_and_evaluate(config, workdir, *, num_devices: int | None = None) -> dict[str, Any]:
    if config.get("task") == "classifier":
        from ganjax import classifier_train

        return classifier_train.train_and_evaluate(config, workdir, num_devices=num_devices)
    from ganjax import train

    return train.train_and_evaluate(config, workdir, num_devices=num_devices)
