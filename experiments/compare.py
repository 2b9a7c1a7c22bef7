"""Compares finished runs: one row per group of seeds, mean +- std of results.json metrics.

  python -m experiments.compare --runs='runs/zoo/*' [--metrics=fid,kid,precision,recall]
      [--out=runs/zoo/table.md]

Runs are grouped by folder name with a trailing `_seed<N>` removed (`ns_da_seed0` and
`ns_da_seed1` form the group `ns_da`); the std is the sample std over the group's runs (ddof 1).
A run without results.json is listed as unfinished; a cell whose metric some of the group's runs
lack says over how many runs it is taken ("(n=1)").
"""

import glob
import json
import pathlib
import re

import numpy as np
from absl import app, flags

from experiments import common

_RUNS = flags.DEFINE_string("runs", None, "Glob of run folders.")
_METRICS = flags.DEFINE_list("metrics", ["fid", "kid", "precision", "recall"], "results.json keys.")
_OUT = flags.DEFINE_string("out", None, "Also write the Markdown table here.")
flags.mark_flags_as_required(["runs"])


def table(run_dirs: list[pathlib.Path], metrics: list[str]) -> str:
    groups: dict[str, list[dict]] = {}
    missing = []
    for d in sorted(run_dirs):
        path = d / "results.json"
        if not path.exists():
            missing.append(d.name)
            continue
        groups.setdefault(re.sub(r"_seed\d+$", "", d.name), []).append(json.loads(path.read_text()))
    lines = ["| run | seeds | " + " | ".join(metrics) + " |", "|---|---|" + "---|" * len(metrics)]
    for name, results in groups.items():
        cells = []
        for m in metrics:
            vals = np.asarray([r[m] for r in results if r.get(m) is not None], np.float64)
            if len(vals) == 0:
                cells.append("-")
            else:
                cell = (
                    f"{vals[0]:.4g}"
                    if len(vals) == 1
                    else (f"{vals.mean():.4g} +- {vals.std(ddof=1):.2g}")
                )
                cells.append(cell if len(vals) == len(results) else f"{cell} (n={len(vals)})")
        lines.append(f"| {name} | {len(results)} | " + " | ".join(cells) + " |")
    if missing:
        lines.append(f"\nNo results.json (unfinished or failed): {', '.join(missing)}")
    return "\n".join(lines)


def main(argv):
    del argv
    common.setup_logging()
    runs = [pathlib.Path(p) for p in glob.glob(_RUNS.value) if pathlib.Path(p).is_dir()]
    if not runs:
        common.fail(FileNotFoundError(f"No run folders match --runs={_RUNS.value}"))
    text = table(runs, _METRICS.value)
    print(text)
    if _OUT.value:
        pathlib.Path(_OUT.value).write_text(text + "\n")


if __name__ == "__main__":
    app.run(main, flags_parser=common.parse_flags)
