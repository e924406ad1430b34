"""Prior samples from a trained run."""

from __future__ import annotations

from pathlib import Path

import torch

from .checkpoint import load_model
from .plots import save_grid


def sample_grid(run_dir: str | Path, n: int, out: str | Path, seed: int = 0) -> Path:
    """Decode ``n`` draws from the prior of the run's model into one PNG grid at ``out``."""
    model, _ = load_model(run_dir)
    g = torch.Generator().manual_seed(seed)
    images = model.sample(n, generator=g).cpu().numpy()
    return save_grid(images, out)
