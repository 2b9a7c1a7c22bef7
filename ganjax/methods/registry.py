"""The method registry: `@register` on a Method class makes `config.method = cls.name` run it.

Registration is explicit: defining a subclass of a method (in a test, a notebook, another
method) registers nothing. `ganjax.methods.registered()` imports every module of this package
first, so the package's own methods are always there.
"""

from __future__ import annotations

from typing import TypeVar

from ganjax.methods.base import Method

M = TypeVar("M", bound=type[Method])

_REGISTRY: dict[str, type[Method]] = {}


def register(cls: M) -> M:
    """Class decorator: registers `cls` under its own `name` (ValueError for a missing or taken
    one; registering the same class again, e.g. on a module reload, is allowed)."""
    name = cls.__dict__.get("name")  # Its own: a subclass does not inherit its parent's name.
    if not name:
        raise ValueError(f"{cls.__qualname__} has no `name` of its own; set one to register it.")
    other = _REGISTRY.get(name)
    same = other is not None and (other.__module__, other.__qualname__) == (
        cls.__module__,
        cls.__qualname__,
    )
    if other is not None and not same:
        raise ValueError(
            f"Two training methods are called '{name}': {other.__module__}.{other.__qualname__} "
            f"and {cls.__module__}.{cls.__qualname__}; give each its own `name`."
        )
    _REGISTRY[name] = cls
    return cls


def snapshot() -> dict[str, type[Method]]:
    """The methods registered so far, by name."""
    return dict(_REGISTRY)
