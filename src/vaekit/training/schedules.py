"""Beta (KL weight) schedules, evaluated per optimisation step; the learning rate and the dvae mixing weight,
per epoch.

Each is a function of the training fraction t = step / total_steps, so the usual per-epoch formulas are the
special case step = epoch * steps_per_epoch. Cyclical annealing follows Fu et al. 2019 (arXiv 1903.10145).
"""

from __future__ import annotations

import math

from ..config import GaussianConfig, LossConfig, ModelConfig, TrainConfig
from ..errors import ConfigError


def beta_at(step: int, total_steps: int, cfg: LossConfig) -> float:
    """The KL weight to use at optimisation ``step`` (0-based) of ``total_steps``."""
    beta = cfg.beta
    if cfg.anneal == "none" or total_steps <= 0:
        return beta
    t = min(max(step / total_steps, 0.0), 1.0)
    if cfg.anneal == "linear":
        return beta * min(1.0, t / cfg.anneal_fraction)
    if cfg.anneal == "sigmoid":
        # logistic ramp centred on half the anneal window, steepness 10: ~0.7% of beta at t=0, 99.3% at the end
        u = t / cfg.anneal_fraction
        return beta if u >= 1.0 else beta / (1.0 + math.exp(-10.0 * (u - 0.5)))
    if cfg.anneal == "cyclical":
        period = 1.0 / cfg.cycles
        tau = (t % period) / period if t < 1.0 else 1.0
        return beta * min(1.0, tau / cfg.cycle_ratio)
    raise ConfigError(f"unknown anneal schedule {cfg.anneal!r}; use none, linear, sigmoid or cyclical")


def beta_per_epoch(epoch: int, epochs: int, cfg: LossConfig) -> float:
    """The per-epoch schedule: beta at the start of ``epoch`` out of ``epochs``."""
    return beta_at(epoch, epochs, cfg)


IWAE_STAGES = 8  # Burda et al. 2015, section 5: stage i = 0..7 runs 3^i passes at lr 1e-3 * 10^(-i/7)
IWAE_PASSES = sum(3**i for i in range(IWAE_STAGES))  # 3,280


def lr_at_epoch(epoch: int, cfg: TrainConfig) -> float:
    """The learning rate of ``epoch`` (0-based). ``iwae``: epoch e is in the first stage i whose cumulative
    share of the 3,280 passes exceeds e / epochs, so ``epochs = 3280`` is the paper's schedule exactly and
    fewer epochs keep its proportions (stages shorter than an epoch are skipped). ``cosine``: half a cosine from
    lr in epoch 0 towards 0 after the last epoch (Loshchilov & Hutter 2016, without restarts)."""
    if cfg.lr_schedule == "constant":
        return cfg.lr
    if cfg.lr_schedule == "cosine":
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / cfg.epochs))
    if cfg.lr_schedule == "iwae":
        done = 0
        for i in range(IWAE_STAGES):
            done += 3**i
            if epoch * IWAE_PASSES < done * cfg.epochs or i == IWAE_STAGES - 1:
                return cfg.lr * 10.0 ** (-i / 7)
    raise ConfigError(f"unknown learning-rate schedule {cfg.lr_schedule!r}; use constant, cosine or iwae")


def dvae_alpha(epoch: int, cfg: ModelConfig) -> float:
    """The dvae encoder's weight on path A in ``epoch`` (0-based): min(1, epoch / dvae_ramp); 1 without a ramp."""
    if not isinstance(cfg, GaussianConfig) or cfg.encoder_paths != "dvae":
        return 1.0  # only the dvae encoder mixes two paths
    return min(1.0, epoch / cfg.dvae_ramp) if cfg.dvae_ramp > 0 else 1.0
