"""The model kinds: which config class each ``model.kind`` has. A new kind adds its config file here and its
model to ``models/registry.py``; training, evaluation, runs and the CLI take it from there."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from ..errors import ConfigError
from .gaussian import GaussianConfig
from .model import ImageModelConfig
from .titok import TiTokConfig
from .tokenizer import TokenizerConfig
from .video import VideoConfig

# the config of a run's model, one class per kind
ModelConfig = GaussianConfig | TokenizerConfig | TiTokConfig | VideoConfig

MODEL_CONFIGS: tuple[type[ImageModelConfig], ...] = (GaussianConfig, TokenizerConfig, TiTokConfig, VideoConfig)
KIND_CONFIG: dict[str, type[ImageModelConfig]] = {k: c for c in MODEL_CONFIGS for k in c.KINDS}
KINDS = tuple(KIND_CONFIG)


def config_class(kind: Any) -> type[ImageModelConfig]:
    """The config class of ``kind``, or a one-line ConfigError naming the kinds there are."""
    if not isinstance(kind, str) or kind not in KIND_CONFIG:
        raise ConfigError(f"model.kind must be one of {', '.join(KINDS)}; got {kind!r}")
    return KIND_CONFIG[kind]


def model_config(kind: str) -> ModelConfig:
    """The default config of ``kind``."""
    return config_class(kind)(kind=kind)  # type: ignore[return-value]


def kinds_of(name: str) -> tuple[str, ...]:
    """The kinds that have a model setting called ``name``."""
    return tuple(k for k, c in KIND_CONFIG.items() if name in {f.name for f in fields(c)})
