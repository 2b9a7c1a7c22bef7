"""Training methods: the unit of extension of ganjax's one training loop (ganjax/training/train.py).

A method is one module here that owns its state layout (which networks, which optimizers), its
pure train step, its evaluation and its sampling; `config.method` picks it by its `name`. The
loop does the rest (data and device mesh, jit with shardings, checkpoints and exact resume,
NaN/Inf stop, progress, metric writers, sample grids, periodic FID, results.json). Every module
of this package is imported before the registry is read, so adding a method is adding a file
whose class carries `@register` (ganjax/methods/registry.py); docs/methods.md shows how. Methods
defined elsewhere register the same way.
"""

from __future__ import annotations

import importlib
import pkgutil

import ml_collections

from ganjax.errors import ConfigError
from ganjax.methods.base import Data, Method
from ganjax.methods.registry import register, snapshot


def registered() -> dict[str, type[Method]]:
    """Every registered method by name (this package's modules are imported first, so their
    `@register` decorators have run)."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    return snapshot()


def method_name(config: ml_collections.ConfigDict) -> str:
    """A classifier config's method (`task = "classifier"`: the transfer head for
    `model.name = "transfer"`, else the conv classifier), else config.method ("gan" if unset)."""
    if config.get("task") == "classifier":
        return "transfer_head" if config.model.name == "transfer" else "classifier"
    return config.get("method") or "gan"


def method_class(name: str) -> type[Method]:
    """The method class called `name` (ValueError naming the choices for an unknown one)."""
    methods = registered()
    if name not in methods:
        raise ConfigError(
            f"Unknown config.method '{name}'; choose one of {sorted(methods)} "
            "(or add one: docs/methods.md)."
        )
    return methods[name]


def get_method(config: ml_collections.ConfigDict) -> Method:
    """The configured method, bound to `config` (ValueError for an unknown config.method)."""
    return method_class(method_name(config))(config)


__all__ = ["Data", "Method", "get_method", "method_class", "method_name", "register", "registered"]
