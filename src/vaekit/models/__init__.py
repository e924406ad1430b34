"""Model families."""

from .gaussian import PRESETS, GaussianVAE, VAEOutput, build_model, count_params, preset_config
from .nets import mlp
from .tokenizer import TOKENIZER_KINDS, ConvTokenizer, TokenizerOutput

__all__ = [
    "TOKENIZER_KINDS",
    "ConvTokenizer",
    "TokenizerOutput",
    "PRESETS",
    "GaussianVAE",
    "VAEOutput",
    "build_model",
    "count_params",
    "mlp",
    "preset_config",
]
