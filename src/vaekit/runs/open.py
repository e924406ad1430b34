"""Open a finished run: its model, config and test split, ready for evaluation and inspection."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .checkpoint import load_model
from ..config import RunConfig
from ..models import GaussianVAE


@dataclass
class Run:
    path: Path
    model: GaussianVAE  # in eval mode
    cfg: RunConfig
    x_test: torch.Tensor  # (N, P) float in [0, 1], binarized as in training
    y_test: np.ndarray | None  # (N,) labels, when the data has them

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.cfg.model.input_shape)


def open_run(run_dir: str | Path, device: str = "cpu") -> Run:
    """Load a run's model and its dataset's test split (same binarization as in training)."""
    from ..data import load_dataset
    from ..data.tensors import load_data_tensors
    from ..switches import resolve_device

    dev = resolve_device(device)
    model, cfg = load_model(run_dir, dev)
    ds = load_dataset(cfg.data.dataset, cfg.data.data_dir, quiet=True)
    _, x_test = load_data_tensors(cfg, dev, ds, quiet=True)
    return Run(Path(run_dir), model, cfg, x_test, ds.y_test)
