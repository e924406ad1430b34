"""Gaussian-VAE architectures as plain data: the layer plans that PyTorch models and the NumPy runtime build from.

A plan is a list of layers, each a tuple:
    ("linear", n_in, n_out)     ("relu",)      ("flatten",)      ("unflatten", (C, H, W))
    ("conv", c_in, c_out)       4x4 kernel, stride 2, padding 1: halves H and W
    ("convT", c_in, c_out)      4x4 transposed, stride 2, padding 1: doubles H and W
    ("conv3", c_in, c_out)      3x3 kernel, stride 1, padding 1      ("conv1", c_in, c_out)   1x1 kernel
    ("batchnorm", c)            per-channel normalisation with running statistics, no affine part
or a nested plan (a sub-Sequential). Layer i of a plan owns the state-dict keys ``PREFIX.i.weight`` and
``PREFIX.i.bias``, so a checkpoint written by the PyTorch model is read by name in ``vaekit.portable``.
This module imports neither torch nor numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .config import ModelConfig
from .errors import ConfigError

Plan = list[Any]


def mlp(sizes: Sequence[int]) -> Plan:
    """Linear layers ``sizes[0] -> ... -> sizes[-1]`` with ReLU between them (none after the last)."""
    plan: Plan = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        plan.append(("linear", a, b))
        if i < len(sizes) - 2:
            plan.append(("relu",))
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
    shared: ``joint`` maps x to [mu, logvar] (B, 2D);  dual: ``mu`` and ``logvar`` are separate networks;
    fixed sigma: ``mu`` only, and logvar is the constant ``fixed_logvar``.
    """

    joint: Plan | None = None
    mu: Plan | None = None
    logvar: Plan | None = None
    fixed_logvar: float | None = None


def _check_conv_shape(cfg: ModelConfig) -> None:
    shape = tuple(cfg.input_shape)
    if len(shape) != 2 or shape[0] % 4 or shape[1] % 4:
        raise ConfigError(f"the conv VAE needs 2-D images with sides divisible by 4, got {shape}; use arch = mlp")


def encoder_plan(cfg: ModelConfig) -> EncoderPlan:
    """The encoder a config describes (arch, encoder_paths, posterior_sigma)."""
    p, d = math.prod(cfg.input_shape), cfg.latent_dim

    def net(out: int) -> Plan:
        if cfg.arch == "conv":
            _check_conv_shape(cfg)
            return conv_encoder(cfg.input_shape, cfg.channels, cfg.hidden, out)
        return mlp([p, *cfg.hidden, out])

    if cfg.posterior_sigma > 0:
        return EncoderPlan(mu=net(d), fixed_logvar=2.0 * math.log(cfg.posterior_sigma))
    if cfg.encoder_paths == "dual":
        return EncoderPlan(mu=net(d), logvar=net(d))
    return EncoderPlan(joint=net(2 * d))


def decoder_plan(cfg: ModelConfig) -> Plan:
    """(B, D) -> (B, P): Bernoulli logits or Gaussian means."""
    if cfg.arch == "conv":
        _check_conv_shape(cfg)
        return conv_decoder(cfg.input_shape, cfg.channels, cfg.hidden, cfg.latent_dim)
    return mlp([cfg.latent_dim, *reversed(cfg.hidden), math.prod(cfg.input_shape)])


TOKENIZER_WIDTH = 32  # channels of the tokenizers' first convolution (the second and third have twice as many)


def tokenizer_encoder(d: int, fsq: bool, width: int = TOKENIZER_WIDTH) -> Plan:
    """(B, 1, H, W) -> (B, d, H/4, W/4); FSQ ends with a non-affine BatchNorm (see models/tokenizer.py)."""
    c = width
    plan: Plan = [
        ("conv", 1, c), ("relu",),  # H/2
        ("conv", c, 2 * c), ("relu",),  # H/4
        ("conv3", 2 * c, 2 * c), ("relu",),
        ("conv1", 2 * c, d),
    ]  # fmt: skip
    return [*plan, ("batchnorm", d)] if fsq else plan


def tokenizer_decoder(d: int, width: int = TOKENIZER_WIDTH) -> Plan:
    """(B, d, H/4, W/4) codes -> (B, 1, H, W) Bernoulli logits."""
    c = width
    return [
        ("conv3", d, 2 * c), ("relu",),
        ("convT", 2 * c, c), ("relu",),  # H/2
        ("convT", c, 1),  # H
    ]  # fmt: skip
