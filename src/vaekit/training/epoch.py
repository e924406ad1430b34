"""The epoch loop, written once for a run (one model) and a sweep (K models trained together).

Every model has its own stream of randomness (a generator): per epoch it draws the permutation, per step the
batch's binarization and then the reparameterisation noise, always in that order (``draw_batch``). A sweep's
model k therefore sees exactly the batches and the noise that a run with its seed sees.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..config import GaussianConfig, LossConfig, RunConfig
from ..data.tensors import batch_pixels
from .schedules import beta_at


@dataclass
class Stream:
    """One model's randomness and beta schedule."""

    gen: torch.Generator  # draws the permutation, the binarization and the noise
    loss: LossConfig  # beta and its schedule


@dataclass
class EpochStats:
    """What one pass over the training data gave, per model."""

    means: list[list[float]]  # (K, 3): mean train [total, recon, aux] per image
    betas: list[float]  # (K,) beta at the epoch's last step
    seconds: float
    step_count: int  # steps taken so far, this epoch included
    images: int  # images of this pass (fewer than the data's when stopped at a step limit)
    diverged: list[int]  # models whose loss stopped being finite (the epoch stopped early)


class EpochClock:
    """What the rest of a run will take: the median wall time of the last epochs (training, evaluation and
    checkpoint together) times the epochs left. ``tick(done)`` after each epoch returns the text to show."""

    def __init__(self, total: int, now: Callable[[], float] = time.perf_counter, window: int = 20):
        self.total, self.now, self.window = total, now, window
        self.last = now()
        self.walls: list[float] = []

    def tick(self, done: int) -> str:
        t = self.now()
        self.walls = [*self.walls, t - self.last][-self.window :]
        self.last = t
        left = self.total - done
        if left <= 0:
            return ""
        eta = sorted(self.walls)[len(self.walls) // 2] * left
        return f"; {left} epoch{'s' if left > 1 else ''} left, about {tqdm.format_interval(eta)}"


def iwae_samples(loss: LossConfig) -> int | None:
    """S, the importance samples per image of the iwae objective; None for the ELBO."""
    return loss.iwae_k if loss.objective == "iwae" else None


def noise_per_image(cfg: RunConfig) -> int:
    """The noise values drawn per image and step: D, S * D for the iwae objective, none for a tokenizer."""
    if not isinstance(cfg.model, GaussianConfig):
        return 0
    return cfg.model.latent_dim * (iwae_samples(cfg.loss) or 1)


def schedule_steps(images: int, batch_size: int, epochs: int, max_steps: int = 0) -> int:
    """The number of optimisation steps a run takes, which the beta schedules stretch over."""
    steps = math.ceil(images / batch_size) * epochs
    return min(steps, max_steps) if max_steps else steps


def draw_batch(
    x_train: Tensor, idx: Tensor, binarize: str, gen: torch.Generator, latent_dim: int
) -> tuple[Tensor, Tensor]:
    """The batch ``idx`` as float pixels (n, P), then its noise (n, D) (none when ``latent_dim`` is 0)."""
    xb = batch_pixels(x_train, idx, binarize, gen)
    if latent_dim == 0:
        return xb, xb[:, :0]
    return xb, torch.randn(xb.shape[0], latent_dim, device=xb.device, generator=gen)


def run_epoch(
    x_train: Tensor,
    streams: list[Stream],
    step: Callable[[list[Tensor], list[Tensor], list[float]], Tensor],
    *,
    batch_size: int,
    binarize: str,
    latent_dim: int,
    step_count: int,
    total_steps: int,
    desc: str = "",
    progress: bool = False,
    log_every: int = 50,
    world: int = 1,
    rank: int = 0,
    reduce: Callable[[Tensor], Tensor] = lambda t: t,
    stop_at: int = 0,
    on_log: Callable[[int, list[float]], None] | None = None,
) -> EpochStats:
    """One shuffled pass: for every batch, each stream draws its images and noise, and ``step(xs, eps, betas)``
    trains on them and returns the (K, 3) losses of this process's share. Data parallel (``world`` > 1): every
    rank draws the global batch and ``step`` keeps its shard; ``reduce`` sums the totals over the ranks.

    The host reads the running loss only every ``log_every`` steps (progress bar and divergence check).
    ``stop_at`` > 0 ends the pass once ``step_count`` reaches it; the means are then over the images seen.
    ``on_log(step_count, [loss, recon, kl])``: called at those reads with the first stream's running means.
    """
    n, k = x_train.shape[0], len(streams)
    steps = math.ceil(n / batch_size)
    t0 = time.perf_counter()
    perms = [torch.randperm(n, device=x_train.device, generator=s.gen) for s in streams]
    sums = torch.zeros(k, 3, dtype=torch.float64, device=x_train.device)  # (K, 3) sums over images
    disable = None if progress and rank == 0 else True  # None: off when stderr is not a terminal
    bar = tqdm(range(steps), desc=desc, disable=disable, leave=True, dynamic_ncols=True, file=sys.stderr)
    betas = [s.loss.beta for s in streams]
    diverged: list[int] = []
    seen = 0  # images of the global batches drawn so far
    logged_at = -1  # the step of the last on_log call
    for i in bar:
        if stop_at and step_count >= stop_at:
            break
        xs, eps = [], []
        for perm, s in zip(perms, streams, strict=True):
            xb, e = draw_batch(x_train, perm[i * batch_size : (i + 1) * batch_size], binarize, s.gen, latent_dim)
            xs.append(xb)
            eps.append(e)
        betas = [beta_at(step_count, total_steps, s.loss) for s in streams]
        local = len(range(rank, xs[0].shape[0], world))  # this process's images of the global batch
        seen += xs[0].shape[0]
        sums.add_(step(xs, eps, betas), alpha=local)
        step_count += 1
        if (i + 1) % log_every == 0:
            per_image = sums / max(1, min((i + 1) * batch_size, n) // world)  # (K, 3) running means
            running = per_image[:, 0].tolist()
            diverged = [j for j, v in enumerate(running) if not math.isfinite(v)]
            if diverged:
                break
            if on_log is not None:
                on_log(step_count, per_image[0].tolist())
                logged_at = step_count
            bar.set_postfix(loss=f"{sum(running) / k:.2f}", beta=f"{betas[0]:.3g}", refresh=False)
    bar.close()
    means = (reduce(sums) / max(seen, 1)).tolist()
    diverged = diverged or [j for j, m in enumerate(means) if not math.isfinite(m[0])]
    if on_log is not None and not diverged and logged_at != step_count:  # the epoch's last steps: its means
        on_log(step_count, means[0])
    return EpochStats(means, betas, time.perf_counter() - t0, step_count, seen, diverged)
