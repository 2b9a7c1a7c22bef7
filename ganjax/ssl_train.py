"""Semi-supervised GAN training (Salimans et al. 2016) and its supervised-only baseline.

Per step: the discriminator (a K-class classifier) takes one update on a labeled batch
(cross-entropy), an unlabeled batch and a batch of fakes (the real/fake loss through its
`gan_logit`); then the generator takes one update through the updated discriminator, by
feature matching against a second, independently shuffled unlabeled batch (or the
non-saturating loss). With `config.loss.supervised_only` the generator and the unlabeled loss
are off: the same classifier on the same labeled subset, the baseline every SSL number needs.
Evaluation (every epoch) reports test and validation accuracy of the raw and the EMA
discriminator; the validation split is carved from the test set and is the one to select on.
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

from ganjax import losses, metric_writers, models, optim, parallel
from ganjax.data import BatchIterator, labeled, load_split, prefetch
from ganjax.evaluators import curves, periodic, samples
from ganjax.models.ssl import create_ssl_models
from ganjax.train import jit_step, pull_metrics, replicate_and_resume, save_checkpoint, to_float_images
from ganjax.train_state import SSLTrainState

Batch = dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class SSLStepConfig:
    extra_class: bool
    supervised_only: bool
    generator_loss: str  # "feature_matching" | "non_saturating"
    fm_distance: str  # "l1" | "l2"
    unsup_weight: float
    latent_dim: int
    latent_dist: str


def _d_apply(state, params, batch_stats, x, rngs):
    (logits, feats), upd = state.d_apply_fn(
        {"params": params, "batch_stats": batch_stats}, x, train=True, rngs=rngs, mutable=["batch_stats"]
    )
    return logits, feats, upd.get("batch_stats", batch_stats)


def ssl_train_step(state: SSLTrainState, batch: Batch, key: jax.Array, cfg: SSLStepConfig):
    """One D update then (unless supervised_only) one G update. Batch arrays are [B, ...]."""
    x_lab = to_float_images(batch["lab_image"])
    y_lab = batch["lab_label"]
    b = x_lab.shape[0]
    k = jax.random.split(jax.random.fold_in(key, state.step), 4)
    rngs = lambda i: {"dropout": jax.random.fold_in(k[i], 0), "noise": jax.random.fold_in(k[i], 1)}
    mask = jnp.ones((b,), jnp.float32)

    def d_loss_fn(d_params, fake):
        lab_logits, _, bs = _d_apply(state, d_params, state.d_batch_stats, x_lab, rngs(0))
        unl_logits = fake_logits = None
        if not cfg.supervised_only:
            unl_logits, _, bs = _d_apply(state, d_params, bs, to_float_images(batch["unl_image"]), rngs(1))
            fake_logits, _, bs = _d_apply(state, d_params, bs, fake, rngs(2))
        loss, parts = losses.ssl_discriminator_loss(
            lab_logits=lab_logits, labels=y_lab, label_mask=mask, unl_logits=unl_logits,
            fake_logits=fake_logits, extra_class=cfg.extra_class, unsup_weight=cfg.unsup_weight,
        )
        num_real = lab_logits.shape[-1] - int(cfg.extra_class)
        parts["train_accuracy"] = jnp.mean(jnp.argmax(lab_logits[:, :num_real], -1) == y_lab)
        return loss, (parts, bs)

    z = models.sample_latents(k[3], b, cfg.latent_dim, cfg.latent_dist)
    g_vars = {"params": state.g_params, "batch_stats": state.g_batch_stats}

    def g_forward(g_params):
        fake, upd = state.g_apply_fn({**g_vars, "params": g_params}, z, train=True, mutable=["batch_stats"])
        return fake, upd.get("batch_stats", state.g_batch_stats)

    if cfg.supervised_only:
        fake = None
    else:
        fake, g_vjp, g_batch_stats = jax.vjp(g_forward, state.g_params, has_aux=True)
    (d_loss, (parts, d_batch_stats)), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(
        state.d_params, None if fake is None else jax.lax.stop_gradient(fake)
    )
    updates, d_opt_state = state.d_tx.update(d_grads, state.d_opt_state, state.d_params)
    d_params = optax.apply_updates(state.d_params, updates)
    ema_d = jax.tree.map(lambda e, p: state.ema_decay * e + (1 - state.ema_decay) * p, state.ema_d_params, d_params)
    metrics = {"d/loss": d_loss, "d/grad_norm": optax.global_norm(d_grads), **{f"d/{n}": v for n, v in parts.items()}}
    new = dict(step=state.step + 1, d_params=d_params, d_opt_state=d_opt_state, d_batch_stats=d_batch_stats, ema_d_params=ema_d)

    if not cfg.supervised_only:
        # The generator's loss through the updated D (its batch statistics are not updated here).
        def g_loss_fn(fake):
            fake_logits, fake_feats, _ = _d_apply(state, d_params, d_batch_stats, fake, rngs(2))
            if cfg.generator_loss == "feature_matching":
                _, real_feats, _ = _d_apply(state, d_params, d_batch_stats, to_float_images(batch["unl2_image"]), rngs(1))
                return losses.feature_matching_loss(real_features=real_feats, fake_features=fake_feats, distance=cfg.fm_distance)
            return jax.nn.softplus(-losses.gan_logit(fake_logits, extra_class=cfg.extra_class)).mean()

        g_loss, fake_grads = jax.value_and_grad(g_loss_fn)(fake)
        (g_grads,) = g_vjp(fake_grads)
        updates, g_opt_state = state.g_tx.update(g_grads, state.g_opt_state, state.g_params)
        new.update(g_params=optax.apply_updates(state.g_params, updates), g_opt_state=g_opt_state, g_batch_stats=g_batch_stats)
        metrics.update({"g/loss": g_loss, "g/grad_norm": optax.global_norm(g_grads)})
    return state.replace(**new), metrics


@functools.partial(jax.jit, static_argnames=("num_classes", "use_ema"))
def predict(state: SSLTrainState, images: jax.Array, num_classes: int, use_ema: bool) -> jax.Array:
    """Class predictions (argmax over the K real classes) in inference mode."""
    params = state.ema_d_params if use_ema else state.d_params
    logits, _ = state.d_apply_fn({"params": params, "batch_stats": state.d_batch_stats}, to_float_images(images), train=False)
    return jnp.argmax(logits[:, :num_classes], -1)


@jax.jit
def generate(state: SSLTrainState, z: jax.Array) -> jax.Array:
    """Generator samples in inference mode."""
    return state.g_apply_fn({"params": state.g_params, "batch_stats": state.g_batch_stats}, z, train=False)


def accuracy(state, images: np.ndarray, labels: np.ndarray, num_classes: int, use_ema: bool, chunk: int = 500) -> float:
    """Accuracy over a whole split, in fixed-size chunks (the last one padded)."""
    correct = 0
    for start in range(0, len(images), chunk):
        x = images[start : start + chunk]
        n = len(x)
        if n < chunk:
            x = np.concatenate([x, np.zeros((chunk - n, *x.shape[1:]), x.dtype)])
        pred = np.asarray(predict(state, x, num_classes, use_ema))[:n]
        correct += int((pred == labels[start : start + n]).sum())
    return correct / len(images)


def create_ssl_state(config, image_shape, num_classes, init_images: np.ndarray, key, steps_per_epoch, num_steps) -> SSLTrainState:
    """Initializes G and D; D's weight-norm layers are initialized from `init_images` (data-dependent)."""
    generator, discriminator = create_ssl_models(config.model, image_shape, num_classes)
    g_key, d_key, z_key = jax.random.split(key, 3)
    # Real latent draws, not zeros: G's weight-norm output layer is initialized from its statistics.
    z = models.sample_latents(z_key, len(init_images), config.model.latent_dim, config.model.latent_dist)
    g_vars = jax.jit(functools.partial(generator.init, train=False))(g_key, z)
    # Data-dependent init with the discriminator in training mode (noise and dropout on), as the
    # paper's code does, so the initial scales account for the regularizing noise.
    d_rngs = {"params": d_key, "noise": jax.random.fold_in(d_key, 1), "dropout": jax.random.fold_in(d_key, 2)}
    d_vars = jax.jit(functools.partial(discriminator.init, train=True))(d_rngs, to_float_images(jnp.asarray(init_images)))
    g_tx, d_tx = optim.create_optimizers(config, steps_per_epoch, num_steps)
    return SSLTrainState(
        step=jnp.zeros((), jnp.int32),
        g_params=g_vars["params"],
        d_params=d_vars["params"],
        g_batch_stats=g_vars.get("batch_stats", {}),
        d_batch_stats=d_vars.get("batch_stats", {}),
        g_opt_state=g_tx.init(g_vars["params"]),
        d_opt_state=d_tx.init(d_vars["params"]),
        ema_d_params=jax.tree.map(jnp.copy, d_vars["params"]),
        g_apply_fn=generator.apply,
        d_apply_fn=discriminator.apply,
        g_tx=g_tx,
        d_tx=d_tx,
        ema_decay=config.model.ema_decay,
    )


class SSLBatches:
    """Labeled (re-tiled to the unlabeled size, reshuffled every pass), unlabeled, and a second
    independently shuffled unlabeled stream; all resumable from any step."""

    def __init__(self, train, lab_idx, batch_size, seed, start_step):
        n = len(train["image"])
        tiled = labeled.tile_to(lab_idx, max(n, batch_size))
        lab = {"image": train["image"][tiled], "label": train["label"][tiled]}
        self.lab = BatchIterator(lab, batch_size=batch_size, seed=seed + 2000, start_step=start_step, keys=("image", "label"))
        self.unl = BatchIterator(train, batch_size=batch_size, seed=seed, start_step=start_step)
        self.unl2 = BatchIterator(train, batch_size=batch_size, seed=seed + 1000, start_step=start_step)
        self.steps_per_epoch = self.unl.steps_per_epoch

    def __iter__(self):
        return self

    def __next__(self):
        lab, unl, unl2 = next(self.lab), next(self.unl), next(self.unl2)
        return {"lab_image": lab["image"][0], "lab_label": lab["label"][0], "unl_image": unl["image"][0], "unl2_image": unl2["image"][0]}


def ssl_step_config(config) -> SSLStepConfig:
    return SSLStepConfig(
        extra_class=config.model.extra_class,
        supervised_only=config.loss.supervised_only,
        generator_loss=config.loss.generator,
        fm_distance=config.loss.fm_distance,
        unsup_weight=config.loss.unsup_weight,
        latent_dim=config.model.latent_dim,
        latent_dist=config.model.latent_dist,
    )


def load_ssl_data(config):
    d = config.data
    kw = dict(manual_dir=d.manual_dir or None, tfds_data_dir=d.tfds_data_dir or None, cache_dir=d.cache_dir)
    train = load_split(d.name, d.train_split, max_examples=d.max_examples or None, **kw)
    test = load_split(d.name, "test", max_examples=d.max_test_examples or None, **kw)
    lab_idx = labeled.labeled_subset(train["label"], d.num_labeled, config.seed, d.labeled_mode)
    val_idx, test_idx = labeled.split_validation(len(test["image"]), d.val_fraction, config.seed)
    return train, test, lab_idx, val_idx, test_idx


def train_and_evaluate(config: ml_collections.ConfigDict, workdir, *, num_devices: int | None = None) -> dict[str, Any]:
    """Trains the SSL GAN (or the supervised baseline) and writes results.json with accuracies."""
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.json").write_text(config.to_json_best_effort(indent=2, sort_keys=True))
    train, test, lab_idx, val_idx, test_idx = load_ssl_data(config)
    num_classes = int(train["label"].max()) + 1
    image_shape = tuple(train["image"].shape[1:])
    (workdir / "data_info.json").write_text(json.dumps({
        "image_shape": list(image_shape), "num_train_examples": len(train["image"]), "num_labeled": len(lab_idx),
        "labeled_class_counts": np.bincount(train["label"][lab_idx], minlength=num_classes).tolist(),
        "num_validation": len(val_idx), "num_test": len(test_idx), "task": "ssl",
    }))

    mesh = parallel.create_mesh(num_devices)
    bs = config.train.batch_size
    parallel.check_batch_size(bs, mesh)
    steps_per_epoch = len(train["image"]) // bs
    num_steps = int(config.train.num_steps or round(config.train.num_epochs * steps_per_epoch))
    init_key, loop_key, sample_key = jax.random.split(jax.random.key(config.seed), 3)
    init_rows = np.random.default_rng([config.seed, 3]).choice(len(train["image"]), min(config.model.init_batch_size, len(train["image"])), replace=False)
    state = create_ssl_state(config, image_shape, num_classes, train["image"][np.sort(init_rows)], init_key, steps_per_epoch, num_steps)
    state, state_sharding, checkpointer = replicate_and_resume(state, mesh, workdir, config.ckpt.max_to_keep)
    start_step = int(state.step)

    batches = prefetch(SSLBatches(train, lab_idx, bs, config.seed, start_step), functools.partial(parallel.put_batch, sharding=parallel.batch_sharding(mesh, 0)))
    step_fn = jit_step(functools.partial(ssl_train_step, cfg=ssl_step_config(config)), mesh, state_sharding, batch_axis=0)
    writer = metric_writers.create_default_writer(workdir)
    if config.loss.supervised_only and config.eval.get("fid_every_steps"):
        raise ValueError("config.eval.fid_every_steps is set, but a supervised-only baseline trains no generator; set it to 0.")
    quality = periodic.PeriodicQuality(config, mesh, image_shape, workdir, writer)
    eval_every = config.eval.every_steps or steps_per_epoch
    fixed_z = models.sample_latents(sample_key, config.eval.num_samples, config.model.latent_dim, config.model.latent_dist)
    mode = "supervised-only baseline" if config.loss.supervised_only else "semi-supervised GAN"
    logging.info("%s on %s: %d labeled of %d, %d val / %d test, %d steps (%d per epoch), workdir %s",
                 mode, config.data.name, len(lab_idx), len(train["image"]), len(val_idx), len(test_idx), num_steps, steps_per_epoch, workdir)
    evals_path = workdir / "eval.jsonl"
    test_x, test_y = test["image"], test["label"]

    def evaluate(step: int) -> dict[str, float]:
        out = {"step": step}
        for use_ema, prefix in ((False, ""), (True, "ema_")):
            out[f"{prefix}val_accuracy"] = accuracy(state, test_x[val_idx], test_y[val_idx], num_classes, use_ema) if len(val_idx) else float("nan")
            out[f"{prefix}test_accuracy"] = accuracy(state, test_x[test_idx], test_y[test_idx], num_classes, use_ema)
        out["labeled_train_accuracy"] = accuracy(state, train["image"][lab_idx], train["label"][lab_idx], num_classes, False)
        writer.write_scalars(step, {f"eval/{k}": v for k, v in out.items() if k != "step"})
        with open(evals_path, "a") as f:
            f.write(json.dumps(out) + "\n")
        logging.info("eval step %d: test acc %.4f (EMA %.4f), val acc %.4f (EMA %.4f), labeled-train acc %.4f", step,
                     out["test_accuracy"], out["ema_test_accuracy"], out["val_accuracy"], out["ema_val_accuracy"], out["labeled_train_accuracy"])
        if not config.loss.supervised_only:
            grid = samples.make_grid(np.asarray(generate(state, fixed_z)))
            samples.save_png(grid, workdir / "samples" / f"step_{step:07d}.png")
            writer.write_images(step, {"samples": grid})
        return out

    pending, last, last_eval = [], {}, {}
    t_start, step, t0_step = None, start_step, start_step
    try:
        for step in range(start_step + 1, num_steps + 1):
            state, metrics = step_fn(state, next(batches), loop_key)
            pending.append(metrics)
            if t_start is None:
                jax.block_until_ready(metrics)
                t_start, t0_step = time.perf_counter(), step
            is_ckpt = step % (config.ckpt.every_steps or num_steps) == 0 or step == num_steps
            if step % config.train.log_every_steps == 0 or is_ckpt:
                last = pull_metrics(pending, step, checkpointer)
                pending = []
                writer.write_scalars(step, last)
                logging.info("step %d/%d  %s", step, num_steps, "  ".join(f"{k} {v:.4f}" for k, v in sorted(last.items())))
            if step % eval_every == 0 or step == num_steps:
                last_eval = evaluate(step)
            if quality.due(step, num_steps):  # The generator's sample quality (FID, ...).
                quality(step, lambda z, s=state: generate(s, z), state, latent_dim=config.model.latent_dim,
                        latent_dist=config.model.latent_dist, weights="raw")
            if is_ckpt:
                save_checkpoint(checkpointer, step, state)
    finally:
        checkpointer.close()
        quality.close()
        writer.close()
    elapsed = time.perf_counter() - t_start if t_start else 0.0
    evals = metric_writers.read_jsonl(evals_path) if evals_path.exists() else []
    if evals:
        curves.plot_curves(evals, ["test_accuracy", "ema_test_accuracy", "val_accuracy", "ema_val_accuracy", "labeled_train_accuracy"],
                           workdir / "accuracy_curves.png", title=f"{config.data.name} {mode}", ylabel="accuracy")
        last_eval = last_eval or evals[-1]
    results = {
        "step": int(state.step),
        "mode": mode,
        "num_labeled": len(lab_idx),
        **{k: last_eval.get(k) for k in ("test_accuracy", "val_accuracy", "ema_test_accuracy", "ema_val_accuracy", "labeled_train_accuracy")},
        "test_error": None if last_eval.get("test_accuracy") is None else 1 - last_eval["test_accuracy"],
        "ema_test_error": None if last_eval.get("ema_test_accuracy") is None else 1 - last_eval["ema_test_accuracy"],
        "num_test": len(test_idx),
        "d_loss": last.get("d/loss"),
        "g_loss": last.get("g/loss"),
        "steps_per_sec": (step - t0_step) / elapsed if elapsed and step > t0_step else None,
        "wall_seconds": elapsed,
        **quality.final(),
    }
    (workdir / "results.json").write_text(json.dumps(results, indent=2))
    return results
