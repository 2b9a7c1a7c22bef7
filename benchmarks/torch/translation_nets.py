"""PyTorch twins of the pix2pix / CycleGAN authors' networks (junyanz/pytorch-CycleGAN-and-pix2pix,
models/networks.py: UnetGenerator, ResnetGenerator, NLayerDiscriminator, PixelDiscriminator),
written from their layer lists: the parameter counts and output comparisons of
tests/translation_models_test.py, and the pix2pix / CycleGAN steps that benchmarks.torch.reference
times beside ganjax's (experiments.benchmark --torch). NCHW, as PyTorch; not a ganjax requirement.

`norm` is "batch" (BatchNorm2d, affine) or "instance" (InstanceNorm2d without affine parameters
or running statistics, the authors' get_norm_layer('instance')); use_bias = norm is instance.
"""

from __future__ import annotations

import torch
from torch import nn


def _norm(norm: str, c: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(c)
    return nn.InstanceNorm2d(c, affine=False, track_running_stats=False)


class UnetBlock(nn.Module):
    """UnetSkipConnectionBlock: [x, up(sub(down(x)))] (outermost: no skip, tanh)."""

    def __init__(self, outer, inner, norm, sub=None, in_ch=None, outermost=False, dropout=False):
        super().__init__()
        bias = norm == "instance"
        self.outermost = outermost
        down = nn.Conv2d(in_ch or outer, inner, 4, 2, 1, bias=bias)
        if outermost:
            up = nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1)
            layers = [down, sub, nn.ReLU(), up, nn.Tanh()]
        elif sub is None:  # Innermost.
            up = nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=bias)
            layers = [nn.LeakyReLU(0.2), down, nn.ReLU(), up, _norm(norm, outer)]
        else:
            up = nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1, bias=bias)
            layers = [nn.LeakyReLU(0.2), down, _norm(norm, inner), sub, nn.ReLU(), up]
            layers += [_norm(norm, outer)] + ([nn.Dropout(0.5)] if dropout else [])
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


def unet_generator(in_ch, out_ch, num_downs, ngf=64, norm="batch", dropout=False) -> nn.Module:
    """UnetGenerator(in_ch, out_ch, num_downs, ngf, norm_layer, use_dropout)."""
    block = UnetBlock(ngf * 8, ngf * 8, norm)
    for _ in range(num_downs - 5):
        block = UnetBlock(ngf * 8, ngf * 8, norm, block, dropout=dropout)
    block = UnetBlock(ngf * 4, ngf * 8, norm, block)
    block = UnetBlock(ngf * 2, ngf * 4, norm, block)
    block = UnetBlock(ngf, ngf * 2, norm, block)
    return UnetBlock(out_ch, ngf, norm, block, in_ch=in_ch, outermost=True)


class ResnetBlock(nn.Module):
    def __init__(self, dim, norm):
        super().__init__()
        bias = norm == "instance"
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=bias),
            _norm(norm, dim),
            nn.ReLU(),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=bias),
            _norm(norm, dim),
        )

    def forward(self, x):
        return x + self.block(x)


def resnet_generator(in_ch, out_ch, ngf=64, num_blocks=9, norm="instance") -> nn.Module:
    """ResnetGenerator(in_ch, out_ch, ngf, norm_layer, use_dropout=False, n_blocks)."""
    bias = norm == "instance"
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(in_ch, ngf, 7, bias=bias), _norm(norm, ngf)]
    layers.append(nn.ReLU())
    for i in range(2):
        m = 2**i
        layers += [nn.Conv2d(ngf * m, ngf * m * 2, 3, 2, 1, bias=bias), _norm(norm, ngf * m * 2)]
        layers.append(nn.ReLU())
    layers += [ResnetBlock(ngf * 4, norm) for _ in range(num_blocks)]
    for i in range(2):
        m = 2 ** (2 - i)
        up = nn.ConvTranspose2d(ngf * m, ngf * m // 2, 3, 2, 1, output_padding=1, bias=bias)
        layers += [up, _norm(norm, ngf * m // 2), nn.ReLU()]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_ch, 7), nn.Tanh()]
    return nn.Sequential(*layers)


def n_layer_discriminator(in_ch, ndf=64, n_layers=3, norm="batch") -> nn.Module:
    """NLayerDiscriminator(in_ch, ndf, n_layers, norm_layer)."""
    bias = norm == "instance"
    layers = [nn.Conv2d(in_ch, ndf, 4, 2, 1), nn.LeakyReLU(0.2)]
    mult = 1
    for n in range(1, n_layers + 1):
        prev, mult = mult, min(2**n, 8)
        stride = 2 if n < n_layers else 1
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1, bias=bias)]
        layers += [_norm(norm, ndf * mult), nn.LeakyReLU(0.2)]
    layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
    return nn.Sequential(*layers)


def pixel_discriminator(in_ch, ndf=64, norm="batch") -> nn.Module:
    """PixelDiscriminator(in_ch, ndf, norm_layer)."""
    bias = norm == "instance"
    return nn.Sequential(
        nn.Conv2d(in_ch, ndf, 1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(ndf, 2 * ndf, 1, bias=bias),
        _norm(norm, 2 * ndf),
        nn.LeakyReLU(0.2),
        nn.Conv2d(2 * ndf, 1, 1, bias=bias),
    )


def param_count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def weighted_layers(net: nn.Module) -> list[nn.Module]:
    """Conv2d, ConvTranspose2d and affine BatchNorm2d layers in forward (= registration) order."""
    kinds = (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d)
    return [m for m in net.modules() if isinstance(m, kinds)]
