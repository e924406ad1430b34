"""Prior samples from a trained Gaussian VAE."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import ConfigError
from ..models import GaussianVAE
from ..plots import save_grid
from ..runs.checkpoint import load_model


def prior_grid(model: torch.nn.Module, n: int, out: str | Path, seed: int = 0) -> Path:
    """Decode ``n`` draws from the model's prior into one PNG grid at ``out``; returns the path."""
    if not isinstance(model, GaussianVAE):
        raise ConfigError("prior samples need a Gaussian VAE; tokenizer runs have no prior (use vaekit detokenize)")
    device = next(model.parameters()).device
    images = model.sample(n, generator=torch.Generator(device=device).manual_seed(seed)).cpu().numpy()
    return save_grid(images, out)


def sample_grid(run_dir: str | Path, n: int, out: str | Path, seed: int = 0) -> Path:
    """Load a run and write ``n`` prior samples as one PNG grid at ``out``."""
    model, _ = load_model(run_dir)
    return prior_grid(model, n, out, seed)
