"""The one training loop: `train_and_evaluate(config, workdir)` runs any training method.

The method (`config.method`, ganjax/methods) owns its networks, its pure train step, its
evaluation and its sampling. The loop owns everything else: data and device mesh, one jit of the
step with the state replicated (and donated) and batches sharded, orbax checkpoints with exact
resume, the NaN/Inf stop, progress lines with ETA, metric writers (TensorBoard and
metrics.jsonl), sample grids, periodic FID (ganjax/evaluators/periodic.py), curves and
results.json. Each step's randomness is `fold_in(loop_key, step)`, so a restarted run
reproduces an uninterrupted one exactly.
"""

from __future__ import annotations

import functools
import json
import pathlib
import time
from typing import Any

import jax
import ml_collections
from absl import logging

from ganjax import methods
from ganjax.data import prefetch
from ganjax.evaluators import curves, periodic, samples
from ganjax.training import distributed, metric_writers, parallel, run_folder
from ganjax.training.loop_utils import (
    Metrics,
    derive_num_steps,
    jit_step,
    pull_metrics,
    replicate_and_resume,
    save_checkpoint,
)

# The run folder's step-keyed logs (eval/quality.jsonl: ganjax/evaluators/periodic.py's), cut
# back to the restored step on resume: an interrupted run may have logged steps past its last
# checkpoint, which the resumed run repeats.
RUN_LOGS = ("metrics.jsonl", "eval.jsonl", "eval/quality.jsonl")


def create_state(method: methods.Method, data: methods.Data, key: jax.Array):
    """A fresh train state for `data` (schedules derived from the config and the data size)."""
    steps_per_epoch = method.steps_per_epoch(data)
    num_steps = derive_num_steps(method.config.train, steps_per_epoch)
    return method.create_state(data, key, steps_per_epoch, num_steps), num_steps


def _progress(method, last, step, num_steps, sps) -> str:
    keys = method.progress_keys or tuple((k, k) for k in sorted(last))
    parts = "  ".join(f"{label} {last[k]:.4f}" for label, k in keys if k in last)
    eta = (num_steps - step) / sps
    return (
        f"step {step}/{num_steps}  {parts}  {sps:.1f} steps/s  "
        f"ETA {int(eta // 60)}m{int(eta % 60):02d}s"
    )


def _last_training_record(records: list[dict]) -> dict:
    """The last metrics.jsonl record of training metrics (an eval record may follow it)."""
    for record in reversed(records):
        if any("/" in k and not k.startswith("eval/") for k in record):
            return record
    return {}


def train_and_evaluate(
    config: ml_collections.ConfigDict,
    workdir: str | pathlib.Path,
    *,
    num_devices: int | None = None,
    allow_config_change: bool = False,
    method: methods.Method | None = None,
) -> dict[str, Any]:
    """Trains `config.method` as configured, writing everything under `workdir`, resuming if
    possible.

    A resumed run's logs (RUN_LOGS) are cut back to the restored step first, so the steps it
    repeats are logged once. Resuming with a config that changes the run's results is refused
    (ganjax/training/run_folder.py says which changes pass).

    Args:
      config: the experiment config.
      workdir: the run folder.
      num_devices: use the first N local devices (default: all).
      allow_config_change: resume `workdir` even when `config` changes its results (the change
        is recorded in <workdir>/config_changes.jsonl).
      method: the method instance to train (default: `methods.get_method(config)`). For
        methods whose inputs a caller above the loop builds (the transfer head gets its frozen
        features from ganjax/classifiers/transfer_classifier.py).

    Returns:
      The final results (also written to <workdir>/results.json).

    Raises:
      run_folder.ConfigChangedError: `workdir` holds a checkpoint made with a config whose
        change alters the results, and `allow_config_change` is False.
    """
    workdir = pathlib.Path(workdir)
    # Multi-process (training/distributed.py): all processes check the folder, process 0 alone
    # writes it; every process computes the same steps, evaluations and grids.
    main = distributed.is_main_process()
    if jax.process_count() > 1:
        distributed.check_supported(config)
    if main:
        workdir.mkdir(parents=True, exist_ok=True)
    run_folder.write_config(config, workdir, allow_change=allow_config_change)
    method = method or methods.get_method(config)
    data = method.load_data()
    if main:
        (workdir / "data_info.json").write_text(json.dumps(data.info))
    mesh = parallel.create_mesh(num_devices)
    parallel.check_batch_size(config.train.batch_size, mesh)

    init_key, loop_key, sample_key = jax.random.split(jax.random.key(config.seed), 3)
    state, num_steps = create_state(method, data, init_key)
    state, state_sharding, checkpointer = replicate_and_resume(
        state, mesh, workdir, config.ckpt.max_to_keep
    )
    start_step = int(state.step)
    for name in RUN_LOGS if main else ():  # Before the writers append to them.
        metric_writers.truncate_jsonl(workdir / name, start_step)
    iterator = method.batches(data, start_step)  # Global batches: functions of (seed, step).
    put = functools.partial(
        parallel.put_global_batch,
        sharding=parallel.batch_sharding(mesh, method.batch_axis),
        batch_axis=method.batch_axis,
    )
    batches = prefetch(iterator, put)
    step_fn = jit_step(method.train_step, mesh, state_sharding, method.batch_axis)

    writer = (
        metric_writers.create_default_writer(workdir, start_step)
        if main
        else metric_writers.MultiWriter([])
    )
    quality = periodic.PeriodicQuality(config, mesh, data.image_shape, workdir, writer)
    # Default: every epoch; negative: never (no sample grids or evaluations, not even at the end).
    eval_every = config.eval.every_steps or iterator.steps_per_epoch
    ckpt_every = config.ckpt.every_steps or num_steps
    log_every = config.train.log_every_steps
    evals_path = workdir / "eval.jsonl"
    logging.info(
        "Training %s (%s) on %s %s: %d steps (%d per epoch), batch %d on %d device(s), workdir %s",
        method.name,
        config.model.name,
        config.data.name,
        data.image_shape,
        num_steps,
        iterator.steps_per_epoch,
        config.train.batch_size,
        mesh.devices.size,
        workdir,
    )

    def evaluate(step: int) -> dict[str, Any]:
        grid = method.sample_grid(state, data, sample_key)
        if grid is not None and main:
            grid = samples.make_grid(grid, ncols=method.grid_columns)
            samples.save_png(grid, workdir / "samples" / f"step_{step:07d}.png")
            writer.write_images(step, {"samples": grid})
        out = method.evaluate(state, data, step)
        if out and main:
            writer.write_scalars(step, {f"eval/{k}": v for k, v in out.items()})
            with open(evals_path, "a") as f:
                f.write(json.dumps({"step": step, **out}) + "\n")
        return out

    pending: list[Metrics] = []
    last, last_eval = {}, {}
    train_time, timed_steps = 0.0, 0
    t_window, window_start, paused = time.perf_counter(), start_step, 0.0
    step = start_step
    try:
        for step in range(start_step + 1, num_steps + 1):
            state, metrics = step_fn(state, next(batches), loop_key)
            pending.append(metrics)
            if step == start_step + 1:  # Exclude compilation from throughput.
                jax.block_until_ready(metrics)
                t_window, window_start, paused = time.perf_counter(), step, 0.0
            is_ckpt = step % ckpt_every == 0 or step == num_steps
            if step % log_every == 0 or is_ckpt:
                last = pull_metrics(pending, step, checkpointer)
                pending = []
                now = time.perf_counter()
                if step > window_start:
                    elapsed = now - t_window - paused  # Sample grids, evals, saves excluded.
                    sps = (step - window_start) / elapsed
                    train_time += elapsed
                    timed_steps += step - window_start
                    last["train/steps_per_sec"] = sps
                    last["train/images_per_sec"] = sps * config.train.batch_size
                    logging.info("%s", _progress(method, last, step, num_steps, sps))
                t_window, window_start, paused = now, step, 0.0
                writer.write_scalars(step, last)
            t_pause = time.perf_counter()
            if eval_every > 0 and (step % eval_every == 0 or step == num_steps):
                last_eval = evaluate(step)
            if quality.due(step, num_steps):
                gen = method.generator(state, data)
                quality(
                    step,
                    gen.generate,
                    state,
                    latent_dim=gen.latent_dim,
                    latent_dist=gen.latent_dist,
                    weights=gen.weights,
                )
            if is_ckpt:
                save_checkpoint(checkpointer, step, state)
            paused += time.perf_counter() - t_pause
        if step == start_step and start_step:
            logging.info(
                "Nothing to do: the checkpoint is already at step %d of %d", start_step, num_steps
            )
    finally:
        checkpointer.close()
        quality.close()
        writer.close()

    if not main:  # Process 0 reads the logs back and writes the results.
        return {"method": method.name, "step": int(state.step), "num_devices": mesh.devices.size}
    records = metric_writers.read_jsonl(workdir / "metrics.jsonl")
    title = f"{config.data.name} {config.model.name} ({method.name})"
    loss_keys = [k for k in method.loss_keys if records and k in records[-1]]
    if loss_keys:
        curves.plot_curves(records, loss_keys, workdir / "loss_curves.png", title=title)
    evals = metric_writers.read_jsonl(evals_path) if evals_path.exists() else []
    if evals and method.eval_curves:
        label = method.eval_curves_label
        curves.plot_curves(
            evals,
            list(method.eval_curves),
            workdir / f"{label}_curves.png",
            title=title,
            ylabel=label,
        )
    if not last:  # Resumed at the end: report the logged final losses.
        last = _last_training_record(records)
    last_eval = last_eval or (evals[-1] if evals else {})
    results = {
        "method": method.name,
        "step": int(state.step),
        "d_loss": last.get("d/loss"),
        "g_loss": last.get("g/loss"),
        "d_real_prob": last.get("d/real_prob"),
        "d_fake_prob": last.get("d/fake_prob"),
        "steps_per_sec": timed_steps / train_time if train_time else None,
        "images_per_sec": timed_steps * config.train.batch_size / train_time
        if train_time
        else None,
        "wall_seconds": train_time,
        "num_devices": int(mesh.devices.size),
        "samples": str(workdir / "samples"),
        "checkpoints": str(checkpointer.directory),
        **method.results(state, data, last_eval),
        **quality.final(),
    }
    results_path = workdir / "results.json"
    if not timed_steps and results_path.exists():  # Finished before: keep its measured speed.
        before = json.loads(results_path.read_text())
        if before.get("step") == results["step"]:
            for key in ("steps_per_sec", "images_per_sec", "wall_seconds"):
                results[key] = before.get(key, results[key])
    results_path.write_text(json.dumps(results, indent=2))
    return results
