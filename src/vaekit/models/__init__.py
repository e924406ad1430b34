"""Model families."""

from .gaussian import PRESETS, GaussianVAE, VAEOutput, preset_config
from .nets import mlp
from .registry import Model, build_model, count_params
from .tokenizer import TOKENIZER_KINDS, ConvTokenizer, TokenizerOutput

__all__ = [
    "TOKENIZER_KINDS",
    "ConvTokenizer",
    "TokenizerOutput",
    "PRESETS",
    "GaussianVAE",
    "Model",
    "VAEOutput",
    "build_model",
    "count_params",
    "mlp",
    "preset_config",
]
