"""Train-step benchmarks: the trainer's own jitted step on synthetic batches of the right shape.

One timed step is one full training iteration exactly as `train_and_evaluate` runs it
(`d_steps` discriminator updates + one generator update, batch norm and optimizer updates).
"""

from __future__ import annotations

import time
from typing import Callable

import jax
import ml_collections
import numpy as np

from ganjax.errors import ConfigError
from ganjax.training import host, loop_utils, parallel

# name -> (config factory, image shape)
BENCHMARKS: dict[str, tuple[Callable[[], ml_collections.ConfigDict], tuple[int, int, int]]] = {}


def register(name: str, image_shape: tuple[int, int, int]):
    def wrap(fn):
        BENCHMARKS[name] = (fn, image_shape)
        return fn

    return wrap


@register("mlp_gan", (28, 28, 1))
def _mlp_gan():
    from configs import mnist_gan

    return mnist_gan.get_config()


@register("dcgan28", (28, 28, 1))
def _dcgan28():
    from configs import fashion_mnist_dcgan

    return fashion_mnist_dcgan.get_config()


@register("dcgan64", (64, 64, 3))
def _dcgan64():
    """The standard DCGAN-64 (nz 100, ngf = ndf = 64), as the PyTorch bench/torch_dcgan64.py."""
    from configs import celeba_dcgan

    c = celeba_dcgan.get_config("64")
    c.model.latent_dist = "normal"  # The PyTorch reference draws z ~ N(0, 1).
    return c


@register("dcgan64_wgan_gp", (64, 64, 3))
def _dcgan64_wgan_gp():
    """DCGAN-64 as a WGAN-GP: layer-norm critic, lambda 10, Adam(1e-4, 0.5, 0.9); one critic
    update per step (n_critic = 1), so the step compares with dcgan64's."""
    c = _dcgan64()
    c.loss.type, c.loss.gradient_penalty, c.model.d_norm = "wasserstein", 10.0, "layer"
    for player in ("g", "d"):
        c.optim[player].learning_rate, c.optim[player].b2 = 1e-4, 0.9
    return c


@register("dcgan64_r1", (64, 64, 3))
def _dcgan64_r1():
    """DCGAN-64, non-saturating loss + R1 (gamma 1) on every D update (no lazy skipping)."""
    c = _dcgan64()
    c.loss.r1_gamma, c.loss.penalty_every = 1.0, 1
    return c


@register("vaegan28", (28, 28, 1))
def _vaegan28():
    """The Fashion-MNIST VAE-GAN: DCGAN-28 G and D, encoder, reconstruction in D's last block."""
    from configs import fashion_mnist_vaegan

    return fashion_mnist_vaegan.get_config()


@register("vaegan64", (64, 64, 3))
def _vaegan64():
    """The CelebA VAE-GAN at 64 px: DCGAN-64 G and D, encoder, reconstruction in D's third
    block (Larsen et al.'s Dis_l)."""
    from configs import celeba_vaegan

    return celeba_vaegan.get_config("res=64")


@register("ssl_svhn", (32, 32, 3))
def _ssl_svhn():
    """The seeds' SVHN SSL discriminator + the 32x32 DCGAN generator."""
    from configs import svhn_ssl_seeds

    return svhn_ssl_seeds.get_config()


@register("ssl_mnist", (28, 28, 1))
def _ssl_mnist():
    """Salimans et al.'s MNIST pair (weight-norm MLP D with noise, 500-500 G)."""
    from configs import mnist_ssl

    return mnist_ssl.get_config()


@register("pix2pix256", (256, 256, 3))
def _pix2pix256():
    """The pix2pix paper's facades setting: 8-level U-Net (ngf 64, batch norm, dropout), 70x70
    PatchGAN (ndf 64) on the (input, output) pair, vanilla cGAN + 100 L1, Adam(2e-4, 0.5)."""
    from configs import facades_pix2pix

    return facades_pix2pix.get_config()


@register("cyclegan256", (256, 256, 3))
def _cyclegan256():
    """The CycleGAN paper's horse2zebra setting: two 9-block ResNet generators (ngf 64), two
    70x70 PatchGANs, instance norm, LSGAN + cycle 10 + identity 5, 50-image history buffers."""
    from configs import horse2zebra_cyclegan

    return horse2zebra_cyclegan.get_config()


def _synthetic_data(method, config, image_shape, n, rng):
    """Random uint8 training data in the layout `method` reads (methods.Data)."""
    from ganjax import methods
    from ganjax.methods.translation import TranslationMethod

    def images(shape):
        return rng.integers(0, 256, (n, *shape), dtype=np.uint8)

    if isinstance(method, TranslationMethod):  # Stored at load_size; batches are crops.
        stored = (config.data.load_size, config.data.load_size, image_shape[-1])
        crop = [config.data.crop_size, config.data.crop_size, image_shape[-1]]
        info = {"image_shape": crop, "input_shape": crop}
        train = {k: images(stored) for k in method.train_keys}
        return methods.Data(tuple(crop), info, {"train": train})
    arrays = {"image": images(image_shape), "label": (np.arange(n) % 10).astype(np.int32)}
    info = {
        "image_shape": list(image_shape),
        "labeled_class_counts": [n // 10] * 10,
        "num_classes": 10,
    }
    index = {"labeled": np.arange(n), "val": np.arange(0), "test": np.arange(0)}
    return methods.Data(tuple(image_shape), info, {"train": arrays, "index": index})


def _setup(config, image_shape, batch, mesh, rng):
    """The configured method's state, one synthetic batch and its jitted step, on `mesh`."""
    from ganjax import methods

    method = methods.get_method(config)
    n = max(batch * config.train.get("d_steps", 1), 64)
    data = _synthetic_data(method, config, image_shape, n, rng)
    state = method.create_state(data, jax.random.key(0), 1000, 10**6)
    state_sharding = jax.tree.map(lambda _: parallel.replicated(mesh), state)
    state = jax.device_put(state, state_sharding)
    host_batch = next(iter(method.batches(data, 0)))
    sharded = parallel.put_batch(host_batch, parallel.batch_sharding(mesh, method.batch_axis))
    return (
        state,
        sharded,
        loop_utils.jit_step(method.train_step, mesh, state_sharding, method.batch_axis),
    )


def wants_single_arena(model: str) -> bool:
    """Whether `model`'s step needs glibc's single-arena setting (see ganjax/training/host.py)."""
    if model not in BENCHMARKS:
        return False
    return host.wants_single_arena(BENCHMARKS[model][0]().model.name)


def run(
    model: str,
    batch: int,
    *,
    steps: int = 10,
    warmup: int = 3,
    num_devices: int | None = None,
    conv_transpose_impl: str | None = None,
    conv_impl: str | None = None,
) -> dict:
    """Compiles and times the train step; returns the JSON-able result row."""
    if model not in BENCHMARKS:
        raise ConfigError(f"Unknown benchmark model '{model}'; choose one of {sorted(BENCHMARKS)}")
    make_config, image_shape = BENCHMARKS[model]
    config = make_config()
    config.train.batch_size = batch
    if conv_transpose_impl and "conv_transpose_impl" in config.model:
        config.model.conv_transpose_impl = conv_transpose_impl
    if conv_impl and "conv_impl" in config.model:
        config.model.conv_impl = conv_impl
    mesh = parallel.create_mesh(num_devices)
    parallel.check_batch_size(batch, mesh)
    rng = np.random.default_rng(0)
    key = jax.random.key(1)
    state, data, step_fn = _setup(config, image_shape, batch, mesh, rng)

    t0 = time.perf_counter()
    compiled = step_fn.lower(state, data, key).compile()
    compile_s = time.perf_counter() - t0
    for _ in range(warmup):
        state, metrics = compiled(state, data, key)
    jax.block_until_ready(metrics)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        state, metrics = compiled(state, data, key)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - t)
    median = float(np.median(times))
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    flops = float(cost.get("flops", 0.0)) if cost else 0.0
    return {
        "framework": "jax",
        "model": model,
        "batch": batch,
        "backend": jax.default_backend(),
        "devices": int(mesh.devices.size),
        "conv_impl": config.model.get("conv_impl", "auto"),
        "conv_transpose_impl": config.model.get("conv_transpose_impl", "auto"),
        "compile_s": round(compile_s, 3),
        "median_step_s": round(median, 5),
        "p90_step_s": round(float(np.percentile(times, 90)), 5),
        "images_per_sec": round(batch / median, 2),
        # XLA's count for the compiled step: the FLOPs executed (Winograd layers count 9/16 of the
        # direct method's; --conv_impl=gemm --conv_transpose_impl=gemm gives the direct count).
        "gflop_per_step": round(flops / 1e9, 2),
        "gflops_per_sec": round(flops / 1e9 / median, 1),
        "steps": steps,
        "host_malloc": host.allocator_setting(),
    }


def run_conv_transpose_layer(
    impl: str, *, batch: int = 64, size: int = 16, cin: int = 128, cout: int = 64, steps: int = 5
) -> dict:
    """Times one 4x4 stride-2 transposed convolution: forward, and forward + both gradients."""
    from ganjax import ops

    rng = np.random.default_rng(0)
    x = jax.numpy.asarray(rng.normal(size=(batch, size, size, cin)), jax.numpy.float32)
    w = jax.numpy.asarray(rng.normal(size=(4, 4, cin, cout)) * 0.02, jax.numpy.float32)
    fwd = jax.jit(lambda x, w: ops.conv_transpose(x, w, 2, 1, impl=impl))
    grad = jax.jit(
        jax.grad(
            lambda x, w: jax.numpy.sum(ops.conv_transpose(x, w, 2, 1, impl=impl) ** 2),
            argnums=(0, 1),
        )
    )
    out = {
        "model": f"conv_transpose_{size}x{size}x{cin}_to_{cout}",
        "impl": impl,
        "batch": batch,
        "backend": jax.default_backend(),
    }
    for name, fn in (("forward", fwd), ("forward_backward", grad)):
        jax.block_until_ready(fn(x, w))
        times = []
        for _ in range(steps):
            t = time.perf_counter()
            jax.block_until_ready(fn(x, w))
            times.append(time.perf_counter() - t)
        out[f"{name}_median_s"] = round(float(np.median(times)), 5)
    return out


def run_inception(
    batch: int, *, steps: int = 5, warmup: int = 2, num_devices: int | None = None
) -> dict:
    """Times FID Inception feature extraction (pool3 + logits) on [batch, 299, 299, 3] uint8 images,
    sharded over the mesh exactly as evaluation runs it (random weights: speed does not depend on
    them). The PyTorch twin is benchmarks/torch/inception.py on the same input size."""
    from ganjax.evaluators import extractors, fid

    ex = extractors.create_extractor("inception_v3:random", None)
    mesh = parallel.create_mesh(num_devices)
    extraction = fid.ShardedExtraction(ex, mesh, batch)
    images = jax.device_put(
        np.random.default_rng(0).integers(
            0, 256, (extraction.batch_size, 299, 299, 3), dtype=np.uint8
        ),
        extraction.sharding,
    )
    t0 = time.perf_counter()
    jax.block_until_ready(extraction.device(images))
    first_s = time.perf_counter() - t0
    for _ in range(warmup - 1):
        jax.block_until_ready(extraction.device(images))
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        jax.block_until_ready(extraction.device(images))
        times.append(time.perf_counter() - t)
    median = float(np.median(times))
    return {
        "framework": "jax",
        "model": "inception_v3",
        "batch": extraction.batch_size,
        "backend": jax.default_backend(),
        "devices": int(mesh.devices.size),
        "compile_and_first_call_s": round(first_s, 2),
        "median_call_s": round(median, 4),
        "images_per_sec": round(extraction.batch_size / median, 2),
        "steps": steps,
    }


def run_torch_reference(
    model: str, batch: int, *, steps: int, warmup: int, script: str | None = None
) -> dict:
    """Times the PyTorch version of `model` in a subprocess (benchmarks/torch/reference.py, or
    `script`, a standalone one run as `python script batch steps warmup`, e.g. the project's
    shared bench/torch_dcgan64.py for dcgan64). Returns its JSON row, or an {"error": ...} row
    when torch or a reference for the model is missing."""
    import json
    import pathlib
    import subprocess
    import sys

    repo = pathlib.Path(__file__).resolve().parents[2]  # The repository root.
    if script:
        script = pathlib.Path(script).expanduser().resolve()  # It runs in the repository.
        cmd = [sys.executable, str(script), str(batch), str(steps), str(warmup)]
    elif model == "inception":
        cmd = [sys.executable, "-m", "benchmarks.torch.inception", str(batch)]
    elif model in (
        "dcgan64",
        "dcgan28",
        "mlp_gan",
        "dcgan64_wgan_gp",
        "dcgan64_r1",
        "vaegan28",
        "vaegan64",
        "pix2pix256",
        "cyclegan256",
    ):
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.torch.reference",
            f"--model={model}",
            f"--batch={batch}",
            f"--steps={steps}",
            f"--warmup={warmup}",
        ]
    else:
        return {
            "framework": "torch",
            "model": model,
            "error": "no PyTorch reference for this model",
        }
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {
            "framework": "torch",
            "model": model,
            "error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:200],
        }
    return json.loads(lines[-1])
