"""PyTorch modules from the layer plans of ``vaekit.arch``, plus the split and fixed-sigma encoder heads."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from .. import arch

_LAYERS: dict[str, Callable[..., nn.Module]] = {
    "linear": nn.Linear,
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "flatten": nn.Flatten,
    "unflatten": lambda shape: nn.Unflatten(1, shape),
    "conv": lambda c_in, c_out: nn.Conv2d(c_in, c_out, 4, 2, 1),
    "convT": lambda c_in, c_out: nn.ConvTranspose2d(c_in, c_out, 4, 2, 1),
    "conv3": lambda c_in, c_out: nn.Conv2d(c_in, c_out, 3, 1, 1),
    "conv1": lambda c_in, c_out: nn.Conv2d(c_in, c_out, 1),
    "batchnorm": lambda c: nn.BatchNorm2d(c, affine=False),
    "groupnorm": nn.GroupNorm,
    "silu": nn.SiLU,
    "residual": lambda plan: Residual(*build(plan)),
    "to_chw": lambda shape: ToCHW(shape),
    "to_hwc": lambda: ToHWC(),
}


def build(plan: arch.Plan) -> nn.Sequential:
    """An ``nn.Sequential`` with one module per layer of the plan (nested plans become nested Sequentials)."""
    return nn.Sequential(
        *(build(layer) if isinstance(layer, list) else _LAYERS[layer[0]](*layer[1:]) for layer in plan)
    )


class Residual(nn.Sequential):
    """x + layers(x); the layers keep the state-dict keys of a plain Sequential."""

    def forward(self, x: Tensor) -> Tensor:
        return x + super().forward(x)


class ToCHW(nn.Module):
    """(B, H*W*C) channel-last pixels -> (B, C, H, W)."""

    def __init__(self, shape: Sequence[int]):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], *self.shape).permute(0, 3, 1, 2)


class ToHWC(nn.Module):
    """(B, C, H, W) -> (B, H*W*C) channel-last pixels."""

    def forward(self, x: Tensor) -> Tensor:
        return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)


def mlp(sizes: Sequence[int], activation: str = "relu") -> nn.Sequential:
    """Linear layers ``sizes[0] -> ... -> sizes[-1]`` with ``activation`` between them (none after the last)."""
    return build(arch.mlp(sizes, activation))


class SplitHeads(nn.Module):
    """Two separate networks read the same input: (B, P) -> [mu_net(x), logvar_net(x)], (B, 2D)."""

    def __init__(self, mu_net: nn.Module, logvar_net: nn.Module):
        super().__init__()
        self.mu_net, self.logvar_net = mu_net, logvar_net

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.mu_net(x), self.logvar_net(x)], dim=-1)


class FixedSigma(nn.Module):
    """A mean network with a fixed posterior scale: (B, P) -> [mu(x), 2 log sigma], (B, 2D); sigma is not learned."""

    def __init__(self, mu_net: nn.Module, sigma: float):
        super().__init__()
        self.mu_net, self.sigma, self.logvar = mu_net, sigma, 2.0 * math.log(sigma)

    def forward(self, x: Tensor) -> Tensor:
        mu = self.mu_net(x)
        return torch.cat([mu, torch.full_like(mu, self.logvar)], dim=-1)
