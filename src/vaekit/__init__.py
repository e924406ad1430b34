"""vaekit: variational autoencoders and discrete image tokenizers.

The public API, imported lazily so that ``vaekit --help`` does not pay for PyTorch:

    from vaekit import RunConfig, train, evaluate_run, open_run, load_dataset
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "RunConfig": "vaekit.config",
    "ModelConfig": "vaekit.config",
    "LossConfig": "vaekit.config",
    "DataConfig": "vaekit.config",
    "TrainConfig": "vaekit.config",
    "train": "vaekit.engine",
    "Trainer": "vaekit.engine",
    "evaluate_run": "vaekit.evaluate",
    "evaluate_model": "vaekit.evaluate",
    "open_run": "vaekit.runs",
    "load_model": "vaekit.checkpoint",
    "load_dataset": "vaekit.data",
    "GaussianVAE": "vaekit.models",
    "ConvTokenizer": "vaekit.models",
    "build_model": "vaekit.models",
    "preset_config": "vaekit.models",
    "build_report": "vaekit.report",
    "bench": "vaekit.bench",
    "NumpyVAE": "vaekit.portable",
    "VaekitError": "vaekit.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vaekit' has no attribute {name!r}")
