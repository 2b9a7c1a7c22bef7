"""Training curves from metrics.jsonl, drawn with matplotlib's Agg backend."""

from __future__ import annotations

import pathlib
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_curves(
    records: Sequence[dict],
    keys: Sequence[str],
    path: str | pathlib.Path,
    *,
    title: str = "",
    ylabel: str = "loss",
) -> bool:
    """Plots each key of `records` against "step" into one PNG; False if no key has data."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    drawn = False
    for key in keys:
        pts = [(r["step"], r[key]) for r in records if key in r]
        if pts:
            ax.plot(*zip(*pts), label=key)
            drawn = True
    if drawn:
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    plt.close(fig)
    return drawn
