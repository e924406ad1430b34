"""Which model a config describes: ``build_model``, and ``Model``, the type of every model vaekit trains."""

from __future__ import annotations

from torch import nn

from ..config import GaussianConfig, ModelConfig, TiTokConfig, VideoConfig
from .gaussian import GaussianVAE
from .titok import TiTok
from .tokenizer import ConvTokenizer, Tokenizer
from .video import VideoTokenizer

Model = GaussianVAE | Tokenizer  # a run's model: a Gaussian VAE or a discrete-latent tokenizer (grid or 1-D)


def build_model(cfg: ModelConfig) -> Model:
    """The model a config describes: a GaussianVAE, a ConvTokenizer for kind vq / fsq / mgvq, TiTok for titok,
    a VideoTokenizer for video."""
    if isinstance(cfg, GaussianConfig):
        return GaussianVAE(cfg)
    if isinstance(cfg, TiTokConfig):
        return TiTok(cfg)
    if isinstance(cfg, VideoConfig):
        return VideoTokenizer(cfg)
    return ConvTokenizer(cfg)


def count_params(model: nn.Module) -> int:
    """The number of trainable values."""
    return sum(p.numel() for p in model.parameters())
