"""Gaussian-latent VAE (Kingma & Welling 2013, arXiv 1312.6114) with Bernoulli or fixed-sigma Gaussian decoders.

Variants, all behind the same (B, P) -> (B, 2D) = [mu, logvar] encoder contract:
  arch           mlp (relu or tanh between the dense layers), or conv (stride-2 convolutions + dense layers)
  encoder_paths  shared (one trunk, joint [mu, logvar] head), split (separate mu and logvar networks), or
                 dvae: the dual-path encoder of the collapse lecture. Path A encodes x, path B (a second network
                 of the same shape, ``encoder_masked``) encodes x with each pixel dropped with probability
                 ``dvae_mask``; in training both mu and logvar are ``alpha * A + (1 - alpha) * B`` with alpha
                 ramping from 0 to 1 over ``dvae_ramp`` epochs, and everywhere else (evaluation, export) path A
                 alone is the encoder.
  posterior_sigma  > 0 fixes q(z|x)'s scale: the encoder learns mu only and logvar = 2 log sigma
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..arch import decoder_plan, encoder_plan
from ..config import GaussianConfig
from .nets import FixedSigma, SplitHeads, build


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

    def __init__(self, cfg: GaussianConfig, encoder: nn.Module | None = None, decoder: nn.Module | None = None):
        super().__init__()
        self.cfg = cfg
        self.encoder = encoder if encoder is not None else _encoder(cfg)
        self.decoder = decoder if decoder is not None else _decoder(cfg)
        # dvae: path B, the encoder's twin that reads masked images (training only)
        self.encoder_masked = _encoder(cfg) if cfg.encoder_paths == "dvae" else None

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

    def encode_mixed(self, x: Tensor, keep: Tensor, alpha: float) -> tuple[Tensor, Tensor]:
        """dvae training: alpha * A(x) + (1 - alpha) * B(x * keep) for mu and logvar, each (B, D); ``keep`` (B, P)
        is 1 where path B sees the pixel. alpha = 1 is path A alone (B is not run)."""
        if self.encoder_masked is None or alpha >= 1.0:
            return self.encode(x)
        x = x.reshape(x.shape[0], -1)
        h_b = self.encoder_masked(x * keep)  # (B, 2D)
        h = h_b if alpha <= 0.0 else torch.lerp(h_b, self.encoder(x), alpha)
        mu, logvar = h.chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: Tensor) -> Tensor:
        """(..., D) latents -> (..., P) decoder output (logits for Bernoulli, mean for Gaussian)."""
        if z.dim() == 2:
            return self.decoder(z)
        return self.decoder(z.reshape(-1, z.shape[-1])).reshape(*z.shape[:-1], -1)

    @staticmethod
    def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """z = mu + sigma * eps with eps ~ N(0, I)."""
        eps = torch.randn(mu.shape, device=mu.device, dtype=mu.dtype, generator=generator)
        return mu + torch.exp(0.5 * logvar) * eps

    def forward(
        self,
        x: Tensor,
        generator: torch.Generator | None = None,
        eps: Tensor | None = None,
        keep: Tensor | None = None,
        alpha: float = 1.0,
    ) -> VAEOutput:
        """Encode, sample z (with the given noise ``eps`` if any: (B, D), or (K, B, D) for K samples per image,
        which gives logits (K, B, P) and z (K, B, D)), decode. dvae training passes path B's pixel mask ``keep``
        and the mixing weight ``alpha``."""
        mu, logvar = self.encode(x) if keep is None else self.encode_mixed(x, keep, alpha)
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


def _encoder(cfg: GaussianConfig) -> nn.Module:
    """(B, P) -> (B, 2D) = [mu, logvar] as the config's arch / encoder_paths / posterior_sigma say."""
    plan = encoder_plan(cfg)
    if plan.joint is not None:
        return build(plan.joint)
    assert plan.mu is not None  # an encoder plan is joint, or has a mu network
    if plan.fixed_logvar is not None:
        return FixedSigma(build(plan.mu), cfg.posterior_sigma)
    assert plan.logvar is not None
    return SplitHeads(build(plan.mu), build(plan.logvar))


def _decoder(cfg: GaussianConfig) -> nn.Module:
    """(B, D) -> (B, P) logits (Bernoulli) or means (Gaussian)."""
    return build(decoder_plan(cfg))
