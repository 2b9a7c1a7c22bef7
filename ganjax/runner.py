"""One entry for every experiment: a domain classifier (`config.task = "classifier"`; with
`config.model.name = "transfer"` a frozen-feature one), the synthetic-data pipeline
(`config.task = "synthetic_pipeline"`), or a training method of the loop (`config.method`: gan,
ssl_gan, cgan, vae_gan; ganjax/methods)."""

from __future__ import annotations

from typing import Any


def train_and_evaluate(config, workdir, *, num_devices: int | None = None) -> dict[str, Any]:
    if config.get("task") == "synthetic_pipeline":
        from ganjax import synthetic_pipeline

        return synthetic_pipeline.run(config, workdir, num_devices=num_devices)
    if config.get("task") == "classifier" and config.model.name == "transfer":
        from ganjax import transfer_classifier

        return transfer_classifier.train_and_evaluate(config, workdir, num_devices=num_devices)
    if config.get("task") == "classifier":
        from ganjax import classifier_train

        return classifier_train.train_and_evaluate(config, workdir, num_devices=num_devices)
    from ganjax import train

    return train.train_and_evaluate(config, workdir, num_devices=num_devices)
