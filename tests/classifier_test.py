"""The domain classifier: model shapes, training on the tiny fixture, the extractor it becomes."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import classifier_common, fashion_mnist_classifier
from ganjax.evaluators import extractors
from ganjax.models.classifier import ConvClassifier, create_classifier
from tests import fixtures


def test_classifier_shapes_for_28_32_64():
    for res, widths in ((28, (32, 64)), (32, (32, 64)), (64, (32, 64, 128))):
        model = ConvClassifier(num_classes=10, widths=widths, feature_dim=128)
        x = jax.ShapeDtypeStruct((2, res, res, 3), jnp.float32)
        variables = jax.eval_shape(model.init, jax.random.key(0), x)
        logits, feats = jax.eval_shape(model.apply, variables, x)
        assert logits.shape == (2, 10) and feats.shape == (2, 128)
        # The flattened map before the feature layer: res / 2^len(widths) squared x 2 * widths[-1].
        assert variables["params"]["Dense_0"]["kernel"].shape == (
            (res >> len(widths)) ** 2 * 2 * widths[-1],
            128,
        )
    model = ConvClassifier(num_classes=3, widths=(4,), feature_dim=8)
    x = jax.random.normal(jax.random.key(1), (2, 8, 8, 1))
    _, feats = model.apply(model.init(jax.random.key(0), x), x)
    assert bool((feats >= 0).all()) and bool((feats > 0).any())  # ReLU features.


def test_tiny_classifier_learns_the_fixture(tiny_classifier):
    results = json.loads((tiny_classifier / "results.json").read_text())
    # The fixture's classes are bright bars at class-dependent rows: far above chance (0.1).
    assert results["test_accuracy"] > 0.5, results
    assert results["num_classes"] == 10 and results["step"] == 40


def test_classifier_extractor_names_weights_and_accuracy(tiny_classifier):
    ex = extractors.create_extractor(f"classifier:{tiny_classifier}", None)
    assert ex.input_shape == (28, 28, 1) and ex.feature_dim == 16 and ex.num_classes == 10
    assert len(ex.weights_hash) == 16 and ex.weights.endswith("/checkpoints/40")
    assert (
        ex.info["classifier_test_accuracy"]
        == json.loads((tiny_classifier / "results.json").read_text())["test_accuracy"]
    )
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28, 1), dtype=np.uint8)
    feats, logits = extractors.features_fn(ex)(ex.variables, jnp.asarray(images))
    assert feats.shape == (5, 16) and logits.shape == (5, 10)
    # Same numbers as the trained classifier's own inference-mode forward pass.
    model = create_classifier(json_config(tiny_classifier).model, 10)
    want_logits, want_feats = model.apply(
        ex.variables, jnp.asarray(images, jnp.float32) / 127.5 - 1.0, train=False
    )
    np.testing.assert_allclose(feats, want_feats, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(logits, want_logits, rtol=1e-5, atol=1e-5)
    with pytest.raises(extractors.ExtractorError, match=r"takes \(28, 28, 1\) images"):
        ex.check_images((32, 32, 3))


def json_config(workdir):
    import ml_collections

    return ml_collections.ConfigDict(json.loads((workdir / "config.json").read_text()))


def test_evaluation_never_trains_a_classifier_and_names_the_command(mnist_dir, tmp_path):
    data = fashion_mnist_classifier.get_config("tiny").data
    data.manual_dir, data.cache_dir = str(mnist_dir), str(tmp_path)
    workdir = extractors.classifier_cache_dir(data, "fashion_mnist", "tiny")
    assert workdir == tmp_path / "classifiers" / "fashion_mnist_tiny"
    with pytest.raises(extractors.ExtractorError) as e:
        extractors.create_extractor("classifier:fashion_mnist", data, classifier_arg="tiny")
    assert not workdir.exists()  # Nothing was trained.
    assert (
        "python -m experiments.train --config=configs/fashion_mnist_classifier.py:tiny "
        f"--workdir={workdir} --config.data.manual_dir={mnist_dir}"
    ) in str(e.value)
    # Trained on purpose (the command above, or the library call), it is found and not retrained.
    assert fixtures.train_classifier("fashion_mnist", data, "tiny") == workdir
    stamp = (workdir / "results.json").stat().st_mtime_ns
    ex = extractors.create_extractor("classifier:fashion_mnist", data, classifier_arg="tiny")
    again = fixtures.train_classifier("fashion_mnist", data, "tiny")
    assert again == workdir and (workdir / "results.json").stat().st_mtime_ns == stamp
    assert ex.num_classes == 10 and ex.input_shape == (28, 28, 1)


def test_default_extractor_is_inception_for_rgb_and_the_classifier_for_gray():
    assert extractors.default_spec("celeb_a", (28, 28, 3)) == "inception_v3"
    assert extractors.default_spec("cifar10", (32, 32, 3)) == "inception_v3"
    assert extractors.default_spec("mnist", (28, 28, 1)) == "classifier:mnist"


def test_distribution_metrics_refuse_a_classifier_of_fewer_than_ten_classes(tiny_classifier):
    ex = extractors.create_extractor(f"classifier:{tiny_classifier}", None)
    extractors.check_for_distributions(ex)  # 10 classes: accepted.
    two = dataclasses.replace(ex, num_classes=2)
    with pytest.raises(extractors.ExtractorError, match="has 2 classes.*inception_v3"):
        extractors.check_for_distributions(two)


def test_bad_extractor_names_give_one_clear_message(tmp_path, tiny_gan_run):
    with pytest.raises(
        extractors.ExtractorError,
        match="Unknown extractor 'vgg16'.*inception_v3.*classifier:<dataset>",
    ):
        extractors.create_extractor("vgg16", None)
    with pytest.raises(extractors.ExtractorError, match="neither a dataset"):
        extractors.create_extractor("classifier:imagenet", None)
    with pytest.raises(extractors.ExtractorError, match="not a finished classifier run"):
        extractors.create_extractor(f"classifier:{tmp_path}", None)
    with pytest.raises(extractors.ExtractorError, match="'gan' run, not a classifier run"):
        extractors.create_extractor(f"classifier:{tiny_gan_run}", None)


def test_every_dataset_has_a_classifier_config():
    # ganjax names them in its "train it with" command without importing configs/.
    assert extractors.CLASSIFIER_CONFIG_STEMS == classifier_common.CONFIG_STEMS
    for dataset, stem in classifier_common.CONFIG_STEMS.items():
        import importlib

        c = importlib.import_module(f"configs.{stem}_classifier").get_config()
        assert c.task == "classifier" and c.data.name == dataset
