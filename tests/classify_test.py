"""experiments.classify: trained classifier runs applied to a user's own image files."""

import csv
import json
import os
import pathlib
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest
from PIL import Image

from ganjax.classifiers import classify, restore, user_images
from ganjax.data import celeba, load_split
from ganjax.training import train
from tests import fixtures

REPO = pathlib.Path(__file__).resolve().parents[1]


def _config(workdir):
    import ml_collections

    return ml_collections.ConfigDict(json.loads((workdir / "config.json").read_text()))


def _write_pngs(folder: pathlib.Path, images: np.ndarray) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i, im in enumerate(images):
        names.append(f"test_{i:03d}.png")
        Image.fromarray(im[..., 0] if im.shape[-1] == 1 else im).save(folder / names[-1])
    return names


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def fm_test(mnist_dir):
    return load_split("fashion_mnist", "test", manual_dir=str(mnist_dir))


@pytest.fixture(scope="module")
def fm_clf(tiny_classifier):
    """The conftest's tiny Fashion-MNIST ConvClassifier run, loaded once for this module."""
    return restore.load_classifier(tiny_classifier)


@pytest.fixture(scope="module")
def native_dir(fm_test, tmp_path_factory):
    """The fixture's 64 test images as 28x28 gray PNGs (lossless: the pipeline's arrays)."""
    folder = tmp_path_factory.mktemp("native")
    _write_pngs(folder, fm_test["image"])
    return folder


@pytest.fixture(scope="module")
def photos(fm_test, tmp_path_factory):
    """Odd sizes, gray and RGB, png and jpg, a subfolder and files that are not images."""
    folder = tmp_path_factory.mktemp("photos")
    (folder / "sub" / "deeper").mkdir(parents=True)
    im = lambda i: Image.fromarray(fm_test["image"][i][..., 0])  # noqa: E731
    im(0).save(folder / "a_native.png")
    im(1).resize((201, 173), Image.Resampling.BICUBIC).convert("RGB").save(folder / "b_rgb.jpg")
    im(2).resize((40, 33)).save(folder / "sub" / "c_gray.png")
    im(3).convert("RGBA").resize((90, 90)).save(folder / "sub" / "deeper" / "d.PNG")
    (folder / "notes.txt").write_text("not an image")
    (folder / ".DS_Store").write_bytes(b"\0\1")
    return folder


@pytest.fixture(scope="module")
def transfer_run(mnist_dir, tiny_gan_run, tmp_path_factory):
    """A transfer classifier: the MLP head on the tiny GAN run's D features (a few seconds)."""
    from configs import fashion_mnist_classifier
    from ganjax.classifiers import transfer_classifier

    c = fashion_mnist_classifier.get_config("tiny")
    c.model.name, c.model.extractor = "transfer", f"discriminator:{tiny_gan_run}"
    c.data.manual_dir = str(mnist_dir)
    c.data.cache_dir = str(tmp_path_factory.mktemp("cache"))
    c.train.num_steps = 30
    workdir = tmp_path_factory.mktemp("transfer")
    transfer_classifier.train_and_evaluate(c, workdir)
    return workdir


@pytest.fixture(scope="module")
def celeba_run(tmp_path_factory):
    """A tiny CelebA (Male) classifier at 28 px on fixture faces (178x218 JPEGs)."""
    from configs import celeba_classifier

    data = fixtures.make_celeba(tmp_path_factory.mktemp("celeba"), n=12)
    c = celeba_classifier.get_config("tiny,res=28")
    c.data.manual_dir = str(data)
    c.data.cache_dir = str(tmp_path_factory.mktemp("cache"))
    c.train.batch_size, c.train.num_steps = 4, 4
    workdir = tmp_path_factory.mktemp("celeba_run")
    train.train_and_evaluate(c, workdir)
    return workdir, data


def _run_probabilities(workdir, images):
    """The run's network in inference mode, as its training scores the test split, applied to
    the pipeline's arrays (weights through the evaluation's loader; the forward pass here)."""
    from ganjax.evaluators import extractors
    from ganjax.models.classifier import ConvClassifier

    model_cfg, info = _config(workdir).model, json.loads((workdir / "data_info.json").read_text())
    model = ConvClassifier(
        info["num_classes"], tuple(model_cfg.widths), model_cfg.feature_dim, model_cfg.dropout
    )
    variables = extractors.load_classifier(workdir, "reference").variables
    x = np.asarray(images, np.float32) * (2.0 / 255.0) - 1.0
    logits, _ = model.apply(variables, x, train=False)
    return np.asarray(jax.nn.softmax(logits, -1))


def test_native_images_get_the_runs_own_predictions(tiny_classifier, fm_clf, fm_test, native_dir):
    clf = fm_clf
    assert clf.kind == "conv_classifier" and clf.image_shape == (28, 28, 1)
    assert clf.class_names[9] == "ankle boot"
    files = user_images.input_files(native_dir)
    predictions = classify.classify_files(clf, files, batch_size=24)  # 64 = 2 x 24 + a padded 16.
    want = _run_probabilities(tiny_classifier, fm_test["image"])
    got_index = np.array([p.index for p in predictions])
    np.testing.assert_array_equal(got_index, want.argmax(-1))
    np.testing.assert_allclose([p.probability for p in predictions], want.max(-1), atol=1e-5)
    assert [p.label for p in predictions[:3]] == [clf.class_names[k] for k in got_index[:3]]
    # Scored with the true labels, the run's own test accuracy (results.json), exactly.
    labels = {f"test_{i:03d}.png": int(y) for i, y in enumerate(fm_test["label"])}
    result = classify.score(predictions, labels)
    results = json.loads((tiny_classifier / "results.json").read_text())
    assert result.num_scored == 64 and result.accuracy == results["test_accuracy"]


def test_transfer_run_reproduces_its_test_accuracy(transfer_run, fm_test, native_dir):
    clf = restore.load_classifier(transfer_run)
    assert clf.kind == "transfer" and "D's last-block features" in clf.description
    predictions = classify.classify_files(clf, user_images.input_files(native_dir), batch_size=16)
    labels = {f"test_{i:03d}.png": int(y) for i, y in enumerate(fm_test["label"])}
    results = json.loads((transfer_run / "results.json").read_text())
    assert classify.score(predictions, labels).accuracy == results["test_accuracy"]
    probs = clf.predict(fm_test["image"][:5])
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    assert [p.probability for p in predictions[:5]] == pytest.approx(probs.max(-1), abs=1e-6)


def test_transfer_features_are_cached_by_network_and_images(tiny_gan_run, fm_test, tmp_path):
    from ganjax.classifiers import transfer_classifier

    spec = f"discriminator:{tiny_gan_run}"
    plain, _ = transfer_classifier.feature_network(spec, None, batch=8)
    cached, _ = transfer_classifier.feature_network(spec, None, batch=8, cache_dir=tmp_path)
    images = fm_test["image"][:10]  # Two calls of 8, the second padded.
    first = cached(images)
    np.testing.assert_allclose(first, plain(images), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(first[8:], plain(images[8:]), rtol=1e-5, atol=1e-6)
    (entry,) = (tmp_path / "transfer_features").iterdir()
    np.save(entry, first + 1)  # A hit reads the file instead of the network.
    np.testing.assert_array_equal(cached(images), first + 1)
    cached(images[::-1])  # Other images (here: another order): an entry of their own.
    assert len(list((tmp_path / "transfer_features").iterdir())) == 2


def test_frozen_networks_see_fixed_batches_within_their_bound(monkeypatch):
    """Every call gets the same batch (one compile), never more than the network's own bound
    (Inception: 100 at 299 px; 500 per call was OOM-killed beside other runs)."""
    import jax.numpy as jnp

    from ganjax.classifiers import transfer_classifier
    from ganjax.evaluators import extractors

    traced = []

    def apply_fn(v, x):
        traced.append(x.shape[0])  # Once per compile.
        return x.reshape(len(x), -1)[:, :3] * v["w"], jnp.zeros((len(x), 2))

    toy = extractors.FeatureExtractor(
        name="toy",
        weights="toy",
        weights_hash="0",
        feature_dim=3,
        num_classes=2,
        input_shape=None,
        preprocessing="",
        variables={"w": jnp.float32(2.0)},
        apply_fn=apply_fn,
        max_batch_per_device=4,
    )
    monkeypatch.setattr(extractors, "create_extractor", lambda spec, cfg, **kw: toy)
    featurize, desc = transfer_classifier.feature_network("toy", None, batch=500)
    images = np.arange(10 * 2 * 2, dtype=np.uint8).reshape(10, 2, 2, 1)
    got = featurize(images)  # Calls of 4, 4 and 2 + 2 padding.
    assert traced == [4] and desc == "toy features (toy)"
    want = (images.reshape(10, -1)[:, :3].astype(np.float32) * (2.0 / 255.0) - 1.0) * 2.0
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_transfer_run_refuses_a_changed_feature_network(transfer_run, tmp_path):
    copy = tmp_path / "transfer"
    shutil.copytree(transfer_run, copy)
    results = json.loads((copy / "results.json").read_text())
    results["extractor_description"] = results["extractor_description"].replace("step", "step 9")
    (copy / "results.json").write_text(json.dumps(results))
    with pytest.raises(ValueError, match="features changed since"):
        restore.load_classifier(copy)


def test_celeba_faces_get_the_pipelines_crop_and_names(celeba_run, tmp_path):
    workdir, data = celeba_run
    clf = restore.load_classifier(workdir)
    assert clf.dataset == "celeb_a" and clf.class_names == ("female", "male")
    # The dataset's own 178x218 JPEGs: the same arrays (and predictions) as the pipeline's.
    pipeline = load_split("celeb_a", "all", manual_dir=str(data), image_size=28, cache_dir=tmp_path)
    files = user_images.input_files(data / "img_align_celeba")
    np.testing.assert_array_equal(user_images.read_images(clf, files), pipeline["image"])
    predictions = classify.classify_files(clf, files)
    np.testing.assert_array_equal(
        [p.index for p in predictions], _run_probabilities(workdir, pipeline["image"]).argmax(-1)
    )
    assert {p.label for p in predictions} <= {"female", "male"}
    # Another size gets the pipeline's rule as it stands: the central 108 pixels, resized.
    face = Image.open(files[0][1]).convert("RGB")
    odd = face.resize((201, 173), Image.Resampling.BICUBIC)
    array, note = user_images.prepare(odd, "celeb_a", (28, 28, 3))
    np.testing.assert_array_equal(array, celeba.preprocess(np.asarray(odd), 28))
    assert "center 108-pixel crop" in note
    big, note = user_images.prepare(face.resize((356, 436)), "celeb_a", (28, 28, 3))
    assert "covers only 30% of the width" in note
    # Smaller than the crop: enlarged (aspect kept) until the short side is 108, then cropped.
    small, note = user_images.prepare(face.resize((60, 80)).convert("L"), "celeb_a", (28, 28, 3))
    assert small.shape == (28, 28, 3) and "enlarged to 108x144" in note


def test_odd_sizes_gray_rgb_and_subfolders(fm_clf, photos, fm_test, caplog):
    clf = fm_clf
    with caplog.at_level("INFO"):
        files = user_images.input_files(photos)
    names = [n for n, _ in files]
    # Recursive, sorted, relative names; the text file and the hidden file are skipped, noted.
    assert names == ["a_native.png", "b_rgb.jpg", "sub/c_gray.png", "sub/deeper/d.PNG"]
    assert "notes.txt" in caplog.text and ".DS_Store" in caplog.text
    arrays = user_images.read_images(clf, files)
    assert arrays.shape == (4, 28, 28, 1) and arrays.dtype == np.uint8
    np.testing.assert_array_equal(arrays[0], fm_test["image"][0])  # Native: untouched.
    # An RGB 201x173 JPEG: luma, then the whole image resized to 28x28 (bicubic).
    rgb = Image.open(photos / "b_rgb.jpg").convert("L")
    want = np.asarray(rgb.resize((28, 28), Image.Resampling.BICUBIC))[..., None]
    np.testing.assert_array_equal(arrays[1], want)
    predictions = classify.classify_files(clf, files, batch_size=3)
    np.testing.assert_allclose(
        [p.probability for p in predictions], clf.predict(arrays).max(-1), atol=1e-6
    )
    assert all(p.label in clf.class_names for p in predictions)


def test_labels_give_the_accuracy_over_the_labeled_files(tiny_classifier, fm_clf, photos, tmp_path):
    clf = fm_clf
    files = user_images.input_files(photos)
    predictions = classify.classify_files(clf, files)
    truth = {"a_native.png": "T-shirt/top", "b_rgb.jpg": "1", "sub/c_gray.png": "pullover"}
    path = tmp_path / "labels.csv"
    path.write_text("name,label\n" + "".join(f"{n},{v}\n" for n, v in truth.items()))
    labels = classify.read_labels(path, clf, [n for n, _ in files])
    assert labels == {"a_native.png": 0, "b_rgb.jpg": 1, "sub/c_gray.png": 2}
    result = classify.score(predictions, labels)
    want = np.mean([p.index == labels[p.name] for p in predictions if p.name in labels])
    assert (result.num_scored, result.num_unlabeled) == (3, 1)
    assert result.accuracy == pytest.approx(want)
    report = classify.write_score(
        tmp_path / "p.csv", result, labels=str(path), workdir=str(tiny_classifier)
    )
    assert json.loads(report.read_text())["accuracy"] == pytest.approx(want)


def test_user_errors_name_the_problem_and_the_fix(
    tiny_classifier, fm_clf, tiny_gan_run, photos, tmp_path
):
    with pytest.raises(
        ValueError,
        match=r"'gan' training run, not a classifier run; train one \(e\.g\. python -m "
        r"experiments\.train --config=configs/fashion_mnist_classifier\.py",
    ):
        restore.load_classifier(tiny_gan_run)
    with pytest.raises(FileNotFoundError, match="does not exist.*experiments.train"):
        restore.load_classifier(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"not a ganjax run folder \(no config.json\)"):
        restore.load_classifier(photos)
    # A folder holding classifier runs (e.g. a synthetic-pipeline run's stages): they are named.
    pipeline = tmp_path / "pipeline"
    shutil.copytree(tiny_classifier, pipeline / "classifier")
    (pipeline / "config.json").write_text(json.dumps({"task": "synthetic_pipeline", "data": {}}))
    with pytest.raises(
        ValueError,
        match=r"synthetic_pipeline run, not a classifier run; pass one of the classifier runs "
        r"inside it: .*pipeline/classifier",
    ):
        restore.load_classifier(pipeline)
    unfinished = tmp_path / "unfinished"
    shutil.copytree(tiny_classifier, unfinished)
    (unfinished / "results.json").unlink()
    with pytest.raises(ValueError, match="unfinished classifier run.*resumes"):
        restore.load_classifier(unfinished)
    with pytest.raises(FileNotFoundError, match="--input=.*does not exist"):
        user_images.input_files(tmp_path / "no_photos")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("x")
    with pytest.raises(FileNotFoundError, match="holds no images"):
        user_images.input_files(tmp_path / "empty")
    clf = fm_clf
    broken = tmp_path / "broken"
    shutil.copytree(photos, broken)
    (broken / "sub" / "zz_broken.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(OSError, match=r"zz_broken\.jpg is not a readable image"):
        classify.classify_files(clf, user_images.input_files(broken))
    labels = tmp_path / "labels.csv"
    labels.write_text("name,label\na_native.png,0\nmissing.png,1\nsub/gone.jpg,2\n")
    names = [n for n, _ in user_images.input_files(photos)]
    with pytest.raises(ValueError, match=r"names 2 file\(s\) that are not in --input: "):
        classify.read_labels(labels, clf, names)
    labels.write_text("name,label\na_native.png,sweater\nb_rgb.jpg,10\n")
    with pytest.raises(ValueError, match=r"line 2: 'sweater', line 3: '10'"):
        classify.read_labels(labels, clf, names)
    labels.write_text("file,class\na_native.png,0\n")
    with pytest.raises(ValueError, match="columns name,label"):
        classify.read_labels(labels, clf, names)


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "experiments.classify", *args],
        cwd=REPO,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_end_to_end(tiny_classifier, fm_clf, photos, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("name,label\na_native.png,t-shirt/top\nsub/c_gray.png,2\n")
    out = tmp_path / "out" / "predictions.csv"
    args = [f"--workdir={tiny_classifier}", f"--input={photos}", f"--out={out}"]
    proc = _cli(*args, f"--labels={labels}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = _read_csv(out)
    assert [r["name"] for r in rows] == [
        "a_native.png",
        "b_rgb.jpg",
        "sub/c_gray.png",
        "sub/deeper/d.PNG",
    ]
    predictions = classify.classify_files(fm_clf, user_images.input_files(photos))
    assert [r["label"] for r in rows] == [p.label for p in predictions]
    assert [float(r["probability"]) for r in rows] == pytest.approx(
        [p.probability for p in predictions], abs=1e-5
    )
    report = json.loads((tmp_path / "out" / "predictions.accuracy.json").read_text())
    want = np.mean([predictions[0].index == 0, predictions[2].index == 2])
    assert report["num_scored"] == 2 and report["accuracy"] == pytest.approx(want)
    assert f"Accuracy: {want:.4f}" in proc.stdout and "notes.txt" in proc.stderr
    labels.write_text("name,label\nmissing.png,0\n")
    proc = _cli(*args, f"--labels={labels}")
    assert proc.returncode == 1 and "ERROR:" in proc.stderr and "missing.png" in proc.stderr
    assert "Traceback" not in proc.stderr
