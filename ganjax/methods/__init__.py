"""Training methods: the unit of extension of ganjax's one training loop (ganjax/train.py).

A method is one module here that owns its state layout (which networks, which optimizers), its
pure train step, its evaluation and its sampling; `config.method` picks it by its `name`. The
loop does the rest (data and device mesh, jit with shardings, checkpoints and exact resume,
NaN/Inf stop, progress, metric writers, sample grids, periodic FID, results.json). Every module
of this package is scanned for `Method` subclasses, so adding a method is adding a file;
docs/methods.md shows how. Methods defined elsewhere can be added with `register`.
"""

from __future__ import annotations

import importlib
import pkgutil

import ml_collections

from ganjax.errors import ConfigError
from ganjax.methods.base import Data, Method

_EXTRA: dict[str, type[Method]] = {}


def register(cls: type[Method]) -> type[Method]:
    """Registers a method class defined outside this package (usable as a decorator)."""
    _EXTRA[cls.name] = cls
    return cls


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def registered() -> dict[str, type[Method]]:
    """Every method by name: the Method subclasses of this package's modules, and `register`ed
    ones."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    found: dict[str, type[Method]] = {}
    for cls in [*_subclasses(Method), *_EXTRA.values()]:
        name = cls.__dict__.get("name")  # Its own name: a subclass does not inherit one.
        if not name or found.get(name) is cls:
            continue
        if name in found:
            raise ValueError(
                f"Two training methods are called '{name}': {found[name].__qualname__} and "
                f"{cls.__qualname__}; give each its own `name`."
            )
        found[name] = cls
    return found


def method_name(config: ml_collections.ConfigDict) -> str:
    """config.method ("gan" when the config has no such key)."""
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
