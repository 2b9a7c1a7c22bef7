"""A run folder stays true on resume: its jsonl logs hold each step once, config.json the config
its checkpoints were trained with (ganjax/training/run_folder.py, metric_writers.truncate_jsonl)."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from configs import fashion_mnist_gan, fashion_mnist_ssl
from ganjax.evaluators import periodic
from ganjax.training import checkpointing, metric_writers, run_folder, train

REPO = pathlib.Path(__file__).resolve().parents[1]


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in pathlib.Path(path).read_text().splitlines()]


# --- truncate_jsonl ---------------------------------------------------------------------------


def test_truncate_keeps_the_records_up_to_the_step_in_order(tmp_path):
    log = tmp_path / "metrics.jsonl"
    records = [{"step": s, "loss": 0.1 * s} for s in (2, 3, 4, 6, 8)]
    log.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"step": 9, "lo')  # Torn.
    os.chmod(log, 0o644)
    assert metric_writers.truncate_jsonl(log, 4) == 3
    assert _lines(log) == records[:3]
    assert os.stat(log).st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl"]  # No temporary left.
    assert metric_writers.truncate_jsonl(log, 0) == 3  # A run starting afresh: every record.
    assert log.read_text() == ""


def test_truncate_leaves_a_log_with_nothing_to_drop_and_a_missing_one_alone(tmp_path):
    log = tmp_path / "eval.jsonl"
    log.write_text('{"step": 3, "acc": 0.5}\n{"step": 6, "acc": 0.7}\n')
    inode = log.stat().st_ino
    assert metric_writers.truncate_jsonl(log, 6) == 0
    assert log.stat().st_ino == inode  # Not rewritten.
    assert metric_writers.truncate_jsonl(tmp_path / "none.jsonl", 3) == 0
    assert not (tmp_path / "none.jsonl").exists()


def test_run_logs_name_the_periodic_quality_log(tmp_path):
    c = fashion_mnist_gan.get_config("tiny")
    quality = periodic.PeriodicQuality(c, None, (28, 28, 1), tmp_path, writer=None)
    assert quality.path.relative_to(tmp_path).as_posix() in train.RUN_LOGS


def test_tensorboard_drops_the_events_a_resumed_run_repeats(tmp_path):
    """TensorBoard's Python loader purges an interrupted run's events past the restored step on
    the writer's SessionLog.START marker: each step shows once, with the resumed run's value."""
    from tensorboard.backend.event_processing import event_accumulator

    first = metric_writers.TensorBoardWriter(tmp_path)
    for step in range(1, 7):
        first.write_scalars(step, {"loss": 1.0})
    first.close()
    (old,) = tmp_path.iterdir()  # Named by its start second: make it the older file for sure.
    parts = old.name.split(".")
    parts[3] = f"{int(parts[3]) - 10:010d}"
    old.rename(tmp_path / ".".join(parts))
    resumed = metric_writers.TensorBoardWriter(tmp_path, start_step=3)
    for step in range(4, 9):
        resumed.write_scalars(step, {"loss": 2.0})
    resumed.close()
    acc = event_accumulator.EventAccumulator(str(tmp_path))
    acc.Reload()
    got = [(e.step, e.value) for e in acc.Scalars("loss")]
    assert got == [(1, 1.0), (2, 1.0), (3, 1.0)] + [(s, 2.0) for s in range(4, 9)]


# --- the loop's logs on resume ----------------------------------------------------------------


def _config(module, mnist_dir):
    c = module.get_config("tiny")  # 6 steps, logs at 2, 3, 4, 6, checkpoints and evals at 3, 6.
    c.data.manual_dir = str(mnist_dir)
    return c


def _deterministic(records: list[dict]) -> list[dict]:
    """Records without the throughput figures (timing)."""
    return [{k: v for k, v in r.items() if not k.endswith("_per_sec")} for r in records]


def _assert_same_records(got: list[dict], want: list[dict]) -> None:
    got, want = _deterministic(got), _deterministic(want)
    assert [r["step"] for r in got] == [r["step"] for r in want]
    for g, w in zip(got, want):
        assert g.keys() == w.keys()
        for k in w:
            assert g[k] == pytest.approx(w[k], abs=1e-5, nan_ok=True), (g["step"], k)


def test_resumed_run_logs_each_step_once(mnist_dir, tmp_path):
    """A run that logged and evaluated step 6 but died before checkpoint 6 was written resumes
    from checkpoint 3: its logs then equal an uninterrupted run's (they held steps 4 and 6
    twice before). The SSL GAN logs losses, eval.jsonl (accuracies) and eval/ scalars."""
    c = _config(fashion_mnist_ssl, mnist_dir)
    train.train_and_evaluate(c, tmp_path / "full")
    run = tmp_path / "run"
    train.train_and_evaluate(c, run)
    shutil.rmtree(run / "checkpoints" / "6")  # The save of step 6 never happened.
    (run / "eval").mkdir(exist_ok=True)  # As periodic FID every 3 steps would have left it.
    (run / "eval" / "quality.jsonl").write_text('{"step": 3, "fid": 9}\n{"step": 6, "fid": 8}\n')
    train.train_and_evaluate(c, run)
    for name in ("metrics.jsonl", "eval.jsonl"):
        got = _lines(run / name)  # metrics.jsonl: a step's losses, and its eval/ scalars apart.
        logged = [(r["step"], k) for r in got for k in r if k != "step"]
        assert len(set(logged)) == len(logged), (name, [r["step"] for r in got])
        _assert_same_records(got, _lines(tmp_path / "full" / name))
    assert [r["step"] for r in _lines(run / "eval" / "quality.jsonl")] == [3]


def test_finished_or_restarted_run_keeps_its_logs_true(mnist_dir, tmp_path):
    c = _config(fashion_mnist_gan, mnist_dir)
    train.train_and_evaluate(c, tmp_path)
    logged = (tmp_path / "metrics.jsonl").read_text()
    again = train.train_and_evaluate(c, tmp_path)  # Found finished: nothing to cut, or to log.
    assert (tmp_path / "metrics.jsonl").read_text() == logged
    assert again["step"] == 6
    assert again["d_loss"] == _lines(tmp_path / "metrics.jsonl")[-1]["d/loss"]
    assert not (tmp_path / run_folder.CHANGES_FILE).exists()
    shutil.rmtree(tmp_path / "checkpoints")  # No checkpoint: the run starts afresh, its logs too.
    train.train_and_evaluate(c, tmp_path)
    assert [r["step"] for r in _lines(tmp_path / "metrics.jsonl")] == [2, 3, 4, 6]


def test_finished_run_found_again_reports_what_it_measured(mnist_dir, tmp_path):
    """A finished run found again (reproduce and sweeps do that) keeps its results: the final
    losses (metrics.jsonl ends with an eval record, which holds none) and the measured speed
    (nothing is trained the second time: it once became 0 s and null)."""
    c = _config(fashion_mnist_ssl, mnist_dir)
    first = train.train_and_evaluate(c, tmp_path)
    assert "eval/test_accuracy" in _lines(tmp_path / "metrics.jsonl")[-1]
    again = train.train_and_evaluate(c, tmp_path)
    keys = ("d_loss", "g_loss", "d_real_prob", "steps_per_sec", "images_per_sec", "wall_seconds")
    assert first["wall_seconds"] > 0 and first["d_loss"] is not None
    assert {k: again[k] for k in keys} == {k: first[k] for k in keys}
    assert json.loads((tmp_path / "results.json").read_text())["wall_seconds"] == first[
        "wall_seconds"
    ]


# --- config.json on resume --------------------------------------------------------------------


@pytest.fixture
def saved_run(tmp_path):
    """A folder as a run leaves it: config.json (fashion_mnist_gan:tiny) and a checkpoint at 3."""
    c = fashion_mnist_gan.get_config("tiny")
    run_folder.write_config(c, tmp_path)
    ckpt = checkpointing.Checkpointer(tmp_path)
    ckpt.save(3, {"x": np.zeros(2, np.float32)})
    ckpt.close()
    return tmp_path, c


def _changed(c, **changes):
    c = c.copy_and_resolve_references()
    for key, value in changes.items():
        *path, last = key.split("__")
        node = c
        for p in path:
            node = node[p]
        node[last] = value
    return c


def test_fresh_folder_or_same_config_passes_and_records_nothing(saved_run, tmp_path_factory):
    run, c = saved_run
    assert run_folder.write_config(c, run) is None
    fresh = tmp_path_factory.mktemp("fresh") / "run"
    assert run_folder.write_config(_changed(c, seed=5), fresh) is None
    assert json.loads((fresh / "config.json").read_text())["seed"] == 5
    assert not (fresh / "checkpoints").exists()
    for folder in (run, fresh):
        assert not (folder / run_folder.CHANGES_FILE).exists()


def test_result_changing_config_is_refused_naming_each_key(saved_run):
    run, c = saved_run
    before = (run / "config.json").read_text()
    new = _changed(c, optim__d__learning_rate=1e-4, model__name="dcgan", data__cache_dir="/c")
    with pytest.raises(run_folder.ConfigChangedError) as e:
        run_folder.write_config(new, run)
    message = str(e.value)
    assert "optim.d.learning_rate: 0.002 -> 0.0001" in message
    assert f"model.name: {c.model.name!r} -> 'dcgan'" in message
    assert "data.cache_dir" not in message  # A free key is not a reason to refuse.
    assert "step 3" in message and "new --workdir" in message
    assert "--allow_config_change" in message
    assert isinstance(e.value, ValueError)
    assert (run / "config.json").read_text() == before  # Nothing written.
    assert not (run / run_folder.CHANGES_FILE).exists()


def test_cadence_and_path_changes_pass_and_are_recorded(saved_run):
    run, c = saved_run
    new = _changed(
        c,
        train__log_every_steps=5,
        ckpt__every_steps=7,
        ckpt__max_to_keep=1,
        eval__every_steps=11,
        eval__fid_every_steps=13,
        data__cache_dir="/elsewhere/cache",
        data__manual_dir="/elsewhere/data",
        train__num_steps=60,  # Training further: the schedules are constant.
    )
    record = run_folder.write_config(new, run)
    assert record["step"] == 3 and record["result_changes"] == []
    assert record["changes"]["ckpt.every_steps"] == {"old": 3, "new": 7}
    assert record["changes"]["train.num_steps"] == {"old": 6, "new": 60}
    assert len(record["changes"]) == 8
    assert _lines(run / run_folder.CHANGES_FILE) == [record]
    assert json.loads((run / "config.json").read_text())["eval"]["every_steps"] == 11


def test_more_steps_are_refused_when_a_schedule_spans_the_total(saved_run):
    run, c = saved_run
    c.optim.g.schedule = "linear_decay"
    run_folder.write_config(c, run, allow_change=True)  # Saved with the linear decay already.
    with pytest.raises(run_folder.ConfigChangedError, match="train.num_steps: 6 -> 60") as e:
        run_folder.write_config(_changed(c, train__num_steps=60), run)
    assert "optim.g.schedule='linear_decay'" in str(e.value)
    assert "optim.d.schedule" not in str(e.value)  # Constant: does not span the total.
    # num_epochs does not count while num_steps is set (and unchanged).
    assert run_folder.write_config(_changed(c, train__num_epochs=3.0), run)["result_changes"] == []


def test_allowed_change_is_written_and_recorded(saved_run):
    run, c = saved_run
    new = _changed(c, optim__d__learning_rate=1e-4, train__log_every_steps=1)
    record = run_folder.write_config(new, run, allow_change=True)
    assert record["result_changes"] == ["optim.d.learning_rate"]
    assert record["changes"]["optim.d.learning_rate"] == {"old": 0.002, "new": 1e-4}
    assert json.loads((run / "config.json").read_text())["optim"]["d"]["learning_rate"] == 1e-4
    assert run_folder.write_config(new, run) is None  # The folder now holds the new config.
    assert len(_lines(run / run_folder.CHANGES_FILE)) == 1


def test_config_without_a_checkpoint_is_replaced_freely(tmp_path):
    c = fashion_mnist_gan.get_config("tiny")
    run_folder.write_config(c, tmp_path)  # A run that died before its first checkpoint.
    assert run_folder.write_config(_changed(c, seed=9), tmp_path) is None
    assert json.loads((tmp_path / "config.json").read_text())["seed"] == 9


def test_loop_refuses_then_allows_and_trains_further(mnist_dir, tmp_path):
    c = _config(fashion_mnist_gan, mnist_dir)
    train.train_and_evaluate(c, tmp_path)
    with pytest.raises(run_folder.ConfigChangedError, match="optim.g.learning_rate"):
        train.train_and_evaluate(_changed(c, optim__g__learning_rate=1e-4), tmp_path)
    longer = train.train_and_evaluate(_changed(c, train__num_steps=9), tmp_path)
    assert longer["step"] == 9
    assert [r["step"] for r in _lines(tmp_path / "metrics.jsonl")] == [2, 3, 4, 6, 8, 9]
    (record,) = _lines(tmp_path / run_folder.CHANGES_FILE)
    assert record["step"] == 6 and record["changes"] == {"train.num_steps": {"old": 6, "new": 9}}
    new = _changed(c, train__num_steps=9, optim__g__learning_rate=1e-4)
    train.train_and_evaluate(new, tmp_path, allow_config_change=True)
    assert _lines(tmp_path / run_folder.CHANGES_FILE)[-1]["result_changes"] == [
        "optim.g.learning_rate"
    ]


def test_train_command_refuses_and_takes_the_flag(tiny_gan_run, mnist_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_gan_run, run)
    cache_dir = json.loads((run / "config.json").read_text())["data"]["cache_dir"]
    args = [
        sys.executable,
        "-m",
        "experiments.train",
        "--config=configs/fashion_mnist_dcgan.py:tiny",
        f"--workdir={run}",
        f"--config.data.manual_dir={mnist_dir}",
        f"--config.data.cache_dir={cache_dir}",  # Not the user's ~/.cache.
        "--config.optim.d.learning_rate=1e-4",
    ]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    kw = dict(cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    proc = subprocess.run(args, **kw)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "optim.d.learning_rate: 0.0002 -> 0.0001" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = subprocess.run(args + ["--allow_config_change"], **kw)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (record,) = _lines(run / run_folder.CHANGES_FILE)
    assert record["step"] == 6 and record["result_changes"] == ["optim.d.learning_rate"]
    assert json.loads((run / "config.json").read_text())["optim"]["d"]["learning_rate"] == 1e-4
