"""A continuous Gaussian latent in a tokenizer's place: the bottleneck of a VAE whose latent is a grid.

The encoder gives each latent position 2d channels, [mu, logvar]; in training z = mu + sigma * eps with eps drawn
from the run's generator (the reparameterisation of Kingma & Welling 2013), in evaluation z = mu. Its loss is the
KL divergence to N(0, I), summed over the positions and channels of an input and averaged over the batch, so
that the tokenizer's loss (reconstruction NLL + this) is the negative ELBO. The log-variance is clamped to
[-30, 20], as in the Cosmos reference code's Gaussian latent (NVIDIA/Cosmos-Tokenizer). That code also has an
identity latent, a plain autoencoder, which is how the Cosmos paper (arXiv 2501.03575) trains its continuous
tokenizers; vaekit keeps the KL so that draws from N(0, I) decode into clips. It has no codes: nothing to count,
write as tokens or model with a token prior.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass
class GaussianLatentOutput:
    z_q: Tensor  # (..., d) the sample z in training, the mean mu in evaluation
    indices: Tensor  # (..., 0): no codes
    loss: Tensor  # () KL(q(z|x) || N(0, I)) per input: summed over positions and channels, mean over the batch
    mu: Tensor  # (..., d)
    logvar: Tensor  # (..., d)


class GaussianLatent(nn.Module):
    """(B, *T, 2d) [mu, logvar] -> (B, *T, d) z, and the KL of each input to N(0, I)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.generator: torch.Generator | None = None  # set by the tokenizer: the run's noise

    def forward(self, h: Tensor) -> GaussianLatentOutput:
        mu, logvar = h.float().chunk(2, dim=-1)  # (B, *T, d) each, in fp32 as every quantizer computes
        logvar = logvar.clamp(-30.0, 20.0)
        if self.training:
            eps = torch.randn(mu.shape, device=mu.device, dtype=mu.dtype, generator=self.generator)
            z = mu + torch.exp(0.5 * logvar) * eps
        else:
            z = mu
        kl = 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).flatten(1).sum(1).mean()
        return GaussianLatentOutput(z, mu.new_zeros((*mu.shape[:-1], 0), dtype=torch.int64), kl, mu, logvar)
