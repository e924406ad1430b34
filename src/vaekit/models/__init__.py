"""Model families."""

from ..config import PRESETS, TOKENIZER_KINDS, preset_config
from .gaussian import GaussianVAE, VAEOutput
from .nets import mlp
from .registry import Model, build_model, count_params
from .titok import TiTok
from .tokenizer import ConvTokenizer, Tokenizer, TokenizerOutput

__all__ = [
    "TOKENIZER_KINDS",
    "ConvTokenizer",
    "TiTok",
    "Tokenizer",
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
