"""`vaekit evaluate`: a run's test-set metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..evaluation.metrics import evaluate_model
from ..runs.open import open_run


def evaluate_run(
    run_dir: str | Path, iw_samples: int = 0, device: str = "auto", progress: bool = False
) -> dict[str, Any]:
    """Load a run and evaluate it on its dataset's test split (same binarization as in training)."""
    run = open_run(run_dir, device)
    return evaluate_model(run.model, run.x_test, iw_samples, progress=progress, quality=True)
