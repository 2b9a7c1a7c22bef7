"""Host-memory settings that XLA:CPU needs to run convolutional GAN steps at full speed.

XLA:CPU allocates every step's temporary buffers (about 500 MB for a DCGAN-64 step at batch 64)
afresh. glibc's malloc serves allocations that large with `mmap`, and on threads other than the
main one from per-thread arenas whose heaps are capped at 64 MB, so larger blocks always come
from `mmap` there. Every step then page-faults all of that memory in again: on the 2-core
machine, 1.26 GB of page faults and 0.6 s of kernel time per DCGAN-64 step (a 1.6 s step).
`tune_allocator` makes glibc keep freed memory and reuse it: no `mmap` for large blocks, no
trimming, and (for models with large activations) one arena, whose heap has no size cap. That
removes the faults (0.007 s of kernel time per step). Trimming is off altogether (mallopt's -1):
the largest positive threshold, 2**31 - 1, still returned the heap top whenever more than 2 GB
was freed at once, such as a CycleGAN-256 step's 5.9 GB of temporaries, which then faulted in
again every step (8.7 s of kernel time in a 14.5 s step; 9.1-9.5 s steps without). A single
buffer above 2 GB is still faulted in on every call (measured; no shipped step has one). The
costs: the process keeps its peak heap instead of returning memory to the system (14.8 GB
resident for the CycleGAN-256 benchmark), and one arena serializes malloc across threads, which
slows steps that take a few milliseconds (the MLP GANs), so those keep per-thread arenas.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import sys

from absl import logging

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8

ENV_VAR = "GANJAX_MALLOC"
# Fully connected models: small activations, millisecond steps (keep per-thread arenas).
SMALL_ACTIVATION_MODELS = ("mlp", "paper_mnist")

_applied: list[str] = []


def wants_single_arena(model_name: str) -> bool:
    """True for models whose steps allocate blocks above glibc's 64 MB per-thread heap cap."""
    return model_name not in SMALL_ACTIVATION_MODELS


def tune_allocator(*, single_arena: bool) -> str:
    """Makes glibc malloc reuse large freed blocks; returns what was done, for the logs.

    Call it before JAX starts its CPU client (the training and benchmark commands do, first
    thing in main); only the first call has an effect. Does nothing when the C library is not
    glibc, or when the environment variable GANJAX_MALLOC is "system".
    """
    if _applied:
        return _applied[0]
    if os.environ.get(ENV_VAR, "").lower() == "system":
        result = f"system ({ENV_VAR}=system)"
    elif not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        result = "system (not glibc)"
    else:
        from jax._src import xla_bridge

        if xla_bridge.backends_are_initialized():
            logging.warning(
                "tune_allocator was called after JAX started; XLA's threads keep their malloc "
                "arenas."
            )
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        params = [(_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, -1)] + (
            [(_M_ARENA_MAX, 1)] if single_arena else []
        )
        ok = all(libc.mallopt(param, value) == 1 for param, value in params)
        result = (
            ("reuse, one arena" if single_arena else "reuse") if ok else "system (mallopt refused)"
        )
    _applied.append(result)
    return result


def allocator_setting() -> str:
    """What `tune_allocator` did in this process ("system (not tuned)" if it was not called)."""
    return _applied[0] if _applied else "system (not tuned)"
