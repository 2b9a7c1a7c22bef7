"""pix2pix / CycleGAN networks, losses and image pool: shapes, parameter counts and outputs against
PyTorch twins of the authors' networks (benchmarks/torch/translation_nets.py), measured
receptive fields, losses against numpy, and the history buffer against its specification."""

import collections

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from benchmarks.torch import translation_nets as tnets
from ganjax.methods import image_pool
from ganjax.models import instance_norm, patchgan, resnet_generator, unet
from ganjax.objectives import translation_losses

count_params = lambda tree: sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def _init_shapes(module, shape):
    """Variables of `module` for an input of `shape`, as shapes only (no compute)."""
    return jax.eval_shape(lambda: module.init(jax.random.key(0), jnp.zeros(shape), train=False))


def _random_variables(module, shape, seed=0):
    """Variables for an input of `shape` without running `init` (eager `init` through the
    custom-gradient kernels is slow): shapes from eval_shape, N(0, 0.1^2) parameters, batch-norm
    running statistics 0 / 1."""
    rng = np.random.default_rng(seed)

    def fill(path, leaf):
        name = path[-1].key
        if name in ("mean", "var"):
            return np.full(leaf.shape, float(name == "var"), np.float32)
        return (0.1 * rng.normal(size=leaf.shape)).astype(np.float32)

    return jax.tree_util.tree_map_with_path(fill, _init_shapes(module, shape))


# Shapes do not depend on the convolution implementation (ops_test.py checks that they all agree);
# lax's runs fast eagerly. The comparisons with PyTorch below use the default ("auto") kernels.
LAX = dict(conv_impl="lax", conv_transpose_impl="direct")


def _torch_count(build):
    with torch.device("meta"):  # Shapes only: no memory, no init.
        return tnets.param_count(build())


# --- Shapes and parameter counts ------------------------------------------------------------


@pytest.mark.parametrize(
    "size,num_downs,pad", [(28, 2, False), (28, 5, True), (64, 6, False), (32, 5, False)]
)
def test_unet_shapes(size, num_downs, pad):
    g = unet.UNetGenerator(out_channels=2, num_downs=num_downs, ngf=4, pad_to_fit=pad, **LAX)
    x = jax.random.normal(jax.random.key(0), (2, size, size, 3))
    variables = _random_variables(g, x.shape)
    y = g.apply(variables, x, train=False)
    assert y.shape == (2, size, size, 2)
    assert float(jnp.abs(y).max()) <= 1.0
    # One stride-2 kernel per level, widths ngf * min(2^i, 8).
    kernels = [variables["params"][f"down_{i}"]["kernel"].shape[-1] for i in range(num_downs)]
    assert kernels == unet.unet_widths(num_downs, 4)


def test_unet_rejects_unfit_size():
    g = unet.UNetGenerator(num_downs=5, ngf=4)
    with pytest.raises(ValueError, match="divisible by 32"):
        g.init(jax.random.key(0), jnp.zeros((1, 28, 28, 3)), train=False)


def test_unet256_matches_authors():
    """unet_256 = UnetGenerator(3, 3, 8, ngf=64, batch norm): 54.414 M parameters, 256 -> 256."""
    g = unet.UNetGenerator(num_downs=8, ngf=64, norm="batch")
    variables = _init_shapes(g, (1, 256, 256, 3))
    out = jax.eval_shape(lambda v: g.apply(v, jnp.zeros((1, 256, 256, 3)), train=False), variables)
    assert out.shape == (1, 256, 256, 3)
    torch_count = _torch_count(lambda: tnets.unet_generator(3, 3, 8, 64, "batch", dropout=True))
    assert round(torch_count / 1e6, 3) == 54.414
    assert count_params(variables["params"]) == torch_count
    # Instance norm: no norm parameters, but biases on every convolution.
    g_in = unet.UNetGenerator(num_downs=8, ngf=64, norm="instance")
    count_in = _torch_count(lambda: tnets.unet_generator(3, 3, 8, 64, "instance"))
    assert count_params(_init_shapes(g_in, (1, 256, 256, 3))["params"]) == count_in


@pytest.mark.parametrize("size", [28, 64])
def test_resnet_generator_shapes(size):
    g = resnet_generator.ResNetGenerator(out_channels=3, ngf=4, num_blocks=2, **LAX)
    x = jax.random.normal(jax.random.key(0), (2, size, size, 1))
    y = g.apply(_random_variables(g, x.shape), x, train=False)
    assert y.shape == (2, size, size, 3)
    assert float(jnp.abs(y).max()) <= 1.0
    with pytest.raises(ValueError, match="multiples of 4"):
        g.init(jax.random.key(0), jnp.zeros((1, 30, 30, 1)), train=False)


def test_resnet9_matches_authors():
    """resnet_9blocks with instance norm: 11.378 M parameters, 256 -> 256."""
    g = resnet_generator.ResNetGenerator(ngf=64, num_blocks=9, norm="instance")
    variables = _init_shapes(g, (1, 256, 256, 3))
    assert "batch_stats" not in variables  # Instance norm keeps no running statistics.
    out = jax.eval_shape(lambda v: g.apply(v, jnp.zeros((1, 256, 256, 3)), train=False), variables)
    assert out.shape == (1, 256, 256, 3)
    torch_count = _torch_count(lambda: tnets.resnet_generator(3, 3, 64, 9, "instance"))
    assert round(torch_count / 1e6, 3) == 11.378
    assert count_params(variables["params"]) == torch_count
    g6 = resnet_generator.ResNetGenerator(ngf=64, num_blocks=6, norm="batch")
    count6 = _torch_count(lambda: tnets.resnet_generator(3, 3, 64, 6, "batch"))
    assert count_params(_init_shapes(g6, (1, 128, 128, 3))["params"]) == count6


def test_discriminators_match_authors():
    """pix2pix's 70x70 PatchGAN on (input, output) pairs: NLayerDiscriminator(6, 64, 3, batch),
    2.769 M parameters, a 30x30 logit map at 256 px; PixelGAN keeps the input size."""
    d = patchgan.PatchGANDiscriminator(ndf=64, n_layers=3, norm="batch")
    variables = _init_shapes(d, (1, 256, 256, 6))
    out = jax.eval_shape(lambda v: d.apply(v, jnp.zeros((1, 256, 256, 6)), train=False), variables)
    assert out.shape == (1, 30, 30, 1)
    torch_count = _torch_count(lambda: tnets.n_layer_discriminator(6, 64, 3, "batch"))
    assert round(torch_count / 1e6, 3) == 2.769
    assert count_params(variables["params"]) == torch_count
    # The ImageGAN: 5 stride-2 layers, a 286 px receptive field, a 6x6 map at 256 px.
    assert patchgan.image_gan_layers(256) == 5 and patchgan.receptive_field(5) == 286
    d5 = patchgan.PatchGANDiscriminator(ndf=64, n_layers=5, norm="instance")
    v5 = _init_shapes(d5, (1, 256, 256, 6))
    out5 = jax.eval_shape(lambda v: d5.apply(v, jnp.zeros((1, 256, 256, 6)), train=False), v5)
    assert out5.shape == (1, 6, 6, 1)
    assert count_params(v5["params"]) == _torch_count(
        lambda: tnets.n_layer_discriminator(6, 64, 5, "instance")
    )
    p = patchgan.PixelGANDiscriminator(ndf=64)
    vp = _init_shapes(p, (1, 28, 28, 6))
    assert count_params(vp["params"]) == _torch_count(lambda: tnets.pixel_discriminator(6, 64))
    outp = jax.eval_shape(lambda v: p.apply(v, jnp.zeros((1, 28, 28, 6)), train=False), vp)
    assert outp.shape == (1, 28, 28, 1)
    pair = patchgan.conditional_input(jnp.zeros((1, 8, 8, 3)), jnp.ones((1, 8, 8, 3)))
    assert pair.shape == (1, 8, 8, 6) and float(pair[..., :3].sum()) == 0.0


# --- Outputs against the PyTorch twins ------------------------------------------------------


def _flax_variables(torch_layers, names, shapes):
    """The torch layers' weights as flax variables (`shapes` from eval_shape), layer i at the
    module path names[i]; every variable must be set."""
    params = jax.tree.map(lambda x: x, shapes["params"])  # A copy of the nested dicts.
    stats = jax.tree.map(lambda x: x, shapes.get("batch_stats", {}))
    assert len(torch_layers) == len(names)
    for layer, path in zip(torch_layers, names):
        node = params
        for part in path.split("/"):
            node = node[part]
        w = layer.weight.detach().numpy()
        if isinstance(layer, torch.nn.BatchNorm2d):
            node["scale"], node["bias"] = w, layer.bias.detach().numpy()
            sub = stats
            for part in path.split("/"):
                sub = sub[part]
            sub["mean"] = layer.running_mean.numpy().copy()
            sub["var"] = layer.running_var.numpy().copy()
            continue
        # Conv2d [out, in, kh, kw] -> HWIO; ConvTranspose2d [in, out, kh, kw] -> [kh, kw, in, out].
        perm = (2, 3, 0, 1) if isinstance(layer, torch.nn.ConvTranspose2d) else (2, 3, 1, 0)
        assert node["kernel"].shape == w.transpose(perm).shape, path
        node["kernel"] = w.transpose(perm)
        assert ("bias" in node) == (layer.bias is not None), path
        if layer.bias is not None:
            node["bias"] = layer.bias.detach().numpy()
    out = {"params": params}
    if stats:
        out["batch_stats"] = stats
    assert all(isinstance(leaf, np.ndarray) for leaf in jax.tree.leaves(out))
    assert jax.tree.map(lambda a: tuple(a.shape), out) == jax.tree.map(lambda a: a.shape, shapes)
    return out


def _randomize(net, seed):
    """Non-trivial batch-norm affine parameters and running statistics (conv weights keep
    PyTorch's default init, which keeps activations O(1))."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(0.5 + torch.rand(c, generator=gen))
                m.bias.copy_(0.3 * torch.randn(c, generator=gen))
                m.running_mean.copy_(0.2 * torch.randn(c, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(c, generator=gen))
    return net


def _compare(module, torch_net, names, x_nhwc, train):
    shapes = _init_shapes(module, x_nhwc.shape)
    variables = _flax_variables(tnets.weighted_layers(torch_net), names, shapes)
    torch_net.train(train)
    with torch.no_grad():
        expected = torch_net(torch.from_numpy(x_nhwc.transpose(0, 3, 1, 2))).numpy()
    apply = lambda v, x: module.apply(v, x, train=train, mutable=["batch_stats"] if train else [])
    got, _ = jax.jit(apply)(variables, jnp.asarray(x_nhwc))
    expected = expected.transpose(0, 2, 3, 1)
    assert got.shape == expected.shape
    assert expected.std() > 0.05  # The comparison is not between near-constant outputs.
    np.testing.assert_allclose(np.asarray(got), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("norm,train", [("batch", True), ("batch", False), ("instance", True)])
def test_patchgan_matches_torch(norm, train):
    torch.manual_seed(0)
    net = _randomize(tnets.n_layer_discriminator(6, 8, 3, norm), 1)
    names = ["conv_0"]
    for i in range(1, 4):
        names += [f"conv_{i}"] + ([f"norm_{i}"] if norm == "batch" else [])
    names.append("conv_4")
    x = np.random.default_rng(0).normal(size=(2, 64, 64, 6)).astype(np.float32)
    d = patchgan.PatchGANDiscriminator(ndf=8, n_layers=3, norm=norm)
    _compare(d, net, names, x, train)


def test_pixelgan_matches_torch():
    torch.manual_seed(0)
    net = _randomize(tnets.pixel_discriminator(6, 8, "batch"), 1)
    x = np.random.default_rng(0).normal(size=(2, 16, 16, 6)).astype(np.float32)
    d = patchgan.PixelGANDiscriminator(ndf=8, norm="batch")
    _compare(d, net, ["conv_0", "conv_1", "norm_1", "conv_2"], x, train=True)


@pytest.mark.parametrize("norm", ["instance", "batch"])
def test_resnet_generator_matches_torch(norm):
    torch.manual_seed(0)
    net = _randomize(tnets.resnet_generator(3, 3, 4, 2, norm), 1)
    bn = norm == "batch"
    names = ["conv_in"] + ["norm_in"] * bn
    for i in range(2):
        names += [f"down_{i}"] + [f"down_norm_{i}"] * bn
    for b in range(2):
        names += [f"block_{b}/conv_0"] + [f"block_{b}/norm_0"] * bn
        names += [f"block_{b}/conv_1"] + [f"block_{b}/norm_1"] * bn
    for i in range(2):
        names += [f"up_{i}"] + [f"up_norm_{i}"] * bn
    names.append("conv_out")
    x = np.random.default_rng(0).normal(size=(2, 20, 20, 3)).astype(np.float32)
    g = resnet_generator.ResNetGenerator(ngf=4, num_blocks=2, norm=norm)
    _compare(g, net, names, x, train=True)


@pytest.mark.parametrize("norm,train", [("batch", True), ("batch", False), ("instance", True)])
def test_unet_matches_torch(norm, train):
    torch.manual_seed(0)
    n = 6  # One middle ngf * 8 block (the one that would carry dropout).
    net = _randomize(tnets.unet_generator(3, 3, n, 4, norm), 1)
    bn = norm == "batch"
    # Forward (= registration) order of the nested blocks: down_0, down_1, norm_1, ..., the
    # innermost down and up, then the decoder back out.
    names = ["down_0"]
    for i in range(1, n - 1):
        names += [f"down_{i}"] + [f"down_norm_{i}"] * bn
    names.append(f"down_{n - 1}")
    for i in range(n - 1, 0, -1):
        names += [f"up_{i}"] + [f"up_norm_{i}"] * bn
    names.append("up_0")
    x = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype(np.float32)
    g = unet.UNetGenerator(num_downs=n, ngf=4, norm=norm, use_dropout=False)
    _compare(g, net, names, x, train)


def test_unet_dropout_is_the_noise():
    """With dropout (the authors' num_downs - 5 blocks), train-mode outputs depend on the
    "dropout" RNG; evaluation mode is deterministic."""
    g = unet.UNetGenerator(num_downs=6, ngf=4)
    assert g._dropout_levels() == {4}
    x = jax.random.normal(jax.random.key(0), (1, 64, 64, 3))
    v = _random_variables(g, x.shape)
    run = jax.jit(
        lambda k: g.apply(v, x, train=True, rngs={"dropout": k}, mutable=["batch_stats"])[0]
    )
    a, b, a2 = run(jax.random.key(2)), run(jax.random.key(3)), run(jax.random.key(2))
    assert float(jnp.abs(a - b).max()) > 1e-4
    np.testing.assert_array_equal(np.asarray(a), np.asarray(a2))
    no_drop = unet.UNetGenerator(num_downs=6, ngf=4, use_dropout=False)
    assert no_drop._dropout_levels() == set()
    with pytest.raises(ValueError, match="num_dropout_blocks"):
        unet.UNetGenerator(num_downs=6, num_dropout_blocks=5)._dropout_levels()


# --- Receptive fields -----------------------------------------------------------------------


def _receptive_extent(module, size, channels=6):
    """Rows and columns of the input that one central output pixel depends on."""
    x = jax.random.normal(jax.random.key(0), (1, size, size, channels))
    v = _random_variables(module, x.shape)
    out_hw = jax.eval_shape(lambda: module.apply(v, x, train=False)).shape[1]
    c = out_hw // 2
    grad = jax.jit(jax.grad(lambda x: module.apply(v, x, train=False)[0, c, c, 0]))(x)
    rows = np.nonzero(np.abs(np.asarray(grad[0])).sum(axis=(1, 2)))[0]
    cols = np.nonzero(np.abs(np.asarray(grad[0])).sum(axis=(0, 2)))[0]
    # The field must lie inside the image, or the border would clip it.
    assert rows.min() > 0 and rows.max() < size - 1 and cols.min() > 0 and cols.max() < size - 1
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


@pytest.mark.parametrize("n_layers,size", [(1, 64), (3, 128), (5, 320)])
def test_patchgan_receptive_field(n_layers, size):
    """Measured: 16 (n_layers 1), 70 (the default 70x70 PatchGAN), 286 (the ImageGAN)."""
    d = patchgan.PatchGANDiscriminator(ndf=2, n_layers=n_layers, conv_impl="lax")
    expected = {1: 16, 3: 70, 5: 286}[n_layers]
    assert patchgan.receptive_field(n_layers) == expected
    assert _receptive_extent(d, size) == (expected, expected)


def test_pixelgan_receptive_field():
    assert _receptive_extent(patchgan.PixelGANDiscriminator(ndf=4, conv_impl="lax"), 16) == (1, 1)


def test_instance_norm():
    x = jax.random.normal(jax.random.key(0), (2, 5, 7, 3)) * 3.0 + 1.0
    y = instance_norm.InstanceNorm().apply({}, x)
    xn = np.asarray(x)
    mean = xn.mean(axis=(1, 2), keepdims=True)
    ref = (xn - mean) / np.sqrt(xn.var(axis=(1, 2), keepdims=True) + 1e-5)
    np.testing.assert_allclose(np.asarray(y), ref, atol=1e-5)
    expected = torch.nn.InstanceNorm2d(3)(torch.tensor(xn.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(np.asarray(y), expected.numpy().transpose(0, 2, 3, 1), atol=1e-5)
    affine = instance_norm.InstanceNorm(affine=True)
    assert count_params(affine.init(jax.random.key(0), x)["params"]) == 6


# --- Losses ---------------------------------------------------------------------------------


def test_reconstruction_losses():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 3, 4, 3)), rng.normal(size=(2, 3, 4, 3))
    l1 = np.mean(np.abs(a - b))
    L = translation_losses
    assert float(L.l1_loss(prediction=jnp.asarray(a), target=jnp.asarray(b))) == pytest.approx(l1)
    cyc = L.cycle_consistency_loss(
        reconstruction=jnp.asarray(a), original=jnp.asarray(b), weight=10
    )
    assert float(cyc) == pytest.approx(10 * l1, rel=1e-6)
    idt = L.identity_loss(mapped=jnp.asarray(a), original=jnp.asarray(b), weight=5.0)
    assert float(idt) == pytest.approx(5 * l1, rel=1e-6)


def test_gan_losses():
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(2, 30, 30, 1)), rng.normal(size=(2, 30, 30, 1))
    L = translation_losses
    r, f = jnp.asarray(real), jnp.asarray(fake)
    # LSGAN: MSE to 1 / 0; D's loss halved.
    d, parts = L.patch_discriminator_loss(real_outputs=r, fake_outputs=f, gan_mode="lsgan")
    assert float(parts["loss_real"]) == pytest.approx(np.mean((real - 1) ** 2), rel=1e-6)
    assert float(parts["loss_fake"]) == pytest.approx(np.mean(fake**2), rel=1e-6)
    assert float(d) == pytest.approx(0.5 * (np.mean((real - 1) ** 2) + np.mean(fake**2)), rel=1e-6)
    g = L.patch_generator_loss(fake_outputs=f, gan_mode="lsgan")
    assert float(g) == pytest.approx(np.mean((fake - 1) ** 2), rel=1e-6)
    # Vanilla: BCE with logits.
    sig = lambda z: 1 / (1 + np.exp(-z))
    bce_real = np.mean(-np.log(sig(real)))
    bce_fake = np.mean(-np.log(1 - sig(fake)))
    d, parts = L.patch_discriminator_loss(real_outputs=r, fake_outputs=f, gan_mode="vanilla")
    assert float(d) == pytest.approx(0.5 * (bce_real + bce_fake), rel=1e-5)
    g = L.patch_generator_loss(fake_outputs=f, gan_mode="vanilla")
    assert float(g) == pytest.approx(np.mean(-np.log(sig(fake))), rel=1e-5)
    with pytest.raises(ValueError, match="gan_mode"):
        L.gan_loss(outputs=f, target_is_real=True, gan_mode="wgan")


# --- Image pool -----------------------------------------------------------------------------


def _ids(images):
    """Images are constant maps; their value is their id."""
    return [int(v) for v in np.asarray(images)[:, 0, 0, 0]]


def _batch(ids):
    return jnp.broadcast_to(jnp.asarray(ids, jnp.float32)[:, None, None, None], (len(ids), 2, 2, 1))


def test_image_pool_fills_then_swaps():
    state = image_pool.init_pool(5, (2, 2, 1))
    query = jax.jit(image_pool.query)
    state, out = query(state, _batch([1, 2, 3]), jax.random.key(0))
    assert _ids(out) == [1, 2, 3] and int(state.count) == 3
    state, out = query(state, _batch([4, 5, 6]), jax.random.key(1))
    assert _ids(out)[:2] == [4, 5] and int(state.count) == 5
    assert _ids(out)[2] in (6, 1, 2, 3, 4, 5)
    # Conservation: what leaves (returned) plus what stays equals what was there plus what came.
    swapped, total = 0, 0
    slots_hit = set()
    for step in range(100):
        new = list(range(100 + 20 * step, 120 + 20 * step))
        pool_before = _ids(state.images)
        state, out = query(state, _batch(new), jax.random.key(10 + step))
        pool_after = _ids(state.images)
        returned = _ids(out)
        assert collections.Counter(pool_before) + collections.Counter(new) == (
            collections.Counter(pool_after) + collections.Counter(returned)
        )
        for q, r in zip(new, returned):
            assert r == q or r in pool_before or r in new[: new.index(q)]
            swapped += r != q
            total += 1
        slots_hit |= {i for i, (p, a) in enumerate(zip(pool_before, pool_after)) if p != a}
    assert int(state.count) == 5  # Stays full.
    assert 0.45 < swapped / total < 0.55  # Probability 0.5 per image (2000 draws).
    assert slots_hit == set(range(5))  # Uniform slot choice reaches every slot.


def test_image_pool_size_zero_and_determinism():
    state = image_pool.init_pool(0, (2, 2, 1))
    x = _batch([7, 8])
    new_state, out = image_pool.query(state, x, jax.random.key(0))
    assert out is x and new_state.images.shape == (0, 2, 2, 1)
    state = image_pool.init_pool(3, (2, 2, 1))
    state, _ = image_pool.query(state, _batch([1, 2, 3]), jax.random.key(0))
    x = _batch(list(range(10, 30)))
    s1, o1 = jax.jit(image_pool.query)(state, x, jax.random.key(5))
    s2, o2 = image_pool.query(state, x, jax.random.key(5))
    np.testing.assert_array_equal(np.asarray(o1), np.asarray(o2))
    np.testing.assert_array_equal(np.asarray(s1.images), np.asarray(s2.images))
    _, o3 = image_pool.query(state, x, jax.random.key(6))
    assert _ids(o3) != _ids(o1)  # Another key, other draws (20 coin flips).
    # The pool state is a PyTree of arrays (checkpointable, donatable).
    leaves = jax.tree.leaves(s1)
    assert [leaf.dtype for leaf in leaves] == [jnp.float32, jnp.int32]
