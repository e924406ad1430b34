"""Model families."""

from .gaussian import PRESETS, GaussianVAE, VAEOutput, build_model, count_params, preset_config
from .nets import mlp

__all__ = ["PRESETS", "GaussianVAE", "VAEOutput", "build_model", "count_params", "mlp", "preset_config"]
