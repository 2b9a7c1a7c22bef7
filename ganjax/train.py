"""GAN training: the pure train step and the `train_and_evaluate(config, workdir)` loop.

Schedule per training step (as in the PyTorch DCGAN reference): the generator produces one batch
of fakes from fresh latents; the discriminator takes `d_steps` updates (the last on those fakes,
earlier ones on fakes of their own), each on its own real batch, with real and fake images in
separate forward passes (separate batch-norm statistics); then the generator takes one update
through the just-updated discriminator. The step's randomness is `fold_in(loop_key, step)`, so a
restarted run reproduces an uninterrupted one exactly.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging

from ganjax import checkpointing, losses, metric_writers, models, optim, parallel
from ganjax.data import BatchIterator, load_split, prefetch
from ganjax.evaluators import curves, periodic, samples
from ganjax.train_state import GANTrainState

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]


class NonFiniteError(FloatingPointError):
    """A loss, gradient norm or parameter became NaN or infinite."""


@dataclasses.dataclass(frozen=True)
class StepConfig:
    """The static part of a train step (hashable, so it can be a jit static argument)."""

    loss_type: str
    label_smoothing: float
    latent_dim: int
    latent_dist: str


def to_float_images(images: jax.Array) -> jax.Array:
    """uint8 [0, 255] -> float32 [-1, 1] (done on device; batches travel as uint8)."""
    return images.astype(jnp.float32) * (2.0 / 255.0) - 1.0


def _apply(apply_fn, params, batch_stats, x, **kwargs):
    """Train-mode forward pass returning (output, updated batch_stats)."""
    out, updates = apply_fn({"params": params, "batch_stats": batch_stats}, x, train=True, mutable=["batch_stats"], **kwargs)
    return out, updates.get("batch_stats", batch_stats)


def train_step(state: GANTrainState, batch: Batch, key: jax.Array, cfg: StepConfig) -> tuple[GANTrainState, Metrics]:
    """One GAN iteration: `d_steps` discriminator updates, then one generator update.

    Args:
      state: the replicated train state.
      batch: {"image": uint8 [d_steps, B, H, W, C]}, sharded on B.
      key: the loop key; the step's key is fold_in(key, state.step).
      cfg: static step settings.

    Returns:
      (new state, flat dict of scalar metrics).
    """
    reals = to_float_images(batch["image"])  # [d_steps, B, H, W, C]
    d_steps, b = reals.shape[:2]
    step_key = jax.random.fold_in(key, state.step)
    keys = jax.random.split(step_key, d_steps)
    latents = lambda k: models.sample_latents(k, b, cfg.latent_dim, cfg.latent_dist)

    # The generator's forward pass for its own update; its fakes also feed the last D update.
    def g_forward(g_params):
        return _apply(state.g_apply_fn, g_params, state.g_batch_stats, latents(keys[-1]))

    fakes, g_vjp, g_batch_stats = jax.vjp(g_forward, state.g_params, has_aux=True)

    def d_loss_fn(d_params, d_batch_stats, real, fake):
        real_logits, d_batch_stats = _apply(state.d_apply_fn, d_params, d_batch_stats, real)
        fake_logits, d_batch_stats = _apply(state.d_apply_fn, d_params, d_batch_stats, fake)
        loss, parts = losses.discriminator_loss(
            real_logits=real_logits, fake_logits=fake_logits, loss_type=cfg.loss_type, label_smoothing=cfg.label_smoothing
        )
        aux = {**parts, "real_prob": jax.nn.sigmoid(real_logits).mean(), "fake_prob": jax.nn.sigmoid(fake_logits).mean()}
        return loss, (aux, d_batch_stats)

    d_params, d_opt_state, d_batch_stats = state.d_params, state.d_opt_state, state.d_batch_stats
    for i in range(d_steps):  # Unrolled: d_steps is small and static.
        if i < d_steps - 1:
            fake, _ = _apply(state.g_apply_fn, state.g_params, state.g_batch_stats, latents(keys[i]))
        else:
            fake = fakes
        (d_loss, (d_aux, d_batch_stats)), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(
            d_params, d_batch_stats, reals[i], jax.lax.stop_gradient(fake)
        )
        updates, d_opt_state = state.d_tx.update(d_grads, d_opt_state, d_params)
        d_params = optax.apply_updates(d_params, updates)

    def g_loss_fn(fake):
        logits, new_d_batch_stats = _apply(state.d_apply_fn, d_params, d_batch_stats, fake)
        return losses.generator_loss(fake_logits=logits, loss_type=cfg.loss_type), new_d_batch_stats

    (g_loss, d_batch_stats), fake_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(fakes)
    (g_grads,) = g_vjp(fake_grads)
    updates, g_opt_state = state.g_tx.update(g_grads, state.g_opt_state, state.g_params)
    g_params = optax.apply_updates(state.g_params, updates)
    if state.ema_decay > 0:
        ema = jax.tree.map(lambda e, p: state.ema_decay * e + (1.0 - state.ema_decay) * p, state.ema_g_params, g_params)
    else:
        ema = g_params

    new_state = state.replace(
        step=state.step + 1,
        g_params=g_params,
        d_params=d_params,
        g_batch_stats=g_batch_stats,
        d_batch_stats=d_batch_stats,
        g_opt_state=g_opt_state,
        d_opt_state=d_opt_state,
        ema_g_params=ema,
    )
    metrics = {
        "d/loss": d_loss,
        "d/loss_real": d_aux["loss_real"],
        "d/loss_fake": d_aux["loss_fake"],
        "d/real_prob": d_aux["real_prob"],
        "d/fake_prob": d_aux["fake_prob"],
        "d/grad_norm": optax.global_norm(d_grads),
        "g/loss": g_loss,
        "g/grad_norm": optax.global_norm(g_grads),
    }
    return new_state, metrics


def create_train_state(
    config: ml_collections.ConfigDict, image_shape: tuple[int, int, int], key: jax.Array, steps_per_epoch: int, num_steps: int
) -> GANTrainState:
    """Initializes both networks and both optimizers from the config."""
    generator, discriminator = models.create_models(config.model, image_shape)
    g_key, d_key = jax.random.split(key)
    z = jnp.zeros((2, config.model.latent_dim), jnp.float32)
    x = jnp.zeros((2, *image_shape), jnp.float32)
    g_variables = jax.jit(functools.partial(generator.init, train=False))(g_key, z)
    d_variables = jax.jit(functools.partial(discriminator.init, train=False))(d_key, x)
    g_tx, d_tx = optim.create_optimizers(config, steps_per_epoch, num_steps)
    return GANTrainState.create(
        g_apply_fn=generator.apply,
        d_apply_fn=discriminator.apply,
        g_variables=g_variables,
        d_variables=d_variables,
        g_tx=g_tx,
        d_tx=d_tx,
        ema_decay=config.model.ema_decay,
    )


def step_config(config: ml_collections.ConfigDict) -> StepConfig:
    return StepConfig(
        loss_type=config.loss.type,
        label_smoothing=config.loss.label_smoothing,
        latent_dim=config.model.latent_dim,
        latent_dist=config.model.latent_dist,
    )


def jit_step(step_fn, mesh, state_sharding, batch_axis: int):
    """jit-compiles `step_fn(state, batch, key)` for `mesh`: state replicated (and donated),
    batch arrays sharded on `batch_axis`, metrics replicated."""
    return jax.jit(
        step_fn,
        in_shardings=(state_sharding, parallel.batch_sharding(mesh, batch_axis), parallel.replicated(mesh)),
        out_shardings=(state_sharding, parallel.replicated(mesh)),
        donate_argnums=(0,),
    )


def make_train_step(cfg: StepConfig, mesh, state_sharding):
    """The GAN train_step, jitted for `mesh` (batches are [d_steps, B, ...], sharded on B)."""
    return jit_step(functools.partial(train_step, cfg=cfg), mesh, state_sharding, batch_axis=1)


def save_checkpoint(checkpointer: checkpointing.Checkpointer, step: int, state) -> None:
    """Saves `state` unless a parameter is NaN/inf (then stops, keeping the last good one)."""
    if not checkpointing.tree_is_finite(state):
        check_finite({"parameters": float("nan")}, step, checkpointer)
    checkpointer.save(step, state)


def replicate_and_resume(state, mesh, workdir, max_to_keep: int):
    """Replicates a fresh state over `mesh` and restores the workdir's latest checkpoint, if any.

    Returns:
      (state, its sharding, the run's Checkpointer).
    """
    state_sharding = jax.tree.map(lambda _: parallel.replicated(mesh), state)
    state = jax.device_put(state, state_sharding)
    checkpointer = checkpointing.Checkpointer(workdir, max_to_keep=max_to_keep)
    if checkpointer.latest_step() is not None:
        state = checkpointer.restore(state)
        logging.info("Resumed from %s at step %d", checkpointer.directory, int(state.step))
    return state, state_sharding, checkpointer


@functools.partial(jax.jit, static_argnames=("use_ema",))
def generate(state: GANTrainState, z: jax.Array, use_ema: bool = True) -> jax.Array:
    """Images in [-1, 1] from latents `z`, with the generator in inference mode."""
    return state.g_apply_fn(state.g_variables(use_ema), z, train=False)


def load_train_data(config: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
    d = config.data
    return load_split(
        d.name,
        d.train_split,
        manual_dir=d.manual_dir or None,
        tfds_data_dir=d.tfds_data_dir or None,
        image_size=d.get("image_size") or None,
        max_examples=d.max_examples or None,
        cache_dir=d.cache_dir,
    )


def derive_num_steps(config: ml_collections.ConfigDict, steps_per_epoch: int) -> int:
    if config.train.num_steps:
        return int(config.train.num_steps)
    if config.train.num_epochs:
        return int(round(config.train.num_epochs * steps_per_epoch))
    raise ValueError("Set config.train.num_steps or config.train.num_epochs")


def check_finite(metrics: dict[str, float], step: int, checkpointer: checkpointing.Checkpointer) -> None:
    bad = {k: v for k, v in metrics.items() if not np.isfinite(v)}
    if bad:
        last = checkpointer.latest_step()
        kept = f"The last good checkpoint (step {last}) in {checkpointer.directory} is kept" if last is not None else "No checkpoint had been written yet"
        raise NonFiniteError(
            f"Training diverged by step {step}: non-finite {bad}. {kept}; nothing after the "
            "divergence was saved. Lower the learning rates (--config.optim.g.learning_rate, "
            "--config.optim.d.learning_rate), or set --config.optim.d.grad_clip_norm, and rerun."
        )


def pull_metrics(pending: list[Metrics], step: int, checkpointer: checkpointing.Checkpointer) -> dict[str, float]:
    """Host means of the metrics gathered since the last log step (one device sync); stops with
    NonFiniteError on NaN/inf, keeping the last good checkpoint."""
    host = jax.device_get(pending)
    means = {k: float(np.mean([m[k] for m in host])) for k in host[0]}
    check_finite(means, step, checkpointer)
    return means


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | pathlib.Path, *, num_devices: int | None = None) -> dict[str, Any]:
    """Trains a GAN as configured, writing everything under `workdir`, resuming if possible.

    Returns:
      The final results (also written to <workdir>/results.json).
    """
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.json").write_text(config.to_json_best_effort(indent=2, sort_keys=True))

    data = load_train_data(config)
    image_shape = tuple(data["image"].shape[1:])
    (workdir / "data_info.json").write_text(
        json.dumps({"image_shape": list(image_shape), "num_train_examples": len(data["image"])})
    )
    mesh = parallel.create_mesh(num_devices)
    parallel.check_batch_size(config.train.batch_size, mesh)
    d_steps = config.train.d_steps
    batches_per_epoch = len(data["image"]) // (config.train.batch_size * d_steps)
    num_steps = derive_num_steps(config, max(batches_per_epoch, 1))

    root = jax.random.key(config.seed)
    init_key, loop_key, sample_key = jax.random.split(root, 3)
    state = create_train_state(config, image_shape, init_key, max(batches_per_epoch, 1), num_steps)
    state, state_sharding, checkpointer = replicate_and_resume(state, mesh, workdir, config.ckpt.max_to_keep)
    start_step = int(state.step)

    iterator = BatchIterator(
        data, batch_size=config.train.batch_size, seed=config.seed, start_step=start_step, batches_per_step=d_steps
    )
    batches = prefetch(iterator, functools.partial(parallel.put_batch, sharding=parallel.batch_sharding(mesh, 1)))
    step_fn = make_train_step(step_config(config), mesh, state_sharding)
    fixed_z = models.sample_latents(sample_key, config.eval.num_samples, config.model.latent_dim, config.model.latent_dist)

    writer = metric_writers.create_default_writer(workdir)
    quality = periodic.PeriodicQuality(config, mesh, image_shape, workdir, writer)
    eval_every = config.eval.every_steps or iterator.steps_per_epoch  # Default: once per epoch.
    ckpt_every = config.ckpt.every_steps or num_steps
    log_every = config.train.log_every_steps
    logging.info(
        "Training %s on %s %s: %d steps (%d per epoch), batch %d on %d device(s), workdir %s",
        config.model.name, config.data.name, image_shape, num_steps, iterator.steps_per_epoch,
        config.train.batch_size, mesh.devices.size, workdir,
    )

    def save_samples(step: int) -> None:
        images = np.asarray(jax.device_get(generate(state, fixed_z, use_ema=True)))
        grid = samples.make_grid(images)
        samples.save_png(grid, workdir / "samples" / f"step_{step:07d}.png")
        writer.write_images(step, {"samples": grid})

    pending: list[Metrics] = []
    last = {}
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
            if step % log_every == 0 or is_ckpt or step == num_steps:
                last = pull_metrics(pending, step, checkpointer)
                pending = []
                now = time.perf_counter()
                if step > window_start:
                    elapsed = now - t_window - paused  # Sample grids and saves excluded.
                    sps = (step - window_start) / elapsed
                    train_time += elapsed
                    timed_steps += step - window_start
                    last["train/steps_per_sec"] = sps
                    last["train/images_per_sec"] = sps * config.train.batch_size
                    eta = (num_steps - step) / sps
                    logging.info(
                        "step %d/%d  d_loss %.4f  g_loss %.4f  D(x) %.3f  D(G(z)) %.3f  %.1f steps/s  ETA %dm%02ds",
                        step, num_steps, last["d/loss"], last["g/loss"], last["d/real_prob"], last["d/fake_prob"],
                        sps, eta // 60, eta % 60,
                    )
                t_window, window_start, paused = now, step, 0.0
                writer.write_scalars(step, last)
            t_pause = time.perf_counter()
            if step % eval_every == 0 or step == num_steps:
                save_samples(step)
            if quality.due(step, num_steps):
                quality(step, lambda z, s=state: generate(s, z, use_ema=True), state, latent_dim=config.model.latent_dim,
                        latent_dist=config.model.latent_dist, weights="ema" if state.ema_decay > 0 else "raw")
            if is_ckpt:
                save_checkpoint(checkpointer, step, state)
            paused += time.perf_counter() - t_pause
        if step == start_step and start_step:
            logging.info("Nothing to do: the checkpoint is already at step %d of %d", start_step, num_steps)
    finally:
        checkpointer.close()
        quality.close()
        writer.close()

    records = metric_writers.read_jsonl(workdir / "metrics.jsonl")
    curves.plot_curves(records, ["d/loss", "g/loss"], workdir / "loss_curves.png", title=f"{config.data.name} {config.model.name}")
    results = {
        "step": int(state.step),
        "d_loss": last.get("d/loss"),
        "g_loss": last.get("g/loss"),
        "d_real_prob": last.get("d/real_prob"),
        "d_fake_prob": last.get("d/fake_prob"),
        "steps_per_sec": timed_steps / train_time if train_time else None,
        "images_per_sec": timed_steps * config.train.batch_size / train_time if train_time else None,
        "num_devices": int(mesh.devices.size),
        "samples": str(workdir / "samples"),
        "checkpoints": str(checkpointer.directory),
    }
    if not last and records:  # Resumed at the end: report the logged final losses.
        final = records[-1]
        results.update(d_loss=final.get("d/loss"), g_loss=final.get("g/loss"))
    results.update(quality.final())
    (workdir / "results.json").write_text(json.dumps(results, indent=2))
    return results
