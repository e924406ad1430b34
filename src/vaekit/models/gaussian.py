"""Gaussian-latent VAE (Kingma & Welling 2013, arXiv 1312.6114) with Bernoulli or fixed-sigma Gaussian decoders.

Variants, all behind the same (B, P) -> (B, 2D) = [mu, logvar] encoder contract:
  arch           mlp, or conv (two stride-2 convolutions + dense layers; transposed-conv decoder)
  encoder_paths  shared (one trunk, joint [mu, logvar] head) or dual (separate mu and logvar networks)
  posterior_sigma  > 0 fixes q(z|x)'s scale: the encoder learns mu only and logvar = 2 log sigma
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..arch import decoder_plan, encoder_plan
from ..config import ModelConfig
from ..errors import ConfigError
from .nets import DualPath, FixedSigma, build

# Named architectures. `classic` is the 784-400-20 model of the original paper and most tutorials;
# `tiny` is the best-scoring architecture we found under 300,000 parameters (see README); `conv` is a
# convolutional VAE (28x28 -> 32x14x14 -> 64x7x7 -> z; mirrored with transposed convolutions).
PRESETS: dict[str, dict] = {
    "classic": {"hidden": (400,), "latent_dim": 20},
    "tiny": {"hidden": (144, 128), "latent_dim": 20},
    "conv": {"arch": "conv", "hidden": (), "latent_dim": 20, "channels": (32, 64)},
}


def preset_config(name: str, **overrides) -> ModelConfig:
    """A ModelConfig for a named preset, with optional field overrides."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return ModelConfig(preset=name, **(PRESETS[name] | overrides))


@dataclass
class VAEOutput:
    logits: Tensor  # (B, P) decoder output: Bernoulli logits, or the Gaussian mean
    mu: Tensor  # (B, D) posterior mean
    logvar: Tensor  # (B, D) posterior log-variance
    z: Tensor  # (B, D) reparameterised sample


class GaussianVAE(nn.Module):
    """q(z|x) = N(mu(x), diag exp(logvar(x))), p(z) = N(0, I), p(x|z) from ``decoder(z)``.

    The encoder maps (B, P) pixels to (B, 2D) = [mu, logvar]; the decoder maps (B, D) to (B, P).
    Both are swappable: pass any modules with those shapes.
    """

    def __init__(self, cfg: ModelConfig, encoder: nn.Module | None = None, decoder: nn.Module | None = None):
        super().__init__()
        self.cfg = cfg
        self.encoder = encoder if encoder is not None else _encoder(cfg)
        self.decoder = decoder if decoder is not None else _decoder(cfg)

    @property
    def num_pixels(self) -> int:
        return math.prod(self.cfg.input_shape)

    @property
    def latent_dim(self) -> int:
        return self.cfg.latent_dim

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, P) pixels -> (mu, logvar), each (B, D)."""
        h = self.encoder(x.reshape(x.shape[0], -1))
        mu, logvar = h.chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: Tensor) -> Tensor:
        """(B, D) latents -> (B, P) decoder output (logits for Bernoulli, mean for Gaussian)."""
        return self.decoder(z)

    @staticmethod
    def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """z = mu + sigma * eps with eps ~ N(0, I)."""
        eps = torch.randn(mu.shape, device=mu.device, dtype=mu.dtype, generator=generator)
        return mu + torch.exp(0.5 * logvar) * eps

    def forward(self, x: Tensor, generator: torch.Generator | None = None, eps: Tensor | None = None) -> VAEOutput:
        """Encode, sample z (with the given noise ``eps`` (B, D) if any), decode."""
        mu, logvar = self.encode(x)
        if eps is None:
            z = self.reparameterize(mu, logvar, generator)
        else:
            z = mu + torch.exp(0.5 * logvar) * eps
        return VAEOutput(self.decode(z), mu, logvar, z)

    def mean_image(self, logits: Tensor) -> Tensor:
        """Decoder output -> expected image in [0, 1], shaped (B, *input_shape)."""
        img = torch.sigmoid(logits) if self.cfg.likelihood == "bernoulli" else logits.clamp(0, 1)
        return img.reshape(-1, *self.cfg.input_shape)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n images decoded from z ~ p(z); (n, *input_shape) in [0, 1]."""
        dev = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, device=dev, generator=generator)
        return self.mean_image(self.decode(z))

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """Decode the posterior mean of each image; (B, *input_shape) in [0, 1]."""
        mu, _ = self.encode(x)
        return self.mean_image(self.decode(mu))


def _encoder(cfg: ModelConfig) -> nn.Module:
    """(B, P) -> (B, 2D) = [mu, logvar] as the config's arch / encoder_paths / posterior_sigma say."""
    plan = encoder_plan(cfg)
    if plan.joint is not None:
        return build(plan.joint)
    assert plan.mu is not None  # an encoder plan is joint, or has a mu network
    if plan.fixed_logvar is not None:
        return FixedSigma(build(plan.mu), cfg.posterior_sigma)
    assert plan.logvar is not None
    return DualPath(build(plan.mu), build(plan.logvar))


def _decoder(cfg: ModelConfig) -> nn.Module:
    """(B, D) -> (B, P) logits (Bernoulli) or means (Gaussian)."""
    return build(decoder_plan(cfg))
