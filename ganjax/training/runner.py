"""One entry for every experiment: a training method of the one loop (`config.method`: gan,
ssl_gan, cgan, vae_gan, ...; `config.task = "classifier"`: the domain classifier method, or with
`config.model.name = "transfer"` a head on frozen features), or a task that the module
implementing it registers (`register_task`; the synthetic-data pipeline, whose stages are runs
of this runner). ganjax/tools/tasks.py imports every such module: call its `train_and_evaluate`."""

from __future__ import annotations

from typing import Any, Callable

from ganjax.errors import ConfigError

# (config, workdir, *, num_devices) -> results.
TaskFn = Callable[..., dict[str, Any]]

_TASKS: dict[str, TaskFn] = {}


def register_task(name: str, fn: TaskFn) -> TaskFn:
    """Makes `config.task = name` run `fn(config, workdir, num_devices=...)`."""
    _TASKS[name] = fn
    return fn


def train_and_evaluate(config, workdir, *, num_devices: int | None = None) -> dict[str, Any]:
    task = config.get("task")
    if task in _TASKS:
        return _TASKS[task](config, workdir, num_devices=num_devices)
    if task == "classifier" and config.model.name == "transfer":
        from ganjax.classifiers import transfer_classifier

        return transfer_classifier.train_and_evaluate(config, workdir, num_devices=num_devices)
    if task and task != "classifier":
        raise ConfigError(
            f"Unknown config.task '{task}'; choose classifier, {', '.join(sorted(_TASKS))} or "
            "none (a training method). Library callers: run tasks through "
            "ganjax.tools.tasks.train_and_evaluate, which registers them all."
        )
    from ganjax.training import train  # The domain classifier is a method of the loop too.

    return train.train_and_evaluate(config, workdir, num_devices=num_devices)
