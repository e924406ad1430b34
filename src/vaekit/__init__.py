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
    "train": "vaekit.training.loop",
    "Trainer": "vaekit.training.loop",
    "evaluate_run": "vaekit.analysis.evaluate",
    "evaluate_model": "vaekit.evaluation.metrics",
    "open_run": "vaekit.runs.open",
    "load_model": "vaekit.runs.checkpoint",
    "load_dataset": "vaekit.data",
    "GaussianVAE": "vaekit.models",
    "ConvTokenizer": "vaekit.models",
    "TiTok": "vaekit.models",
    "Tokenizer": "vaekit.models",
    "build_model": "vaekit.models",
    "preset_config": "vaekit.models",
    "build_report": "vaekit.analysis.report",
    "bench": "vaekit.measure.compare",
    "NumpyVAE": "vaekit.export.portable",
    "VaekitError": "vaekit.errors",
    "sweep": "vaekit.training.sweep",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vaekit' has no attribute {name!r}")
