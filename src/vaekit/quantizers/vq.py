"""Vector quantisation (van den Oord et al. 2017, arXiv 1711.00937) with EMA codebooks and dead-code restarts.

Nearest-code lookup with a straight-through gradient, z_q = z_e + sg(e - z_e). The codebook learns either
from the codebook loss ||sg[z_e] - e||^2 or by exponential moving averages of the assigned encoder outputs
(decay 0.99, Laplace-smoothed counts; the paper's appendix). The encoder is pulled toward its codes by the
commitment loss beta_c ||z_e - sg[e]||^2. The codebook starts from k-means (++ seeding) on the first batch;
a code unused for ``dead_after`` steps is re-seeded from a random current encoder output.
Losses are sums over the code dimensions and positions, averaged over the batch, like every loss here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError


@dataclass
class VQOutput:
    z_q: Tensor  # (B, ..., D) quantised vectors, straight-through gradient to z_e
    indices: Tensor  # (B, ...) code index per position
    loss: Tensor  # () codebook loss (if learned by gradient) + beta_c * commitment loss
    commitment: Tensor  # () ||z_e - sg[e]||^2 per image
    codebook: Tensor  # () ||sg[z_e] - e||^2 per image (0 with EMA updates)


def kmeans(x: Tensor, k: int, iters: int = 10, generator: torch.Generator | None = None) -> Tensor:
    """k-means on (N, D) points: k-means++ seeding (Arthur & Vassilvitskii 2007), then Lloyd iterations.

    Returns (k, D) centres; with fewer than k points, the points are repeated.
    """
    n = x.shape[0]
    if n < k:
        return x[torch.randint(n, (k,), generator=generator, device=x.device)].clone()
    first = torch.randint(n, (1,), generator=generator, device=x.device)
    centres = [x[first]]
    d2 = (x - centres[0]).pow(2).sum(1)  # squared distance to the nearest centre so far
    for _ in range(1, k):
        probs = d2 / d2.sum() if d2.sum() > 0 else torch.full_like(d2, 1.0 / n)
        nxt = torch.multinomial(probs, 1, generator=generator)
        centres.append(x[nxt])
        d2 = torch.minimum(d2, (x - x[nxt]).pow(2).sum(1))
    c = torch.cat(centres)
    for _ in range(iters):
        assign = torch.cdist(x, c).argmin(1)
        sums = torch.zeros_like(c).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).unsqueeze(1).to(x.dtype)
        c = torch.where(counts > 0, sums / counts.clamp(min=1), c)
    return c


class VectorQuantizer(nn.Module):
    """Quantise (B, ..., D) vectors to the nearest of ``num_codes`` codes."""

    codebook: Tensor  # (K, D): a Parameter (codebook loss) or a buffer (EMA updates)
    ema_count: Tensor  # (K,) EMA of code counts (ema only)
    ema_sum: Tensor  # (K, D) EMA of the vectors assigned to each code (ema only)
    initialized: Tensor  # () bool: k-means initialisation done
    unused_steps: Tensor  # (K,) steps since each code was last used
    restarts: Tensor  # () dead codes re-seeded so far

    def __init__(
        self,
        num_codes: int,
        dim: int,
        beta: float = 0.25,
        update: str = "loss",
        decay: float = 0.99,
        eps: float = 1e-5,
        dead_after: int = 0,
        kmeans_init: bool = True,
        cosine: bool = False,
    ):
        super().__init__()
        if update not in ("loss", "ema"):
            raise ConfigError(f"codebook update must be loss or ema, got {update!r}")
        if num_codes < 1 or dim < 1:
            raise ConfigError("num_codes and dim must be >= 1")
        self.num_codes, self.dim, self.beta = num_codes, dim, beta
        self.update, self.decay, self.eps, self.dead_after = update, decay, eps, dead_after
        self.cosine = cosine  # TiTok's lookup: inputs and codes l2-normalised, nearest by cosine similarity
        init = torch.randn(num_codes, dim) / dim**0.5
        if update == "loss":
            self.codebook = nn.Parameter(init)
        else:
            self.register_buffer("codebook", init)
            self.register_buffer("ema_count", torch.zeros(num_codes))
            self.register_buffer("ema_sum", init.clone())
        self.register_buffer("initialized", torch.tensor(not kmeans_init))
        self.register_buffer("unused_steps", torch.zeros(num_codes, dtype=torch.int64))
        self.register_buffer("restarts", torch.zeros((), dtype=torch.int64))
        self.generator: torch.Generator | None = None  # k-means and restarts draw from it when set

    def vectors(self) -> Tensor:
        """(K, D) the code vectors as the lookup uses them (unit length with ``cosine``)."""
        return F.normalize(self.codebook, dim=-1) if self.cosine else self.codebook

    def nearest(self, flat: Tensor) -> Tensor:
        """(N, D) -> (N,) index of the nearest code (squared Euclidean distance), computed in fp32 even under
        autocast: bf16's 8-bit mantissa cannot tell nearby codes apart."""
        with torch.autocast(flat.device.type, enabled=False):
            flat, e = flat.float(), self.vectors().float()
            d = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ e.t() + e.pow(2).sum(1)[None]
        return d.argmin(1)

    @torch.no_grad()
    def _init_from(self, flat: Tensor) -> None:
        with torch.autocast(flat.device.type, enabled=False):  # k-means distances in fp32 too
            centres = kmeans(flat.float(), self.num_codes, generator=self.generator)
        self.codebook.data.copy_(centres)
        if self.update == "ema":
            self.ema_sum.copy_(centres)
            self.ema_count.fill_(1.0)
        self.initialized.fill_(True)

    @torch.no_grad()
    def _ema_update(self, flat: Tensor, idx: Tensor) -> None:
        onehot_count = torch.bincount(idx, minlength=self.num_codes).to(flat.dtype)
        sums = torch.zeros_like(self.ema_sum).index_add_(0, idx, flat)
        self.ema_count.mul_(self.decay).add_(onehot_count, alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        n = self.ema_count.sum()
        smoothed = (self.ema_count + self.eps) / (n + self.num_codes * self.eps) * n  # Laplace smoothing
        self.codebook.copy_(self.ema_sum / smoothed.unsqueeze(1))

    @torch.no_grad()
    def _restart_dead(self, flat: Tensor, idx: Tensor) -> None:
        used = torch.bincount(idx, minlength=self.num_codes) > 0
        self.unused_steps.add_(1).masked_fill_(used, 0)
        dead = (self.unused_steps >= self.dead_after).nonzero().squeeze(1)
        if len(dead) == 0:
            return
        pick = torch.randint(flat.shape[0], (len(dead),), device=flat.device, generator=self.generator)
        fresh = flat[pick]
        self.codebook.data[dead] = fresh
        if self.update == "ema":
            self.ema_sum[dead] = fresh
            self.ema_count[dead] = 1.0
        self.unused_steps[dead] = 0
        self.restarts.add_(len(dead))

    def forward(self, z_e: Tensor) -> VQOutput:
        shape = z_e.shape
        z = z_e.float()  # quantisers compute in fp32
        if self.cosine:
            z = F.normalize(z, dim=-1)
        flat = z.reshape(-1, self.dim)  # (N, D)
        if self.training and not bool(self.initialized):
            self._init_from(flat.detach())
        idx = self.nearest(flat.detach())
        e = self.vectors().float()[idx].reshape(z.shape)
        batch = shape[0]
        commitment = F.mse_loss(z, e.detach(), reduction="sum") / batch
        if self.update == "loss":
            codebook = F.mse_loss(e, z.detach(), reduction="sum") / batch
        else:
            codebook = z.new_zeros(())
            if self.training:
                self._ema_update(flat.detach(), idx)
        if self.training and self.dead_after > 0:
            self._restart_dead(flat.detach(), idx)
        z_q = z + (e - z).detach()
        return VQOutput(z_q, idx.reshape(shape[:-1]), codebook + self.beta * commitment, commitment, codebook)
