"""Run configuration: one config class per model kind, and the loss, data and training settings, each field
declared once with its help, its domain and its flag (see ``fields.py``). Imports no PyTorch."""

from .fields import Domain, setting
from .gaussian import ACTIVATIONS, ARCHS, ENCODER_PATHS, PRESETS, GaussianConfig, preset_config
from .kinds import KIND_CONFIG, KINDS, MODEL_CONFIGS, ModelConfig, config_class, model_config
from .model import DOWNSAMPLE, LIKELIHOODS, MODEL_KINDS, NETS, ImageModelConfig
from .run import (
    ANNEALS,
    BINARIZE,
    DEVICES,
    GRAPHS,
    LR_SCHEDULES,
    OBJECTIVES,
    PRECISIONS,
    SECTIONS,
    STEPS,
    DataConfig,
    LossConfig,
    RunConfig,
    TrainConfig,
    load_json_config,
    load_toml,
    run_settings,
    update,
)
from .titok import TiTokConfig
from .tokenizer import TOKENIZER_KINDS, QuantizedConfig, TokenizerConfig
from .video import VideoConfig

__all__ = [
    "ACTIVATIONS",
    "ANNEALS",
    "ARCHS",
    "BINARIZE",
    "DEVICES",
    "DOWNSAMPLE",
    "Domain",
    "ENCODER_PATHS",
    "GRAPHS",
    "KINDS",
    "KIND_CONFIG",
    "LIKELIHOODS",
    "LR_SCHEDULES",
    "MODEL_KINDS",
    "MODEL_CONFIGS",
    "NETS",
    "OBJECTIVES",
    "PRECISIONS",
    "PRESETS",
    "SECTIONS",
    "STEPS",
    "TOKENIZER_KINDS",
    "DataConfig",
    "GaussianConfig",
    "ImageModelConfig",
    "LossConfig",
    "ModelConfig",
    "RunConfig",
    "QuantizedConfig",
    "TiTokConfig",
    "TokenizerConfig",
    "TrainConfig",
    "VideoConfig",
    "config_class",
    "load_json_config",
    "load_toml",
    "model_config",
    "preset_config",
    "run_settings",
    "setting",
    "update",
]
