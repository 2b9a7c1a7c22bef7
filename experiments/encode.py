"""Trains a post-hoc encoder for a trained DCGAN run (ganjax/latent/posthoc_encoder.py), so
attribute
vectors, editing and synthetic data work on it like on a VAE-GAN.

  python -m experiments.encode --workdir=runs/fmnist_dcgan [--steps=3000] [--refine_steps=50]

Writes <workdir>/encoder/ (checkpoint + encoder.json) and reports the reconstruction error
(mean squared error in [0, 1] pixels) of --eval_examples real test images: from the encoder's
code alone and after the latent optimization. Resumable; a finished encoder is reused when its
key matches (the training settings and the generator's weights; see
ganjax/latent/posthoc_encoder.py),
refused otherwise; --overwrite deletes it and trains a new one.
"""

import json

from absl import app, flags

from experiments import common
from ganjax.data import load_config_split
from ganjax.latent import code_space, posthoc_encoder
from ganjax.training import sampling

_D = posthoc_encoder.Settings()
_WORKDIR = flags.DEFINE_string("workdir", None, "A DCGAN run folder written by experiments.train.")
_STEPS = flags.DEFINE_integer("steps", _D.steps, "Encoder updates on (G(z), z) batches.")
_BATCH = flags.DEFINE_integer("batch_size", _D.batch_size, "Batch size of those updates.")
_LR = flags.DEFINE_float("learning_rate", _D.learning_rate, "Encoder Adam learning rate.")
_FEATURES = flags.DEFINE_integer("features", _D.features, "Encoder width at its first layer.")
_NO_EMA = flags.DEFINE_bool("no_ema", False, "Invert the raw generator even if an EMA exists.")
_REFINE = flags.DEFINE_integer("refine_steps", _D.refine_steps, "Latent optimization steps.")
_REFINE_LR = flags.DEFINE_float("refine_lr", _D.refine_lr, "Latent optimization Adam rate.")
_FEAT_W = flags.DEFINE_float("feature_weight", _D.feature_weight, "D-feature error weight.")
_SEED = flags.DEFINE_integer("seed", _D.seed, "Encoder init and latent draws.")
_EVAL = flags.DEFINE_integer("eval_examples", 500, "Real test images to reconstruct (0: skip).")
_OVERWRITE = flags.DEFINE_bool(
    "overwrite", False, "Retrain an encoder made with other settings or for other weights."
)
flags.mark_flags_as_required(["workdir"])


def main(argv):
    del argv
    common.setup_logging()
    settings = posthoc_encoder.Settings(
        steps=_STEPS.value,
        batch_size=_BATCH.value,
        learning_rate=_LR.value,
        features=_FEATURES.value,
        use_ema=not _NO_EMA.value,
        refine_steps=_REFINE.value,
        refine_lr=_REFINE_LR.value,
        feature_weight=_FEAT_W.value,
        seed=_SEED.value,
    )
    try:
        record = posthoc_encoder.train(_WORKDIR.value, settings, overwrite=_OVERWRITE.value)
        if _EVAL.value:
            config, _ = sampling.read_run(_WORKDIR.value)
            test = load_config_split(config.data, "test", _EVAL.value)
            for name, refine in (("encoder_only", 0), ("refined", None)):
                space = code_space.load_code_space(_WORKDIR.value, refine_steps=refine)
                err = code_space.reconstruction_error(space, test["image"])
                record[f"test_recon_mse_{name}"] = err
            record["test_recon_examples"] = len(test["image"])
            posthoc_encoder.record_path(_WORKDIR.value).write_text(json.dumps(record, indent=2))
    except common.USER_ERRORS as e:
        common.fail(e)
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    app.run(main, flags_parser=common.parse_flags)
