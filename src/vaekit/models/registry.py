"""Which model a config describes: ``build_model``, and ``Model``, the type of every model vaekit trains."""

from __future__ import annotations

from torch import nn

from ..config import GaussianConfig, ModelConfig
from .gaussian import GaussianVAE
from .tokenizer import ConvTokenizer

Model = GaussianVAE | ConvTokenizer  # a run's model: a Gaussian VAE or a discrete-latent tokenizer


def build_model(cfg: ModelConfig) -> Model:
    """The model a config describes: a GaussianVAE, or a ConvTokenizer for kind vq / fsq / mgvq."""
    return GaussianVAE(cfg) if isinstance(cfg, GaussianConfig) else ConvTokenizer(cfg)


def count_params(model: nn.Module) -> int:
    """The number of trainable values."""
    return sum(p.numel() for p in model.parameters())
