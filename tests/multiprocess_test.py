"""Multi-process runs on jax.distributed (ganjax/training/distributed.py), on this machine.

Two processes on loopback, each with 2 forced CPU devices (JAX's gloo collectives), train through
`experiments.train --coordinator_address --num_processes --process_id` and must end where one
process with 4 devices ends: the same global batches, keys and steps, only another summation
order, so within the loop's 1-vs-4-device tolerance (tests/train_test.py).
"""

import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from ganjax.training import distributed, sampling

REPO = pathlib.Path(__file__).resolve().parents[1]
# The `gan` method (batch norm in both networks), and a three-network method.
CONFIGS = {
    "gan": "configs/fashion_mnist_dcgan.py:tiny",
    "vae_gan": "configs/fashion_mnist_vaegan.py:tiny",
}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(devices: int) -> dict:
    return {
        **os.environ,
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
        "JAX_PLATFORMS": "cpu",
    }


def _train_args(mnist_dir, workdir, steps: int, method: str = "gan") -> list[str]:
    return [
        sys.executable,
        "-m",
        "experiments.train",
        f"--config={CONFIGS[method]}",
        f"--config.data.manual_dir={mnist_dir}",
        f"--config.train.num_steps={steps}",
        "--config.ckpt.every_steps=3",
        "--config.eval.every_steps=-1",
        "--config.eval.fid_every_steps=0",
        f"--workdir={workdir}",
    ]


def _one_process(mnist_dir, workdir, steps: int, method: str = "gan") -> None:
    proc = subprocess.run(
        _train_args(mnist_dir, workdir, steps, method),
        cwd=REPO,
        env=_env(4),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


def _two_processes(mnist_dir, workdir, steps: int, method="gan", extra=(), timeout=300) -> list:
    port = _port()
    procs = [
        subprocess.Popen(
            _train_args(mnist_dir, workdir, steps, method)
            + [f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2", f"--process_id={i}"]
            + list(extra),
            cwd=REPO,
            env=_env(2),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    out = []
    try:
        for p in procs:
            stdout, stderr = p.communicate(timeout=timeout)
            out.append((p.returncode, stdout, stderr))
    finally:
        for p in procs:
            p.kill()
    return out


def _leaves(workdir):
    return jax.tree.leaves(jax.device_get(sampling.restore_run(workdir)[0]))


def _max_diff(a, b) -> float:
    """Per leaf, |difference| in units of max(1, the leaf's largest magnitude)."""
    return max(
        float(np.abs(np.asarray(x) - np.asarray(y)).max()) / max(1.0, float(np.abs(x).max()))
        for x, y in zip(a, b)
    )


@pytest.mark.parametrize("method", ["gan", "vae_gan"])
def test_two_processes_equal_one_process_with_four_devices(method, mnist_dir, tmp_path):
    """2 processes x 2 devices for 6 steps end with the state and losses of 1 process x 4
    devices; for `gan` also 2 x 2 for 3 steps resumed by 1 process x 4 (another process count)
    to 6. Only process 0 writes the run folder's files."""
    _one_process(mnist_dir, tmp_path / "one", 6, method)
    for rc, _, stderr in _two_processes(mnist_dir, tmp_path / "two", 6, method):
        assert rc == 0, stderr[-3000:]
    runs = ["two"]
    if method == "gan":
        for rc, _, stderr in _two_processes(mnist_dir, tmp_path / "resumed", 3, method):
            assert rc == 0, stderr[-3000:]
        assert json.loads((tmp_path / "resumed" / "results.json").read_text())["step"] == 3
        _one_process(mnist_dir, tmp_path / "resumed", 6, method)
        runs.append("resumed")

    reference = _leaves(tmp_path / "one")
    want = json.loads((tmp_path / "one" / "results.json").read_text())
    for name in runs:
        got = _leaves(tmp_path / name)
        assert len(got) == len(reference)
        diff = _max_diff(got, reference)
        print(f"{method} {name}: max |state diff| vs 1 process x 4 devices = {diff:.3g}")
        assert diff < 5e-5, name
        results = json.loads((tmp_path / name / "results.json").read_text())
        assert results["step"] == 6 and results["num_devices"] == 4
        assert results["d_loss"] == pytest.approx(want["d_loss"], abs=1e-5)
        assert results["g_loss"] == pytest.approx(want["g_loss"], rel=1e-6, abs=1e-5)
    # One writer: each step is logged once, by process 0.
    records = [json.loads(line) for line in (tmp_path / "two" / "metrics.jsonl").open()]
    steps = [r["step"] for r in records]
    assert steps == sorted(set(steps)) and steps[-1] == 6
    assert len(list((tmp_path / "two" / "tensorboard").glob("events.out.tfevents.*"))) == 1


def test_evaluating_during_training_is_refused_with_more_than_one_process(mnist_dir, tmp_path):
    out = _two_processes(mnist_dir, tmp_path / "run", 3, extra=["--config.eval.every_steps=3"])
    for rc, _, stderr in out:
        assert rc == 1
        assert "does not evaluate during training yet" in stderr
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_incomplete_process_flags_are_one_clear_error():
    with pytest.raises(distributed.ConfigError, match="needs all of --coordinator_address"):
        distributed.initialize("127.0.0.1:1234", None, 0)
    with pytest.raises(distributed.ConfigError, match="--process_id=2 is not in 0 .. "):
        distributed.initialize("127.0.0.1:1234", 2, 2)
    assert distributed.initialize() is False  # No flags: one process, nothing started.


def test_rows_of_a_global_batch_split_over_processes(monkeypatch):
    batch = {"image": np.arange(2 * 8 * 3).reshape(2, 8, 3)}  # [batches_per_step, batch, ...]
    monkeypatch.setattr(jax, "process_count", lambda: 4)
    shares = []
    for i in range(4):
        monkeypatch.setattr(jax, "process_index", lambda i=i: i)
        shares.append(distributed.local_share(batch, batch_axis=1)["image"])
    np.testing.assert_array_equal(np.concatenate(shares, axis=1), batch["image"])
    assert all(s.shape == (2, 2, 3) for s in shares)
    with pytest.raises(distributed.ConfigError, match="does not split over 4 processes"):
        distributed.process_rows(6)


def test_a_dead_process_stops_the_others_within_the_heartbeat_timeout(mnist_dir, tmp_path):
    """Process 1 is killed mid-run: process 0 does not hang in the next collective; JAX's
    coordination service finds the missing heartbeats and ends it with a message that names the
    cause, within --heartbeat_timeout_s (10 s here) and a margin."""
    port = _port()
    logs = [tmp_path / f"process_{i}.log" for i in range(2)]
    procs = []
    for i in range(2):
        with open(logs[i], "w") as log:
            procs.append(
                subprocess.Popen(
                    _train_args(mnist_dir, tmp_path / "run", 100_000)
                    + [
                        f"--coordinator_address=127.0.0.1:{port}",
                        "--num_processes=2",
                        f"--process_id={i}",
                        "--heartbeat_timeout_s=10",
                    ],
                    cwd=REPO,
                    env=_env(2),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        deadline = time.monotonic() + 240
        while "step 10/100000" not in logs[0].read_text():  # Training, in lockstep.
            assert time.monotonic() < deadline and procs[0].poll() is None, logs[0].read_text()
            time.sleep(0.2)
        procs[1].kill()
        killed = time.monotonic()
        rc = procs[0].wait(timeout=60)  # A hang fails here.
        waited = time.monotonic() - killed
    finally:
        for p in procs:
            p.kill()
    text = logs[0].read_text()
    print(f"process 0 ended {waited:.1f} s after process 1 was killed (rc {rc})")
    assert rc != 0 and waited < 40
    assert "another task died" in text and "stopped sending heartbeats" in text
