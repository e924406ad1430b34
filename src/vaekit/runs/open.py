"""Open a finished run: its model, config and test split, ready for evaluation and inspection."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..config import RunConfig
from ..data import ImageDataset
from ..errors import ConfigError
from ..models import GaussianVAE, Model, Tokenizer
from .checkpoint import load_model


@dataclass
class Run:
    path: Path
    model: Model  # in eval mode: a GaussianVAE or a Tokenizer
    cfg: RunConfig
    x_test: torch.Tensor  # (N, P) float in [0, 1], binarized as in training
    y_test: np.ndarray | None  # (N,) labels, when the data has them
    dataset: ImageDataset | None = None  # both splits as read (uint8), with per-image strings (emoji names)

    def split(self, name: str) -> tuple[torch.Tensor, np.ndarray | None, dict[str, np.ndarray]]:
        """Images (N, P) in [0, 1] (binarized as in training), labels and per-image strings of a split."""
        meta_test = self.dataset.meta_test if self.dataset is not None else {}
        if name == "test":
            return self.x_test, self.y_test, meta_test
        from ..data.tensors import load_data_tensors

        assert self.dataset is not None
        x_train, _ = load_data_tensors(self.cfg, self.x_test.device, self.dataset, quiet=True)
        return x_train, self.dataset.y_train, self.dataset.meta_train

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.cfg.model.input_shape)

    @property
    def vae(self) -> GaussianVAE:
        """The model, for what only a Gaussian VAE has (a latent to look at); a ConfigError for a tokenizer."""
        if not isinstance(self.model, GaussianVAE):
            raise ConfigError(f"{self.path} holds a {self.cfg.model.kind} tokenizer; this needs a Gaussian VAE")
        return self.model

    @property
    def tokenizer(self) -> Tokenizer:
        """The model, for what only a tokenizer has (tokens); a ConfigError for a Gaussian VAE."""
        if not isinstance(self.model, Tokenizer):
            raise ConfigError(f"{self.path} holds a Gaussian VAE; this needs a vq, fsq or mgvq tokenizer run")
        return self.model


def open_run(run_dir: str | Path, device: str = "cpu") -> Run:
    """Load a run's model and its dataset's test split (same binarization as in training)."""
    from ..data import load_run_data
    from ..data.tensors import load_data_tensors
    from ..switches import resolve_device

    dev = resolve_device(device)
    model, cfg = load_model(run_dir, dev)
    ds = load_run_data(cfg, quiet=True)
    _, x_test = load_data_tensors(cfg, dev, ds, quiet=True)
    return Run(Path(run_dir), model, cfg, x_test, ds.y_test, ds)
