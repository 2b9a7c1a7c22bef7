"""PyTorch versions of ganjax's benchmark networks, for side-by-side speed comparisons only.

  pip install torch==2.13.0   # not a ganjax requirement
  python -m benchmarks.torch.reference --model=dcgan28 --batch=64 [--steps=10] [--warmup=3]

Same layers, widths, losses and optimizer as the JAX model; the step is the PyTorch DCGAN
example's (one G forward, D on real and detached fake, G through the updated D). dcgan64 is the
network of ../shared/bench/torch_dcgan64.py. Prints one JSON line like experiments.benchmark.

vaegan28 / vaegan64: the VAE-GAN step (vaegan_step_fn). pix2pix256 / cyclegan256: the authors'
`optimize_parameters` (junyanz/pytorch-CycleGAN-and-pix2pix, models/pix2pix_model.py and
cycle_gan_model.py) on their networks (benchmarks/torch/translation_nets.py) with the papers'
settings (pix2pix_step_fn, cyclegan_step_fn). The regularized steps, as PyTorch users
write them:
  *_wgan_gp: a WGAN-GP critic (layer norm = GroupNorm(1, C), biases), loss D(fake) - D(real) +
    10 * (|grad D(x_hat)| - 1)^2 on random interpolates (autograd.grad with create_graph=True),
    G loss -D(G(z)), Adam(1e-4, 0.5, 0.9);
  *_r1: the DCGAN (batch norm) with the non-saturating loss + gamma / 2 * |grad D(real)|^2,
    gamma = 1, the input gradient taken from the same forward pass (Mescheder et al.'s code).
"""

import argparse
import json
import statistics
import time

import torch
from torch import nn


def _dcgan_g(nz, widths, start, nc):
    layers = [
        nn.Linear(nz, start * start * widths[0], bias=False),
        nn.Unflatten(1, (widths[0], start, start)),
        nn.BatchNorm2d(widths[0]),
        nn.ReLU(True),
    ]
    for a, b in zip(widths, widths[1:]):
        layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
    return nn.Sequential(
        *layers, nn.ConvTranspose2d(widths[-1], nc, 4, 2, 1, bias=False), nn.Tanh()
    )


def _dcgan_d(nc, widths, start, norm="batch"):
    layers, prev = [], nc
    bias = norm != "batch"
    for i, w in enumerate(widths):
        layers += [nn.Conv2d(prev, w, 4, 2, 1, bias=bias)]
        if i and norm == "batch":
            layers.append(nn.BatchNorm2d(w))
        elif i and norm == "layer":  # Per-sample statistics over (C, H, W), per-channel affine.
            layers.append(nn.GroupNorm(1, w, eps=1e-5))
        layers.append(nn.LeakyReLU(0.2, True))
        prev = w
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(start * start * prev, 1, bias=bias))


def _encoder(nc, widths, start, nz):
    """The VAE-GAN encoder: D's convolution blocks, then one linear layer to (mean, logvar)."""
    d = _dcgan_d(nc, widths, start)
    return nn.Sequential(*list(d)[:-1], nn.Linear(start * start * widths[-1], 2 * nz))


def _block_ends(d):
    """Indices just after each LeakyReLU of a _dcgan_d: D[:end] gives that block's output."""
    return [i + 1 for i, m in enumerate(d) if isinstance(m, nn.LeakyReLU)]


def build_vaegan(model):
    """(E, G, D, nz, image shape CHW, feature block (1-based), gamma)."""
    if model == "vaegan28":
        widths, start, nc, g_widths, block = [64, 128], 7, 1, [128, 64], 2
    else:  # vaegan64
        widths, start, nc, g_widths, block = [64, 128, 256, 512], 4, 3, [512, 256, 128, 64], 3
    e = _encoder(nc, widths, start, 100)
    return (
        e,
        _dcgan_g(100, g_widths, start, nc),
        _dcgan_d(nc, widths, start),
        100,
        (nc,) + ((28, 28) if model == "vaegan28" else (64, 64)),
        block,
        1e-2,
    )


def build(model):
    """(G, D, nz, image shape CHW, adam lr, beta1)."""
    if model == "dcgan64_wgan_gp":
        return (
            _dcgan_g(100, [512, 256, 128, 64], 4, 3),
            _dcgan_d(3, [64, 128, 256, 512], 4, "layer"),
            100,
            (3, 64, 64),
            1e-4,
            0.5,
        )
    if model == "dcgan64_r1":
        return build("dcgan64")
    if model == "dcgan64":
        return (
            _dcgan_g(100, [512, 256, 128, 64], 4, 3),
            _dcgan_d(3, [64, 128, 256, 512], 4),
            100,
            (3, 64, 64),
            2e-4,
            0.5,
        )
    if model == "dcgan28":
        return (
            _dcgan_g(100, [128, 64], 7, 1),
            _dcgan_d(1, [64, 128], 7),
            100,
            (1, 28, 28),
            2e-4,
            0.5,
        )
    if model == "mlp_gan":
        g = nn.Sequential(nn.Linear(100, 128), nn.LeakyReLU(0.01), nn.Linear(128, 784), nn.Tanh())
        d = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.LeakyReLU(0.01), nn.Linear(128, 1))
        return g, d, 100, (1, 28, 28), 2e-3, 0.9
    raise SystemExit(f"unknown model {model}")


def vaegan_step_fn(model, batch):
    """Larsen et al.'s Algorithm 1 as PyTorch users write it: one forward pass, three backward
    passes restricted to each network's parameters (`inputs=`), three Adam updates."""
    E, G, D, nz, shape, block, gamma = build_vaegan(model)
    opts = [torch.optim.Adam(m.parameters(), lr=2e-4, betas=(0.5, 0.999)) for m in (E, G, D)]
    bce = nn.BCEWithLogitsLoss()
    end = _block_ends(D)[block - 1]
    feats, head = D[:end], D[end:]
    real = torch.rand(batch, *shape) * 2 - 1
    ones, zeros = torch.ones(batch), torch.zeros(batch)

    def step():
        mean, logvar = E(real).chunk(2, dim=1)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        x_rec, x_p = G(z), G(torch.randn(batch, nz))
        f_real, f_rec = feats(real), feats(x_rec)
        l_real, l_rec, l_p = (head(f).view(-1) for f in (f_real, f_rec, feats(x_p)))
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum(1).mean()
        recon = 0.5 * (f_real.detach() - f_rec).flatten(1).pow(2).sum(1).mean()
        d_loss = bce(l_real, ones) + bce(l_rec, zeros) + bce(l_p, zeros)
        g_loss = gamma * recon + bce(l_rec, ones) + bce(l_p, ones)
        for o in opts:
            o.zero_grad()
        (kl + recon).backward(inputs=list(E.parameters()), retain_graph=True)
        g_loss.backward(inputs=list(G.parameters()), retain_graph=True)
        d_loss.backward(inputs=list(D.parameters()))
        for o in opts:
            o.step()
        return float(d_loss.detach()) + float(g_loss.detach())

    return step


def pix2pix_step_fn(batch):
    """pix2pix_model.optimize_parameters at the facades settings: unet_256 (batch norm, dropout),
    basic 70x70 PatchGAN on cat(A, B), vanilla GAN loss, lambda_L1 100, Adam(2e-4, 0.5)."""
    from benchmarks.torch import translation_nets as tn

    net_g = tn.unet_generator(3, 3, 8, 64, "batch", dropout=True)
    net_d = tn.n_layer_discriminator(6, 64, 3, "batch")
    opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce, l1 = nn.BCEWithLogitsLoss(), nn.L1Loss()
    real_a, real_b = (torch.rand(batch, 3, 256, 256) * 2 - 1 for _ in range(2))

    def gan(pred, real):
        return bce(pred, torch.full_like(pred, float(real)))

    def step():
        fake_b = net_g(real_a)
        net_d.requires_grad_(True)
        opt_d.zero_grad()
        fake_ab = torch.cat([real_a, fake_b], 1)
        loss_d = 0.5 * (
            gan(net_d(fake_ab.detach()), False) + gan(net_d(torch.cat([real_a, real_b], 1)), True)
        )
        loss_d.backward()
        opt_d.step()
        net_d.requires_grad_(False)
        opt_g.zero_grad()
        loss_g = gan(net_d(fake_ab), True) + 100.0 * l1(fake_b, real_b)
        loss_g.backward()
        opt_g.step()
        return float(loss_d.detach()) + float(loss_g.detach())

    return step


class ImagePool:
    """The authors' util/image_pool.py: until full, store and return each image; then with
    probability 1/2 return a stored one (replacing it with the new), else the new one."""

    def __init__(self, size):
        self.size, self.images = size, []

    def query(self, images):
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif torch.rand(1).item() > 0.5:
                i = int(torch.randint(0, self.size, (1,)))
                out.append(self.images[i].clone())
                self.images[i] = image
            else:
                out.append(image)
        return torch.cat(out, 0)


def cyclegan_step_fn(batch):
    """cycle_gan_model.optimize_parameters at the horse2zebra settings: resnet_9blocks G_A, G_B,
    basic PatchGANs D_A, D_B, instance norm, LSGAN, lambda 10, identity 0.5, 50-image pools."""
    from benchmarks.torch import translation_nets as tn

    g_a, g_b = (tn.resnet_generator(3, 3, 64, 9, "instance") for _ in range(2))
    d_a, d_b = (tn.n_layer_discriminator(3, 64, 3, "instance") for _ in range(2))
    params_g = list(g_a.parameters()) + list(g_b.parameters())
    params_d = list(d_a.parameters()) + list(d_b.parameters())
    opt_g = torch.optim.Adam(params_g, lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(params_d, lr=2e-4, betas=(0.5, 0.999))
    mse, l1 = nn.MSELoss(), nn.L1Loss()
    pool_a, pool_b = ImagePool(50), ImagePool(50)
    real_a, real_b = (torch.rand(batch, 3, 256, 256) * 2 - 1 for _ in range(2))

    def gan(pred, real):
        return mse(pred, torch.full_like(pred, float(real)))

    def backward_d(net, real, fake):
        loss = 0.5 * (gan(net(real), True) + gan(net(fake.detach()), False))
        loss.backward()
        return loss

    def step():
        fake_b = g_a(real_a)
        rec_a = g_b(fake_b)
        fake_a = g_b(real_b)
        rec_b = g_a(fake_a)
        for net in (d_a, d_b):
            net.requires_grad_(False)
        opt_g.zero_grad()
        loss_idt = 5.0 * (l1(g_a(real_b), real_b) + l1(g_b(real_a), real_a))
        loss_gan = gan(d_a(fake_b), True) + gan(d_b(fake_a), True)
        loss_cycle = 10.0 * (l1(rec_a, real_a) + l1(rec_b, real_b))
        loss_g = loss_gan + loss_cycle + loss_idt
        loss_g.backward()
        opt_g.step()
        for net in (d_a, d_b):
            net.requires_grad_(True)
        opt_d.zero_grad()
        loss_d_a = backward_d(d_a, real_b, pool_b.query(fake_b))
        loss_d_b = backward_d(d_b, real_a, pool_a.query(fake_a))
        opt_d.step()
        return float(loss_g.detach()) + float(loss_d_a.detach()) + float(loss_d_b.detach())

    return step


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="dcgan28")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    a = p.parse_args()
    torch.manual_seed(0)
    if a.model.startswith("vaegan"):
        _time(a, vaegan_step_fn(a.model, a.batch))
        return
    if a.model in ("pix2pix256", "cyclegan256"):
        _time(a, (pix2pix_step_fn if a.model == "pix2pix256" else cyclegan_step_fn)(a.batch))
        return
    G, D, nz, shape, lr, b1 = build(a.model)
    b2 = 0.9 if a.model.endswith("_wgan_gp") else 0.999
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(b1, b2))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(b1, b2))
    bce = nn.BCEWithLogitsLoss()
    real = torch.rand(a.batch, *shape) * 2 - 1
    ones, zeros = torch.ones(a.batch), torch.zeros(a.batch)

    def d_loss_ns(fake_d):
        return bce(D(real).view(-1), ones) + bce(D(fake_d).view(-1), zeros)

    def d_loss_wgan_gp(fake_d):
        eps = torch.rand(a.batch, 1, 1, 1)
        x_hat = (eps * real + (1 - eps) * fake_d).requires_grad_(True)
        (grad,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
        gp = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
        return D(fake_d).mean() - D(real).mean() + 10.0 * gp

    def d_loss_r1(fake_d):
        x = real.detach().requires_grad_(True)
        d_real = D(x).view(-1)
        (grad,) = torch.autograd.grad(d_real.sum(), x, create_graph=True)
        r1 = grad.flatten(1).pow(2).sum(1).mean()
        return bce(d_real, ones) + bce(D(fake_d).view(-1), zeros) + 0.5 * 1.0 * r1

    wgan = a.model.endswith("_wgan_gp")
    d_loss = d_loss_wgan_gp if wgan else d_loss_r1 if a.model.endswith("_r1") else d_loss_ns

    def step():
        fake = G(torch.randn(a.batch, nz))
        opt_d.zero_grad()
        loss_d = d_loss(fake.detach())
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        loss_g = -D(fake).mean() if wgan else bce(D(fake).view(-1), ones)
        loss_g.backward()
        opt_g.step()
        return float(loss_d.detach()) + float(loss_g.detach())

    _time(a, step)


def _time(a, step):
    for _ in range(a.warmup):
        step()
    times = []
    for _ in range(a.steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    print(
        json.dumps(
            {
                "framework": "torch",
                "model": a.model,
                "batch": a.batch,
                "threads": torch.get_num_threads(),
                "median_step_s": round(med, 5),
                "images_per_sec": round(a.batch / med, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
