"""Times one full GAN training iteration (D update(s) + G update) on synthetic batches.

  python -m experiments.benchmark --model=dcgan64 --batch=64 [--steps=10] [--devices=N]

Prints one JSON line per run. To try N devices on a CPU, set
XLA_FLAGS=--xla_force_host_platform_device_count=N before the command.
"""

import json

from absl import app, flags

from experiments import common
from ganjax.tools import benchmarking
from ganjax.training import host

_MODEL = flags.DEFINE_list(
    "model",
    ["dcgan64"],
    f"One or more of {sorted(benchmarking.BENCHMARKS)}, conv_transpose_layer or inception "
    "(FID Inception features per second).",
)
_BATCH = flags.DEFINE_integer("batch", 64, "Global batch size.")
_STEPS = flags.DEFINE_integer("steps", 10, "Timed steps (after warm-up).")
_WARMUP = flags.DEFINE_integer("warmup", 3, "Untimed steps after compilation.")
_DEVICES = flags.DEFINE_integer("devices", None, "Use the first N devices (default: all).")
_TORCH = flags.DEFINE_bool(
    "torch",
    False,
    "Also time the PyTorch reference of each model (needs torch) and print the ratio.",
)
_TORCH_SCRIPT = flags.DEFINE_string(
    "torch_script",
    None,
    "With --torch: a standalone PyTorch script to time instead of benchmarks/torch/reference.py, "
    "run as `python SCRIPT BATCH STEPS WARMUP` (docs/performance.md's dcgan64 figures used the "
    "project's shared bench/torch_dcgan64.py).",
)
_IMPL = flags.DEFINE_enum(
    "conv_transpose_impl",
    None,
    ["auto", "direct", "subpixel", "gemm", "winograd"],
    "Override the transposed-convolution implementation.",
)
_CONV_IMPL = flags.DEFINE_enum(
    "conv_impl",
    None,
    ["auto", "gemm", "winograd", "shift_add", "lax"],
    "Override the convolution implementation.",
)


def main(argv):
    del argv
    # Before JAX starts (see ganjax/training/host.py); GANJAX_MALLOC=system measures without it.
    host.tune_allocator(single_arena=any(benchmarking.wants_single_arena(m) for m in _MODEL.value))
    for model in _MODEL.value:
        if model == "conv_transpose_layer":  # The layer micro-benchmark, both implementations.
            for impl in ("direct", "subpixel", "gemm", "winograd"):
                print(
                    json.dumps(benchmarking.run_conv_transpose_layer(impl, batch=_BATCH.value)),
                    flush=True,
                )
            continue
        try:
            if model == "inception":
                row = benchmarking.run_inception(
                    _BATCH.value,
                    steps=_STEPS.value,
                    warmup=_WARMUP.value,
                    num_devices=_DEVICES.value,
                )
            else:
                row = benchmarking.run(
                    model,
                    _BATCH.value,
                    steps=_STEPS.value,
                    warmup=_WARMUP.value,
                    num_devices=_DEVICES.value,
                    conv_transpose_impl=_IMPL.value,
                    conv_impl=_CONV_IMPL.value,
                )
        except common.USER_ERRORS as e:
            common.fail(e)
        print(json.dumps(row), flush=True)
        if _TORCH.value:
            ref = benchmarking.run_torch_reference(
                model,
                _BATCH.value,
                steps=_STEPS.value,
                warmup=_WARMUP.value,
                script=_TORCH_SCRIPT.value,
            )
            print(json.dumps(ref), flush=True)
            if "images_per_sec" in ref:
                ratio = row["images_per_sec"] / ref["images_per_sec"]
                print(
                    json.dumps(
                        {"model": model, "batch": _BATCH.value, "jax_over_torch": round(ratio, 3)}
                    ),
                    flush=True,
                )


if __name__ == "__main__":
    app.run(main, flags_parser=common.parse_flags)
