"""Every reader proven on the real files: a few steps of each real-data config's `:tiny` variant.

Each run reads the real dataset that `experiments.prepare_data` set up (CI prepares them all and
sets $GANJAX_REQUIRE_REAL_DATA=1, so none of these can pass by skipping; see tests/real_data.py),
trains the tiny networks for a handful of steps through the one loop, and must end with a
checkpoint, finite losses and a results.json.
"""

import json
import math

import pytest

from ganjax.tools import tasks
from tests import real_data

# (config module, argument, real data it reads, the config key naming where that data is)
RUNS = [
    ("celeba_dcgan", "tiny,res=64", "celeb_a"),
    ("celeba_vaegan", "tiny", "celeb_a"),
    ("celeba_classifier", "tiny", "celeb_a"),
    ("mnist_gan", "tiny", "mnist"),
    ("mnist_ssl", "tiny", "mnist"),
    ("facades_pix2pix", "tiny", "facades"),
    ("horse2zebra_cyclegan", "tiny", "horse2zebra"),
]


def _finite_floats(results: dict) -> list[str]:
    bad = []
    for key, value in results.items():
        if isinstance(value, float) and not math.isfinite(value):
            bad.append(key)
    return bad


@pytest.mark.parametrize("module,arg,dataset", RUNS, ids=[r[0] for r in RUNS])
def test_tiny_run_on_the_real_files(module, arg, dataset, tmp_path):
    import importlib

    where = real_data.require(dataset)
    c = importlib.import_module(f"configs.{module}").get_config(arg)
    c.data.manual_dir = str(where)
    c.data.cache_dir = str(tmp_path / "cache")  # Not the user's ~/.cache.
    if dataset in ("facades", "horse2zebra"):
        # The real FID Inception at its default path (the tiny config plumbs random weights),
        # on the tiny config's few test images.
        real_data.require("inception")
        c.eval.extractor = "inception_v3"
        c.eval.every_steps = c.train.num_steps  # One evaluation: the periodic path has its own.
    workdir = tmp_path / "run"
    results = tasks.train_and_evaluate(c, str(workdir))
    saved = json.loads((workdir / "results.json").read_text())
    assert saved.keys() == results.keys() or set(results) <= set(saved)
    assert not _finite_floats(saved), f"non-finite results: {_finite_floats(saved)}"
    assert (workdir / "config.json").exists()
    assert any((workdir / "checkpoints").iterdir()), "no checkpoint written"
    logged = (workdir / "metrics.jsonl").read_text().splitlines()
    assert logged and all(math.isfinite(v) for v in json.loads(logged[-1]).values()
                          if isinstance(v, float))
    if dataset in ("facades", "horse2zebra"):
        protocol = json.dumps(saved.get("protocol", {}))
        assert '"extractor": "inception_v3"' in protocol and "3f8def0cf9515191" in protocol
