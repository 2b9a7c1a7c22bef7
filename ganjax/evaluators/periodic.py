"""Sample quality during training (`config.eval.fid_every_steps`), for every trainer.

Every N steps (and at the last step) the generator is scored by `fid.SampleQualityEvaluator`; the
metrics go to the metric writers (TensorBoard, metrics.jsonl) as `eval/fid`, `eval/kid`, ..., the
full result with its protocol to <workdir>/eval/quality.jsonl, and the train state to the best
checkpoint by FID (<workdir>/best_checkpoint) when it is the best so far. `final()` gives the
figures for results.json.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any, Callable

import ml_collections

from ganjax.evaluators import fid
from ganjax.training import checkpointing, metric_writers


class PeriodicQuality:
    """Does nothing unless config.eval.fid_every_steps > 0."""

    def __init__(
        self, config: ml_collections.ConfigDict, mesh, image_shape, workdir: pathlib.Path, writer
    ):
        self.every = int(config.eval.get("fid_every_steps", 0) or 0)
        self.writer = writer
        self.path = pathlib.Path(workdir) / "eval" / "quality.jsonl"
        self.evaluator = self.best = None
        if self.every:
            self.evaluator = fid.SampleQualityEvaluator(config, mesh, image_shape)
            self.best = checkpointing.BestCheckpointer(workdir)

    def due(self, step: int, num_steps: int) -> bool:
        return bool(self.every) and (step % self.every == 0 or step == num_steps)

    def __call__(
        self,
        step: int,
        generate_fn: Callable,
        state,
        *,
        latent_dim: int,
        latent_dist: str,
        weights: str,
    ) -> dict[str, Any]:
        result = self.evaluator.evaluate(
            generate_fn,
            latent_dim=latent_dim,
            latent_dist=latent_dist,
            generator_weights=f"{weights} (step {step})",
        )
        result["step"] = step
        self.writer.write_scalars(step, fid.scalars(result))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(result) + "\n")
        self.best.save(step, state, result["fid"])
        return result

    def final(self) -> dict[str, Any]:
        """The last evaluation's metrics and protocol, and the best checkpoint's step and FID."""
        if not self.every or not self.path.exists():
            return {}
        records = metric_writers.read_jsonl(self.path)
        last = records[-1]
        best = min(records, key=lambda r: r["fid"])
        out = {k: last[k] for k in fid.METRIC_KEYS if k in last}
        out.update(
            protocol=last["protocol"],
            fid_step=last["step"],
            best_fid=best["fid"],
            best_fid_step=best["step"],
            best_checkpoint=str(self.best.directory),
        )
        return out

    def close(self) -> None:
        if self.best is not None:
            self.best.close()
