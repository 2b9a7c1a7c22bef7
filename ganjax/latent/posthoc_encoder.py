"""A post-hoc encoder for a trained (unconditional DCGAN) generator, so attribute vectors and
synthetic data also work on runs that were not trained with an encoder.

Two parts:
  1. An encoder E (ganjax/models/encoder.py; its mean output) trained on pairs (G(z), z),
     z from the run's prior: minimize |E(G(z)) - z|^2. G is frozen (the EMA weights when the run
     kept an EMA, else the raw ones; the choice is recorded).
  2. Per-image latent optimization from z0 = E(x): `refine_steps` Adam steps on
     |G(z) - x|^2 / P + feature_weight * |D_f(G(z)) - D_f(x)|^2 / F (mean squared errors in pixels
     and in D's last-block features, as in the inversion literature: Zhu et al. 2016, "Generative
     visual manipulation on the natural image manifold"). U(-1, 1) latents are kept in the box.

Part 1 trains in the one loop (`PosthocEncoderMethod`, handed the restored generator), into
<workdir>/encoder/: checkpoints/<step> (orbax), the loop's config.json, metrics.jsonl and
results.json, encoder.json (settings, losses) and stage.json, the encoder's key
(ganjax/latent/stage_keys.py): the training settings (all but the refine_* ones, which only the
code space reads) and the generator it inverts (the run's config, its
checkpoint step, EMA or raw weights and a hash of those weights). A finished encoder is reused
only under the same key; another key (other settings, or a run trained further) is refused with
a message naming what changed, and `overwrite=True` (experiments.encode --overwrite) retrains it.
`python -m experiments.encode` trains it and reports reconstruction errors on real images.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
import shutil
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging

from ganjax import models, rng
from ganjax.errors import ConfigError, IncompatibleRunError, MissingFileError
from ganjax.latent import stage_keys
from ganjax.methods.base import Data, Method
from ganjax.methods.gan import generate
from ganjax.models.encoder import DCGANEncoder
from ganjax.training import checkpointing, sampling
from ganjax.training import train as train_loop
from ganjax.training.train_state import NetState, TrainState

SUBDIR = "encoder"


@dataclasses.dataclass(frozen=True)
class Settings:
    steps: int = 3000  # Encoder updates on (G(z), z) batches.
    batch_size: int = 64
    learning_rate: float = 1e-3  # Adam(b1=0.9).
    features: int = 64  # Encoder width at its first layer.
    use_ema: bool = True  # Invert G's EMA weights when the run kept an EMA.
    refine_steps: int = 50  # Latent optimization steps per image (0: the encoder's code only).
    refine_lr: float = 0.05
    feature_weight: float = 1.0  # Weight of D's feature error beside the pixel error.
    seed: int = 0

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 1:
            raise ConfigError(
                f"The post-hoc encoder needs at least one step of at least one image "
                f"(--steps={self.steps}, --batch_size={self.batch_size})."
            )


# Settings of the latent optimization only: the code space reads them, the encoder's training
# does not, so they are not part of the encoder's key.
REFINE_FIELDS = ("refine_steps", "refine_lr", "feature_weight")


def _check_run(config) -> None:
    if config.get("method") not in ("gan",) or config.model.name != "dcgan":
        raise IncompatibleRunError(
            f"A post-hoc encoder inverts an unconditional DCGAN generator (config.method=gan, "
            f"model.name=dcgan); this run is method={config.get('method')!r}, "
            f"model={config.model.name!r}. VAE-GAN runs have their own encoder already."
        )


def _parts(workdir: pathlib.Path, use_ema: bool):
    """(state, config, data, the weights name, G's collections for them) of the run to invert.

    With EMA weights, G's batch-norm statistics are recomputed for them
    (`GAN.ema_generator_collections`, as the run's own samples and FID use); raw weights keep
    G's running statistics (None)."""
    config, _ = sampling.read_run(workdir)
    _check_run(config)
    state, config, method, data = sampling.restore_run(workdir)
    ema = bool(use_ema and state.ema_decay > 0)
    collections = method.ema_generator_collections(state, data) if ema else None
    return state, config, data, "ema" if ema else "raw", collections


def _encoder(config, data, features: int) -> DCGANEncoder:
    return DCGANEncoder(
        resolution=data.image_shape[0],
        latent_dim=int(config.model.latent_dim),
        base_features=features,
        conv_impl=config.model.get("conv_impl", "auto"),
    )


def _encoder_state(encoder, image_shape, learning_rate: float, key) -> NetState:
    variables = jax.jit(functools.partial(encoder.init, train=False))(
        key, jnp.zeros((2, *image_shape), jnp.float32)
    )
    tx = optax.adam(learning_rate, b1=0.9)
    return NetState.create(apply_fn=encoder.apply, variables=variables, tx=tx)


def encoder_inputs(state, config, weights: str, settings: Settings) -> dict[str, Any]:
    """What determines a trained encoder (its key's inputs; see the module docstring)."""
    use_ema = weights == "ema"
    return {
        "settings": {
            k: v for k, v in dataclasses.asdict(settings).items() if k not in REFINE_FIELDS
        },
        "generator": {
            "config": stage_keys.key(stage_keys.config_inputs(config)),
            "step": int(state.step),
            "weights": weights,
            # EMA weights run with batch-norm statistics recomputed for them (see _parts).
            "batch_stats": "recomputed for the EMA weights" if use_ema else "running",
            "weights_sha256": stage_keys.arrays_key(
                {"params": state.params("generator", use_ema), **state["generator"].collections}
            ),
        },
    }


class PosthocEncoderMethod(Method):
    """The encoder's training as a method of the one loop: pairs (G(z), z), z from the run's
    prior drawn in the step from `fold_in(loop_key, step)`; G frozen.

    Not registered: it inverts a finished run's generator, which `train` restores (above the
    methods) and hands in; the loop gives it checkpoints, exact resume, the NaN/Inf stop,
    progress and logs in <run>/encoder/."""

    name = "posthoc_encoder"
    batch_axis = 0
    progress_keys = (("latent MSE", "e/latent_mse"),)
    loss_keys = ("e/latent_mse",)

    def __init__(self, config, generator_parts):
        super().__init__(config)
        self.g_state, self.g_config, self.g_data, self.weights, self.g_coll = generator_parts
        self.use_ema = self.weights == "ema"
        self.latent_dim = int(self.g_config.model.latent_dim)
        self.latent_dist = self.g_config.model.latent_dist

    def _generate(self, z):
        return generate(self.g_state, z, use_ema=self.use_ema, collections=self.g_coll)

    def load_data(self) -> Data:
        info = {
            "image_shape": list(self.g_data.image_shape),
            "latent_dim": self.latent_dim,
            "task": "posthoc_encoder",
        }
        return Data(tuple(self.g_data.image_shape), info)

    def steps_per_epoch(self, data: Data) -> int:
        return int(self.config.train.num_steps)  # G's prior has no epochs.

    def batches(self, data: Data, start_step: int):
        return _NoBatches(int(self.config.train.batch_size), self.steps_per_epoch(data))

    def create_state(self, data: Data, key, steps_per_epoch: int, num_steps: int) -> TrainState:
        c = self.config
        encoder = _encoder(self.g_config, self.g_data, int(c.model.features))
        enc = _encoder_state(encoder, data.image_shape, float(c.optim.learning_rate), key)
        return TrainState.create({"encoder": enc})

    def train_step(self, state: TrainState, batch, key):
        del batch  # The latents are drawn here, the images generated from them.
        z = models.sample_latents(
            jax.random.fold_in(key, state.step),
            int(self.config.train.batch_size),
            self.latent_dim,
            self.latent_dist,
        )
        x = jax.lax.stop_gradient(self._generate(z))
        enc = state["encoder"]

        def loss_fn(params):
            (mean, _), coll = enc.apply(x, params=params)
            return jnp.mean(jnp.square(mean - z)), coll

        (loss, coll), grads = jax.value_and_grad(loss_fn, has_aux=True)(enc.params)
        new = state.with_nets(encoder=enc.apply_gradients(grads, coll))
        return new.replace(step=state.step + 1), {"e/latent_mse": loss}

    def evaluate(self, state: TrainState, data: Data, step: int) -> dict[str, float]:
        # Held-out latent error on fresh samples (a stream the training never draws from).
        heldout_key = rng.key(int(self.config.seed), "posthoc_heldout")
        z = models.sample_latents(heldout_key, 1000, self.latent_dim, self.latent_dist)
        mean = state["encoder"].apply(self._generate(z), train=False)[0][0]
        return {
            "heldout_latent_mse": float(jnp.mean(jnp.square(mean - z))),
            "prior_latent_variance": float(jnp.var(z)),
        }

    def results(self, state: TrainState, data: Data, last_eval: dict[str, Any]) -> dict[str, Any]:
        return {
            **(last_eval or self.evaluate(state, data, int(state.step))),
            "generator_weights": self.weights,
            "generator_step": int(self.g_state.step),
        }


class _NoBatches:
    """The loop's batch feed for a method that draws its inputs in the step: `batch_size` row
    indices per step (sharded like any batch)."""

    def __init__(self, batch_size: int, steps_per_epoch: int):
        self.rows = {"row": np.arange(batch_size, dtype=np.int32)}
        self.steps_per_epoch = steps_per_epoch

    def __iter__(self):
        return self

    def __next__(self):
        return self.rows


def loop_config(settings: Settings, run_config, generator: str) -> ml_collections.ConfigDict:
    """The one loop's config of an encoder of `settings` for the run at `generator`."""
    return ml_collections.ConfigDict(
        {
            "method": PosthocEncoderMethod.name,
            "seed": settings.seed,
            "generative_workdir": generator,
            "data": {"name": run_config.data.name},
            "model": {"name": "dcgan_encoder", "features": settings.features},
            "optim": {"learning_rate": settings.learning_rate},
            "train": {
                "batch_size": settings.batch_size,
                "num_steps": settings.steps,
                "num_epochs": 0.0,
                "log_every_steps": min(250, settings.steps),
            },
            "eval": {"every_steps": settings.steps, "fid_every_steps": 0},
            "ckpt": {"every_steps": max(settings.steps // 4, 1), "max_to_keep": 1},
        }
    )


def train(
    workdir: str | pathlib.Path, settings: Settings, *, overwrite: bool = False
) -> dict[str, Any]:
    """Trains (or resumes, or finds finished) the post-hoc encoder of a run in the one loop;
    returns its record.

    A finished or interrupted encoder is reused only under the same key (see the module
    docstring); with other refine_* settings its record takes the new ones (nothing retrains).

    Raises:
      stage_keys.StageMismatchError: <workdir>/encoder holds an encoder of other settings or of
        another generator, and not `overwrite` (which deletes it and trains a new one).
    """
    workdir = pathlib.Path(workdir)
    out = workdir / SUBDIR
    path = record_path(workdir)
    parts = _parts(workdir, settings.use_ema)
    state, config, _, weights, _ = parts
    inputs = encoder_inputs(state, config, weights, settings)
    if overwrite and stage_keys.mismatch(out, inputs):
        logging.info("Deleting the post-hoc encoder of other settings in %s", out)
        shutil.rmtree(out)
    stage_keys.check(
        [("post-hoc encoder", out, inputs)],
        f"Train it again with python -m experiments.encode --workdir={workdir} --overwrite "
        f"(posthoc_encoder.train(..., overwrite=True)), or delete {out}.",
    )
    if path.exists() and json.loads(path.read_text()).get("done"):
        record = json.loads(path.read_text())
        new = dataclasses.asdict(settings)
        if any(record["settings"].get(k) != new[k] for k in REFINE_FIELDS):
            # Only the latent optimization changed: the errors measured with the old one go.
            record = {k: v for k, v in record.items() if not k.startswith("test_recon")}
            record["settings"] = new
            path.write_text(json.dumps(record, indent=2))
        logging.info("Post-hoc encoder already trained (%s)", path)
        return record
    key = stage_keys.claim(out, inputs)
    c = loop_config(settings, config, str(workdir))
    results = train_loop.train_and_evaluate(
        c, out, num_devices=1, method=PosthocEncoderMethod(c, parts)
    )
    record = {
        "settings": dataclasses.asdict(settings),
        "key": key,
        "generator_weights": weights,
        "generator_step": int(state.step),
        "heldout_latent_mse": results["heldout_latent_mse"],
        "prior_latent_variance": results["prior_latent_variance"],
        "train_seconds": results["wall_seconds"],
        "done": True,
    }
    path.write_text(json.dumps(record, indent=2))
    return record


def refine(
    z0, x, *, gen_fn, feat_fn, steps: int, lr: float, feature_weight: float, box: bool
) -> jax.Array:
    """Adam steps on the codes z (init z0) towards reconstructing images x (see the docstring)."""
    if steps <= 0:
        return z0
    target_f = jax.lax.stop_gradient(feat_fn(x))
    tx = optax.adam(lr)

    def loss_fn(z):
        y = gen_fn(z)
        pix = jnp.mean(jnp.square(y - x), axis=(1, 2, 3))
        feat = jnp.mean(jnp.square(feat_fn(y) - target_f), axis=1)
        return jnp.sum(pix + feature_weight * feat)  # Sum: each image's own gradient.

    def body(_, carry):
        z, opt = carry
        g = jax.grad(loss_fn)(z)
        upd, opt = tx.update(g, opt, z)
        z = optax.apply_updates(z, upd)
        return (jnp.clip(z, -1.0, 1.0) if box else z), opt

    z, _ = jax.lax.fori_loop(0, steps, body, (z0, tx.init(z0)))
    return z


def _restore_encoder(folder: pathlib.Path, target: NetState) -> NetState:
    """The trained encoder: from the loop's TrainState, or the bare NetState that encoders
    trained before the loop ran them (2026-12-07) saved."""
    checkpointer = checkpointing.Checkpointer(folder, async_save=False)
    try:
        try:
            return checkpointer.restore(TrainState.create({"encoder": target}))["encoder"]
        except checkpointing.CheckpointError:
            return checkpointer.restore(target)
    finally:
        checkpointer.close()


def record_path(workdir: str | pathlib.Path) -> pathlib.Path:
    return pathlib.Path(workdir) / SUBDIR / "encoder.json"


def code_space_fields(
    workdir: str | pathlib.Path, refine_steps: int | None = None
) -> dict[str, Any]:
    """The fields of the CodeSpace of a DCGAN run with a trained post-hoc encoder (encode_batch,
    decode_batch, latent_dim, image_shape, config, source): ganjax/latent/code_space.py builds it.

    `refine_steps` overrides the recorded number of latent optimization steps (0: the encoder's
    code alone)."""
    workdir = pathlib.Path(workdir)
    config, _ = sampling.read_run(workdir)
    path = record_path(workdir)
    if config.get("method") == "gan" and not path.exists():
        raise MissingFileError(
            f"{workdir} is a GAN run without an encoder: train its post-hoc encoder first with "
            f"python -m experiments.encode --workdir={workdir}"
        )
    _check_run(config)
    s = Settings(**json.loads(path.read_text())["settings"])
    if refine_steps is not None:
        s = dataclasses.replace(s, refine_steps=refine_steps)
    state, config, data, weights, g_coll = _parts(workdir, s.use_ema)
    encoder = _encoder(config, data, s.features)
    target = _encoder_state(encoder, data.image_shape, s.learning_rate, jax.random.key(0))
    enc = _restore_encoder(workdir / SUBDIR, target)
    use_ema = weights == "ema"
    d = state["discriminator"]

    def gen_fn(z):
        return generate(state, z, use_ema=use_ema, collections=g_coll)

    def feat_fn(x):
        return d.apply(x, train=False, return_features=True)[0][1]

    @jax.jit
    def encode_batch(x):
        z0 = enc.apply(x, train=False)[0][0]
        return refine(
            z0,
            x,
            gen_fn=gen_fn,
            feat_fn=feat_fn,
            steps=s.refine_steps,
            lr=s.refine_lr,
            feature_weight=s.feature_weight,
            box=config.model.latent_dist == "uniform",
        )

    return dict(
        encode_batch=encode_batch,
        decode_batch=jax.jit(gen_fn),
        latent_dim=int(config.model.latent_dim),
        image_shape=tuple(data.image_shape),
        config=config,
        source=(
            f"post-hoc encoder ({s.steps} steps on (G(z), z)) + {s.refine_steps} latent "
            f"optimization steps (pixel + {s.feature_weight} x D features), generator "
            f"{weights} step {int(state.step)}"
        ),
    )
