"""Likelihoods, the Gaussian KL, free bits, and the importance-weighted bound (IWAE).

Every term is a sum over pixels or latent dimensions and a mean over the batch: the same reduction for
reconstruction and KL, so that beta means what it says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

LOG_2PI = math.log(2 * math.pi)


@dataclass
class LossTerms:
    total: Tensor  # () recon + beta * kl_term, what is minimised
    recon: Tensor  # () -log p(x|z), summed over pixels, mean over batch
    kl: Tensor  # () KL(q(z|x) || p(z)), summed over dims, mean over batch (before free bits)
    kl_per_dim: Tensor  # (D,) batch-mean KL of each latent dimension


def bernoulli_nll(logits: Tensor, x: Tensor) -> Tensor:
    """-log Bernoulli(x | sigmoid(logits)) per image, (B,). Stable for any logits; x may lie in [0, 1]."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


def gaussian_nll(mean: Tensor, x: Tensor, sigma: float) -> Tensor:
    """-log N(x | mean, sigma^2 I) per image, (B,)."""
    return (0.5 * ((x - mean) / sigma) ** 2 + math.log(sigma) + 0.5 * LOG_2PI).sum(-1)


def recon_nll(out: Tensor, x: Tensor, likelihood: str, sigma: float = 1.0) -> Tensor:
    """Per-image reconstruction negative log-likelihood, (B,)."""
    if likelihood == "bernoulli":
        return bernoulli_nll(out, x)
    return gaussian_nll(out, x, sigma)


def kl_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """Closed-form KL(N(mu, exp(logvar)) || N(0, 1)) per element, (B, D)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def log_normal(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(z | mu, diag exp(logvar)) summed over the last dim."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


def free_bits_kl(kl_per_dim: Tensor, free_bits: float) -> Tensor:
    """sum_d max(KL_d, lambda) over batch-averaged per-dim KLs (Kingma et al. 2016, arXiv 1606.04934).

    Dimensions below lambda get no gradient, so the encoder is not pushed to collapse them further.
    Sums over the last axis: (D,) -> (), or (K, D) -> (K,) for a stack of models.
    """
    if free_bits <= 0:
        return kl_per_dim.sum(-1)
    return torch.clamp(kl_per_dim, min=free_bits).sum(-1)


def vae_loss(
    logits: Tensor,
    x: Tensor,
    mu: Tensor,
    logvar: Tensor,
    beta: float | Tensor = 1.0,
    likelihood: str = "bernoulli",
    sigma: float = 1.0,
    free_bits: float = 0.0,
) -> LossTerms:
    """Negative beta-ELBO of a batch. x is (B, P) in [0, 1]; logits (B, P); mu, logvar (B, D)."""
    recon = recon_nll(logits.float(), x, likelihood, sigma).mean()
    kl_per_dim = kl_normal(mu.float(), logvar.float()).mean(0)  # (D,)
    kl = kl_per_dim.sum()
    total = recon + beta * free_bits_kl(kl_per_dim, free_bits)
    return LossTerms(total, recon, kl, kl_per_dim)


def iwae_loss(
    logits: Tensor, x: Tensor, z: Tensor, mu: Tensor, logvar: Tensor, likelihood: str = "bernoulli", sigma: float = 1.0
) -> LossTerms:
    """The negative importance-weighted bound of Burda et al. 2015 (arXiv 1509.00519), mean nats per image:

        -log (1/K) sum_k p(x, z_k) / q(z_k | x),   z_k = mu + sigma * eps_k,

    from K samples per image: logits (K, B, P), z (K, B, D), x (B, P), mu and logvar (B, D). Gradients flow
    through every sample (each weighted by its normalised importance weight). K = 1 is the single-sample ELBO.
    ``recon`` is the mean over samples of -log p(x|z_k) and ``kl`` the closed-form KL, for logging.
    """
    k = z.shape[0]
    log_px_z = -recon_nll(logits.float(), x.expand(k, *x.shape), likelihood, sigma)  # (K, B)
    z, mu, logvar = z.float(), mu.float(), logvar.float()
    log_w = log_px_z + log_normal(z, torch.zeros_like(z), torch.zeros_like(z)) - log_normal(z, mu, logvar)  # (K, B)
    total = -(torch.logsumexp(log_w, 0) - math.log(k)).mean()
    kl_per_dim = kl_normal(mu, logvar).mean(0)  # (D,)
    return LossTerms(total, -log_px_z.mean(), kl_per_dim.sum(), kl_per_dim)
