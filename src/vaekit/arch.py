"""Gaussian-VAE architectures as plain data: the layer plans that PyTorch models and the NumPy runtime build from.

A plan is a list of layers, each a tuple:
    ("linear", n_in, n_out)     ("relu",)  ("tanh",)     ("flatten",)      ("unflatten", (C, H, W))
    ("conv", c_in, c_out)       4x4 kernel, stride 2, padding 1: halves H and W
    ("convT", c_in, c_out)      4x4 transposed, stride 2, padding 1: doubles H and W
    ("conv3", c_in, c_out)      3x3 kernel, stride 1, padding 1      ("conv1", c_in, c_out)   1x1 kernel
    ("batchnorm", c)            per-channel normalisation with running statistics, no affine part
    ("groupnorm", g, c)         group normalisation, g groups of c channels, with a learned scale and shift
    ("silu",)                   x * sigmoid(x)
    ("residual", plan)          x + plan(x)
    ("to_chw", (H, W, C))       (B, H*W*C) pixels stored channel-last -> (B, C, H, W)
    ("to_hwc",)                 (B, C, H, W) -> (B, H*W*C), channel-last as the data is stored
or a nested plan (a sub-Sequential). Layer i of a plan owns the state-dict keys ``PREFIX.i.weight`` and
``PREFIX.i.bias`` (a residual's layers ``PREFIX.i.j.*``), so a checkpoint written by the PyTorch model is read
by name in ``vaekit.export.portable``.

Two conv layouts (``ImageModelConfig.net``): ``resnet``, the layout of current image tokenizers (stride-2
convolutions down to the token grid, group norm and SiLU, residual blocks at the grid; any H, W, C), and
``plain``, the ReLU stack of earlier vaekit versions (greyscale, f = 4), kept so their checkpoints still load.
This module imports neither torch nor numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .config import DOWNSAMPLE, GaussianConfig, ImageModelConfig, TokenizerConfig
from .errors import ConfigError

Plan = list[Any]


def mlp(sizes: Sequence[int], activation: str = "relu") -> Plan:
    """Linear layers ``sizes[0] -> ... -> sizes[-1]`` with ``activation`` (relu, tanh) between them (none after
    the last)."""
    plan: Plan = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        plan.append(("linear", a, b))
        if i < len(sizes) - 2:
            plan.append((activation,))
    return plan


def conv_encoder(shape: Sequence[int], channels: Sequence[int], hidden: Sequence[int], out: int) -> Plan:
    """(B, H*W) pixels -> (B, out): two stride-2 convolutions (H -> H/4), then dense layers ``hidden``."""
    (h, w), (c1, c2) = shape, channels
    return [
        ("unflatten", (1, h, w)),
        ("conv", 1, c1), ("relu",),  # (B, c1, H/2, W/2)
        ("conv", c1, c2), ("relu",),  # (B, c2, H/4, W/4)
        ("flatten",),
        mlp([c2 * (h // 4) * (w // 4), *hidden, out]),
    ]  # fmt: skip


def conv_decoder(shape: Sequence[int], channels: Sequence[int], hidden: Sequence[int], latent: int) -> Plan:
    """(B, latent) -> (B, H*W): the mirror of ``conv_encoder`` with transposed convolutions."""
    (h, w), (c1, c2) = shape, channels
    return [
        mlp([latent, *reversed(hidden), c2 * (h // 4) * (w // 4)]), ("relu",),
        ("unflatten", (c2, h // 4, w // 4)),
        ("convT", c2, c1), ("relu",),  # (B, c1, H/2, W/2)
        ("convT", c1, 1),  # (B, 1, H, W)
        ("flatten",),
    ]  # fmt: skip


@dataclass
class EncoderPlan:
    """How q(z|x) is computed. Exactly one of three forms:
    shared: ``joint`` maps x to [mu, logvar] (B, 2D);  split: ``mu`` and ``logvar`` are separate networks;
    fixed sigma: ``mu`` only, and logvar is the constant ``fixed_logvar``. (The dvae encoder is ``joint``, path
    A; its path B, the same network on a masked x, is used in training only and so has no plan here.)
    """

    joint: Plan | None = None
    mu: Plan | None = None
    logvar: Plan | None = None
    fixed_logvar: float | None = None


def image_hwc(shape: Sequence[int]) -> tuple[int, int, int]:
    """An image shape (H, W) or (H, W, C) as (H, W, C)."""
    h, w, *c = shape
    return h, w, (c[0] if c else 1)


def check_conv_shape(cfg: ImageModelConfig, what: str) -> tuple[int, int, int]:
    """(H, W, C) of the config's images, or a one-line ConfigError when its conv layout cannot read them."""
    shape = tuple(cfg.input_shape)
    if len(shape) not in (2, 3):
        raise ConfigError(f"the {what} needs images (H, W) or (H, W, C), got {shape}; use arch = mlp")
    h, w, c = image_hwc(shape)
    f = downsample_factor(cfg)
    if cfg.net == "plain" and (c != 1 or cfg.downsample != 4):
        raise ConfigError(f"the plain conv layout reads greyscale images at downsample 4; use net = resnet for {shape}")
    if f not in DOWNSAMPLE:
        raise ConfigError(f"downsample must be one of {', '.join(map(str, DOWNSAMPLE))}, got {f}")
    if h % f or w % f:
        fits = [str(d) for d in DOWNSAMPLE if h % d == 0 and w % d == 0]
        fix = f"pass --downsample {' or '.join(fits)}" if fits else "pass --image-size with a multiple of 4"
        raise ConfigError(f"the {what} at downsample {f} needs image sides divisible by {f}, got {h}x{w}; {fix}")
    return h, w, c


def downsample_factor(cfg: ImageModelConfig) -> int:
    """The spatial reduction of the config's conv layout: ``downsample`` for resnet, 4 for plain."""
    return cfg.downsample if cfg.net == "resnet" else 4


def widths(cfg: ImageModelConfig) -> list[int]:
    """resnet: channels after each stride-2 convolution, ``width`` doubled at each: f = 8 -> [w, 2w, 4w]."""
    return [cfg.width * 2**i for i in range(int(math.log2(cfg.downsample)))]


def _norm(c: int) -> tuple:
    return ("groupnorm", math.gcd(8, c), c)


def residual_block(c: int) -> tuple:
    """x + conv3(SiLU(GN(conv3(SiLU(GN(x)))))), c channels (the pre-activation block of current tokenizers)."""
    return ("residual", [_norm(c), ("silu",), ("conv3", c, c), _norm(c), ("silu",), ("conv3", c, c)])


def res_encoder(channels: int, ws: Sequence[int], blocks: int) -> Plan:
    """(B, C, H, W) -> (B, ws[-1], H/f, W/f): stride-2 convolutions (group norm + SiLU between them), ``blocks``
    residual blocks at the grid, then group norm + SiLU."""
    plan: Plan = []
    c_in = channels
    for i, c in enumerate(ws):
        plan.append(("conv", c_in, c))  # (B, c, H/2^(i+1), W/2^(i+1))
        if i < len(ws) - 1:
            plan += [_norm(c), ("silu",)]
        c_in = c
    return [*plan, *(residual_block(c_in) for _ in range(blocks)), _norm(c_in), ("silu",)]


def res_decoder(channels: int, ws: Sequence[int], blocks: int) -> Plan:
    """(B, ws[-1], H/f, W/f) -> (B, C, H, W): ``blocks`` residual blocks, then per level group norm + SiLU and a
    stride-2 transposed convolution (the mirror of ``res_encoder``)."""
    plan: Plan = [residual_block(ws[-1]) for _ in range(blocks)]
    for i in reversed(range(len(ws))):
        plan += [_norm(ws[i]), ("silu",), ("convT", ws[i], ws[i - 1] if i else channels)]
    return plan


def _conv_vae_net(cfg: GaussianConfig, out: int) -> Plan:
    """(B, P) -> (B, out): the conv VAE's encoder network in the config's layout."""
    h, w, c = check_conv_shape(cfg, "conv VAE")
    if cfg.net == "plain":
        return conv_encoder((h, w), cfg.channels, cfg.hidden, out)
    ws = widths(cfg)
    f = cfg.downsample
    grid = ws[-1] * (h // f) * (w // f)
    dense = mlp([grid, *cfg.hidden, out], cfg.activation)
    return [("to_chw", (h, w, c)), res_encoder(c, ws, cfg.res_blocks), ("flatten",), dense]


def encoder_plan(cfg: GaussianConfig) -> EncoderPlan:
    """The encoder a config describes (arch, encoder_paths, posterior_sigma)."""
    p, d = math.prod(cfg.input_shape), cfg.latent_dim

    def net(out: int) -> Plan:
        return _conv_vae_net(cfg, out) if cfg.arch == "conv" else mlp([p, *cfg.hidden, out], cfg.activation)

    if cfg.posterior_sigma > 0:
        return EncoderPlan(mu=net(d), fixed_logvar=2.0 * math.log(cfg.posterior_sigma))
    if cfg.encoder_paths == "split":
        return EncoderPlan(mu=net(d), logvar=net(d))
    return EncoderPlan(joint=net(2 * d))


def decoder_plan(cfg: GaussianConfig) -> Plan:
    """(B, D) -> (B, P): Bernoulli logits or Gaussian means."""
    if cfg.arch != "conv":
        return mlp([cfg.latent_dim, *reversed(cfg.hidden), math.prod(cfg.input_shape)], cfg.activation)
    h, w, c = check_conv_shape(cfg, "conv VAE")
    if cfg.net == "plain":
        return conv_decoder((h, w), cfg.channels, cfg.hidden, cfg.latent_dim)
    ws, f = widths(cfg), cfg.downsample
    grid = (ws[-1], h // f, w // f)
    return [
        mlp([cfg.latent_dim, *reversed(cfg.hidden), math.prod(grid)], cfg.activation),
        ("unflatten", grid),
        res_decoder(c, ws, cfg.res_blocks),  # (B, C, H, W)
        ("to_hwc",),
    ]


TOKENIZER_WIDTH = 32  # plain layout: channels of the tokenizers' first convolution (then twice as many)


def tokenizer_encoder(cfg: TokenizerConfig, d: int) -> Plan:
    """(B, C, H, W) -> (B, d, H/f, W/f); FSQ ends with a non-affine BatchNorm (see models/tokenizer.py)."""
    fsq = [("batchnorm", d)] if cfg.kind == "fsq" else []
    _, _, c = check_conv_shape(cfg, "tokenizer")
    if cfg.net == "resnet":
        ws = widths(cfg)
        return [*res_encoder(c, ws, cfg.res_blocks), ("conv1", ws[-1], d), *fsq]
    w = TOKENIZER_WIDTH
    plan: Plan = [
        ("conv", 1, w), ("relu",),  # H/2
        ("conv", w, 2 * w), ("relu",),  # H/4
        ("conv3", 2 * w, 2 * w), ("relu",),
        ("conv1", 2 * w, d),
    ]  # fmt: skip
    return [*plan, *fsq]


def tokenizer_decoder(cfg: TokenizerConfig, d: int) -> Plan:
    """(B, d, H/f, W/f) codes -> (B, C, H, W) decoder output (Bernoulli logits or Gaussian means)."""
    _, _, c = check_conv_shape(cfg, "tokenizer")
    if cfg.net == "resnet":
        ws = widths(cfg)
        return [("conv3", d, ws[-1]), *res_decoder(c, ws, cfg.res_blocks)]
    w = TOKENIZER_WIDTH
    return [
        ("conv3", d, 2 * w), ("relu",),
        ("convT", 2 * w, w), ("relu",),  # H/2
        ("convT", w, 1),  # H
    ]  # fmt: skip
