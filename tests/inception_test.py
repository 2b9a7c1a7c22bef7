"""FID Inception: the torch-free .pth reader, the converter, the Flax port against a torch twin.

The network always resizes to 299 x 299 (~6 GFLOP per image), so forwards use batch 2 and one
input shape, and the jitted apply is shared by every test that runs the network.

Tolerance for Flax vs torch: |jax - torch| <= 1e-4 * |torch| + 1e-4 * max|torch|. Both compute
in float32 through ~50 layers, and differ only in summation order (a few 1e-7 relative per
layer). A relative-only test would trip on near-zero features; scaling the absolute part by the
feature magnitude keeps it meaningful for any weights. A wrong layout, padding or pooling moves
features by O(max|torch|), far outside it.
"""

import pathlib
import pickle
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from ganjax.evaluators import inception_weights as iw
from ganjax.models.inception import FIDInceptionV3, resize_bilinear

_LEAF_TO_TORCH = {"scale": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var"}


@pytest.fixture(scope="module")
def apply_fn():
    return jax.jit(FIDInceptionV3().apply, static_argnames="unbiased_logits")


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """Two [0, 1] NCHW images at 75 x 75 (the network upsizes them to 299)."""
    return np.random.default_rng(0).random((2, 3, 75, 75), dtype=np.float32)


def _to_flax_input(images_nchw: np.ndarray) -> jax.Array:
    # pytorch-fid's [0, 1] NCHW -> our [-1, 1] NHWC.
    return jnp.asarray(2.0 * images_nchw.transpose(0, 2, 3, 1) - 1.0)


def _assert_features_close(jax_out, torch_out) -> None:
    for got, want in zip(jax_out, torch_out):
        want = want.detach().numpy()
        np.testing.assert_allclose(
            np.asarray(got), want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max())
        )


def _synthetic_state_dict(seed: int = 0) -> dict[str, np.ndarray]:
    """A pytorch-fid-keyed state dict built without torch, from the Flax tree's shapes."""
    rng = np.random.default_rng(seed)
    out = {}
    for key, shape in iw.expected_shapes().items():
        _, *modules, leaf = key.split("/")
        if leaf == "kernel":
            name = ".".join(modules) + ".weight"
            shape = (shape[3], shape[2], shape[0], shape[1]) if len(shape) == 4 else shape[::-1]
        else:
            name = ".".join(modules) + "." + _LEAF_TO_TORCH[leaf]
        out[name] = rng.standard_normal(shape).astype(np.float32)
    return out


@pytest.fixture(scope="module")
def torch_pair(tmp_path_factory):
    """(twin module, random state dict, zip .pth path, legacy .pth path)."""
    torch = pytest.importorskip("torch")
    from benchmarks.torch import inception as torch_inception

    state = torch_inception.random_state_dict(seed=1)
    folder = tmp_path_factory.mktemp("inception")
    torch.save(state, folder / "zip.pth")
    torch.save(state, folder / "legacy.pth", _use_new_zipfile_serialization=False)
    model = torch_inception.load_weights(torch_inception.FIDInceptionV3(), state)
    return model, state, folder / "zip.pth", folder / "legacy.pth"


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_read_torch_state_dict_matches_torch(torch_pair, fmt):
    _, state, zip_path, legacy_path = torch_pair
    got = iw.read_torch_state_dict(zip_path if fmt == "zip" else legacy_path)
    assert list(got) == list(state)
    for key, tensor in state.items():
        want = tensor.numpy()
        assert got[key].dtype == want.dtype and got[key].shape == want.shape, key
        np.testing.assert_array_equal(got[key], want, err_msg=key)


def test_read_torch_state_dict_strided_and_shared_storage(tmp_path):
    torch = pytest.importorskip("torch")
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    state = {"t": base.t(), "slice": base[1:3, 2:5], "half": base.half(), "long": torch.arange(3)}
    torch.save(state, tmp_path / "s.pth")
    got = iw.read_torch_state_dict(tmp_path / "s.pth")
    for key, tensor in state.items():
        np.testing.assert_array_equal(got[key], tensor.numpy(), err_msg=key)
        assert got[key].dtype == tensor.numpy().dtype


def test_flax_port_matches_torch_twin(torch_pair, images, apply_fn):
    import torch

    model, _, zip_path, _ = torch_pair
    variables = iw.load_inception_params(zip_path)
    with torch.no_grad():
        want = model(torch.from_numpy(images))
    got = apply_fn(variables, _to_flax_input(images))
    assert got[0].shape == (2, 2048) and got[1].shape == (2, 1008)
    _assert_features_close(got, want)
    # Unbiased logits (torch-fidelity's IS) are the biased ones minus the fc bias.
    _, unbiased = apply_fn(variables, _to_flax_input(images), unbiased_logits=True)
    np.testing.assert_allclose(
        unbiased, got[1] - variables["params"]["fc"]["bias"], rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("in_shape", [(32, 32), (75, 40), (500, 420)], ids=["up", "mixed", "down"])
def test_resize_matches_torch_bilinear(in_shape):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).standard_normal((2, 3, *in_shape), dtype=np.float32)
    want = torch.nn.functional.interpolate(
        torch.from_numpy(x), size=(299, 299), mode="bilinear", align_corners=False
    ).numpy()
    got = np.asarray(resize_bilinear(jnp.asarray(x.transpose(0, 2, 3, 1)))).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, want, atol=2e-5)
    if in_shape[0] > 299:  # antialiasing changes downsizing: the flag must stay False
        smooth = jax.image.resize(
            jnp.asarray(x.transpose(0, 2, 3, 1)), (2, 299, 299, 3), "bilinear", antialias=True
        )
        assert np.abs(np.asarray(smooth).transpose(0, 3, 1, 2) - want).max() > 0.1


def test_convert_save_load_npz_round_trip(tmp_path):
    state = _synthetic_state_dict()
    variables = iw.convert_pytorch_fid_state_dict(state)
    kernel = variables["params"]["Mixed_6b"]["branch7x7_2"]["conv"]["kernel"]
    torch_weight = state["Mixed_6b.branch7x7_2.conv.weight"]  # [out, in, kh, kw] = [128,128,1,7]
    np.testing.assert_array_equal(kernel, torch_weight.transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(variables["params"]["fc"]["kernel"], state["fc.weight"].T)
    np.testing.assert_array_equal(
        variables["batch_stats"]["Mixed_7c"]["branch_pool"]["bn"]["var"],
        state["Mixed_7c.branch_pool.bn.running_var"],
    )
    iw.save_converted(variables, tmp_path / "w.npz")
    loaded = iw.load_inception_params(tmp_path / "w.npz")
    flat, flat_loaded = (traverse_util.flatten_dict(v, sep="/") for v in (variables, loaded))
    assert flat.keys() == flat_loaded.keys()
    for key in flat:
        np.testing.assert_array_equal(flat[key], flat_loaded[key])
    assert iw.weights_hash(loaded) == iw.weights_hash(variables)
    assert len(iw.weights_hash(variables)) == 16
    state["fc.bias"] = state["fc.bias"] + 1.0
    assert iw.weights_hash(iw.convert_pytorch_fid_state_dict(state)) != iw.weights_hash(variables)


def test_convert_names_missing_unexpected_and_misshaped_keys():
    state = _synthetic_state_dict()
    del state["Mixed_6c.branch7x7dbl_3.bn.running_mean"]
    with pytest.raises(ValueError, match=r"Mixed_6c\.branch7x7dbl_3\.bn\.running_mean"):
        iw.convert_pytorch_fid_state_dict(state)
    state = _synthetic_state_dict()
    state["AuxLogits.fc.weight"] = np.zeros((1008, 768), np.float32)
    with pytest.raises(ValueError, match=r"unexpected keys \['AuxLogits\.fc\.weight'\]"):
        iw.convert_pytorch_fid_state_dict(state)
    state = _synthetic_state_dict()
    state["fc.weight"] = np.zeros((1000, 2048), np.float32)  # torchvision's 1000 classes
    with pytest.raises(ValueError, match=r"fc\.weight: \(1000, 2048\)"):
        iw.convert_pytorch_fid_state_dict(state)
    state = _synthetic_state_dict()
    state["Conv2d_1a_3x3.bn.num_batches_tracked"] = np.zeros((), np.int64)  # ignored
    iw.convert_pytorch_fid_state_dict(state)


class _RunsCode:
    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path("/nonexistent/pwned"),))


@pytest.mark.parametrize("kind", ["text", "plain_pickle", "zip_without_pkl", "zip_evil_global"])
def test_read_rejects_files_that_are_not_torch_state_dicts(tmp_path, kind):
    path = tmp_path / "bad.pth"
    if kind == "text":
        path.write_text("not a checkpoint")
    elif kind == "plain_pickle":
        path.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    else:
        with zipfile.ZipFile(path, "w") as zf:
            if kind == "zip_without_pkl":
                zf.writestr("archive/version", "3")
            else:
                zf.writestr("archive/data.pkl", pickle.dumps({"x": _RunsCode()}))
    with pytest.raises(ValueError, match="bad.pth"):
        iw.read_torch_state_dict(path)


def test_resolve_weights_not_found_message(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv(iw.ENV_VAR, raising=False)
    with pytest.raises(FileNotFoundError) as info:
        iw.resolve_inception_weights("")
    message = str(info.value)
    for part in (
        iw.PT_INCEPTION_FILENAME,
        "GANJAX_INCEPTION_WEIGHTS",
        iw.PT_INCEPTION_URL,
        "config.eval.inception_weights",
        str(tmp_path / ".cache/ganjax/inception"),
    ):
        assert part in message
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        iw.resolve_inception_weights(str(tmp_path / "missing.pth"))


def test_resolve_weights_order(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    cached = tmp_path / ".cache/ganjax/inception" / iw.PT_INCEPTION_FILENAME
    cached.parent.mkdir(parents=True)
    cached.touch()
    from_env, explicit = tmp_path / "env.npz", tmp_path / "explicit.npz"
    from_env.touch()
    explicit.touch()
    monkeypatch.delenv(iw.ENV_VAR, raising=False)
    assert iw.resolve_inception_weights("") == cached
    monkeypatch.setenv(iw.ENV_VAR, str(from_env))
    assert iw.resolve_inception_weights("") == from_env
    assert iw.resolve_inception_weights(str(explicit)) == explicit


def test_read_torchscript_tensors_matches_the_scripted_modules_state_dict(tmp_path):
    """A TorchScript archive is read without torch: every tensor, named as state_dict names it."""
    torch = pytest.importorskip("torch")

    class Layer(torch.nn.Module):
        def __init__(self, n):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.randn(n, 3, 3, 3))
            self.beta = torch.nn.Parameter(torch.randn(n))
            self.register_buffer("mean", torch.randn(n))
            self.stride = 2

        def forward(self, x):
            return torch.conv2d(x, self.weight, None, [self.stride, self.stride]) + self.mean[
                None, :, None, None
            ]

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.Sequential(Layer(4), torch.nn.ReLU())
            self.conv_1 = Layer(5)

        def forward(self, x):
            return self.layers(x).sum() + self.conv_1(x).sum()

    module = torch.jit.script(Net())
    path = tmp_path / "net.pt"
    module.save(str(path))
    got = iw.read_torchscript_tensors(path)
    want = module.state_dict()
    assert list(got) == list(want)
    for name, tensor in want.items():
        np.testing.assert_array_equal(got[name], tensor.numpy(), err_msg=name)
    with pytest.raises(ValueError, match="not a TorchScript archive"):
        iw.read_torchscript_tensors(_write_state_dict_zip(tmp_path))


def _write_state_dict_zip(tmp_path) -> pathlib.Path:
    torch = pytest.importorskip("torch")
    path = tmp_path / "state.pth"
    torch.save({"w": torch.zeros(2)}, path)
    return path


def test_torchscript_names_map_onto_every_flax_variable_once():
    """Every one of the file's 376 tensor names maps to a distinct Flax variable (no fc)."""
    names = []
    stem = ["conv", "conv_1", "conv_2", "conv_3", "conv_4"]
    blocks = {
        "A": ["mixed", "mixed_1", "mixed_2"], "B": ["mixed_3"],
        "C": ["mixed_4", "mixed_5", "mixed_6", "mixed_7"], "D": ["mixed_8"],
        "E": ["mixed_9", "mixed_10"],
    }
    layers = [f"net.layers.{c}" for c in stem]
    for kind, block_names in blocks.items():
        for b in block_names:
            layers += [f"net.layers.{b}.{layer}" for layer in iw._TS_LAYERS[kind]]
    for layer in layers:
        names += [f"{layer}.{leaf}" for leaf in ("weight", "beta", "mean", "var")]
    assert len(names) == 376
    keys = [iw._torchscript_flax_key(n) for n in names]
    want = iw.expected_shapes(with_logits=False)
    assert None not in keys and len(set(keys)) == len(keys)
    assert set(keys) == {k for k in want if not k.endswith("/bn/scale")}
    assert iw._torchscript_flax_key("net.layers.mixed_9.tower_mixed_conv.weight") == (
        "params/Mixed_7b/branch3x3_2a/conv/kernel"
    )
