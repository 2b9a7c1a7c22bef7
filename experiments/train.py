"""Trains a GAN from a config file.

  python -m experiments.train --config=configs/fashion_mnist_gan.py --workdir=runs/fmnist \
      [--config.optim.d.learning_rate=1e-4 ...] [--num_devices=N]
      [--coordinator_address=HOST:PORT --num_processes=N --process_id=I | --distributed]

Re-running with the same --workdir resumes from its latest checkpoint. A config that would change
the run's results is refused there (cadences and paths may change: ganjax/training/run_folder.py)
unless
--allow_config_change is given; config_changes.jsonl in the workdir then records the change.
"""

import os

from absl import app, flags, logging
from ml_collections import config_flags

from experiments import common, multiprocess
from ganjax.tools import tasks
from ganjax.training import host, run_folder

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file.", lock_config=True
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output folder (checkpoints, samples, metrics).")
_NUM_DEVICES = flags.DEFINE_integer(
    "num_devices", None, "Use the first N local devices (default: all)."
)
_ALLOW_CONFIG_CHANGE = flags.DEFINE_bool(
    "allow_config_change", False, "Resume --workdir even with a config that changes its results."
)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    common.setup_logging()
    # Before JAX starts (see ganjax/training/host.py); GANJAX_MALLOC=system turns it off.
    logging.info(
        "Host malloc: %s",
        host.tune_allocator(single_arena=host.wants_single_arena(_CONFIG.value.model.name)),
    )
    try:
        multiprocess.initialize()
        if _ALLOW_CONFIG_CHANGE.value:  # Recorded now: the run then finds config.json the same.
            run_folder.write_config(_CONFIG.value, _WORKDIR.value, allow_change=True)
        results = tasks.train_and_evaluate(
            _CONFIG.value, _WORKDIR.value, num_devices=_NUM_DEVICES.value
        )
    except common.USER_ERRORS as e:
        common.fail(e)
    wd = _WORKDIR.value
    logging.info("Final: %s", {k: v for k, v in results.items() if isinstance(v, float)})
    if "ema_test_accuracy" in results:
        val = results.get("val_accuracy")
        print(
            f"Test accuracy: {results['test_accuracy']:.4f} "
            f"(EMA {results['ema_test_accuracy']:.4f})"
            + (f", validation {val:.4f}" if val is not None else "")
            + f"; curves: {wd}/accuracy_curves.png"
        )
    elif "baseline_test_accuracy" in results:
        print(
            f"Test accuracy: {results['test_accuracy']:.4f} trained on synthetic images only, "
            f"{results['baseline_test_accuracy']:.4f} on the {results['num_labeled_total']} "
            "real labeled images only"
            + (
                f", {results['transfer_test_accuracy']:.4f} transfer (D features + MLP head)"
                if "transfer_test_accuracy" in results
                else ""
            )
        )
    elif "test_accuracy" in results:
        print(f"Test accuracy: {results['test_accuracy']:.4f}")
    if "ssim" in results:  # pix2pix: outputs vs targets on the test split.
        print(
            f"Test: L1 {results['l1']:.4f}, PSNR {results['psnr']:.2f} dB, SSIM "
            f"{results['ssim']:.4f}, FID {results['fid']:.4f} "
            f"({results['protocol']['distribution_metrics']['extractor']}); eval: {wd}/eval.jsonl"
        )
    elif "fid_a2b" in results:  # CycleGAN: per direction on the test split.
        print(
            f"Test: FID A->B {results['fid_a2b']:.4f} (untranslated "
            f"{results['fid_a2b_identity']:.4f}), B->A {results['fid_b2a']:.4f} (untranslated "
            f"{results['fid_b2a_identity']:.4f}), cycle L1 {results['cycle_l1']:.4f}; eval: "
            f"{wd}/eval.jsonl"
        )
    elif "fid" in results:
        print(
            f"FID: {results['fid']:.4f} ({results['protocol']['extractor']}; real-vs-real floor "
            f"{results['protocol']['real_vs_real_fid']:.4f}); eval: {wd}/eval"
        )
    if os.path.isdir(f"{wd}/samples"):  # Classifier runs draw none.
        print(f"Samples:     {wd}/samples")
    if os.path.exists(f"{wd}/metrics.jsonl"):  # The synthetic pipeline's are in its stages.
        print(f"Metrics:     {wd}/metrics.jsonl, TensorBoard: {wd}/tensorboard")
    if os.path.isdir(f"{wd}/checkpoints"):
        print(f"Checkpoints: {wd}/checkpoints")
    print(f"Results:     {wd}/results.json")


if __name__ == "__main__":
    app.run(main, flags_parser=common.parse_flags)
