"""The benchmark harness times the trainer's real step and reports what the issue asks for."""

import pytest

from ganjax.tools import benchmarking
from ganjax.training import host


def test_benchmark_row_has_the_reported_fields():
    row = benchmarking.run("mlp_gan", 8, steps=3, warmup=1)
    assert {
        "model",
        "batch",
        "backend",
        "devices",
        "compile_s",
        "median_step_s",
        "p90_step_s",
        "images_per_sec",
    } <= set(row)
    assert row["median_step_s"] > 0 and row["p90_step_s"] >= row["median_step_s"]
    assert row["images_per_sec"] == pytest.approx(8 / row["median_step_s"], rel=0.01)
    # MLP GAN step: at least the forward matmuls of D on 2 x 8 images and of G on 8 latents,
    # 2 flops per multiply-add: 2 * 8 * (2 * 784 * 128 + 100 * 128) (backward passes add more).
    assert row["gflop_per_step"] * 1e9 >= 2 * 8 * (2 * 784 * 128 + 100 * 128)
    assert row["host_malloc"] == host.allocator_setting()  # What ganjax.training.host did here.


def test_single_arena_decided_by_model():
    assert benchmarking.wants_single_arena("dcgan64") and benchmarking.wants_single_arena(
        "ssl_svhn"
    )
    assert not benchmarking.wants_single_arena("mlp_gan") and not benchmarking.wants_single_arena(
        "ssl_mnist"
    )


def test_every_listed_model_is_registered():
    assert {"mlp_gan", "dcgan28", "dcgan64", "ssl_svhn", "ssl_mnist"} <= set(
        benchmarking.BENCHMARKS
    )
    with pytest.raises(ValueError, match="Unknown benchmark model"):
        benchmarking.run("biggan", 8)


def test_conv_transpose_layer_microbenchmark_runs_every_impl():
    for impl in ("direct", "subpixel", "gemm"):
        row = benchmarking.run_conv_transpose_layer(impl, batch=2, size=4, cin=8, cout=4, steps=1)
        assert row["forward_median_s"] > 0 and row["forward_backward_median_s"] > 0


@pytest.mark.parametrize(
    "name,config_module",
    [("pix2pix256", "facades_pix2pix"), ("cyclegan256", "horse2zebra_cyclegan")],
)
def test_translation_benchmarks_time_the_methods_step(monkeypatch, name, config_module):
    """pix2pix256 / cyclegan256 build the method's state and paired / unpaired synthetic batches
    (stored at load_size, cropped by the method's iterator); here on the configs' tiny forms."""
    import importlib

    module = importlib.import_module(f"configs.{config_module}")
    assert benchmarking.BENCHMARKS[name][1] == (256, 256, 3)
    monkeypatch.setitem(
        benchmarking.BENCHMARKS, name, (lambda: module.get_config("tiny"), (32, 32, 3))
    )
    row = benchmarking.run(name, 2, steps=1, warmup=1)
    assert row["model"] == name and row["median_step_s"] > 0 and row["gflop_per_step"] > 0
