"""The lecture's mini-project as a checklist: a tiny VAE on MNIST with four pass/fail criteria."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import RunConfig
from ..models import preset_config
from ..training.loop import train

MAX_PARAMS = 300_000
MAX_TRAIN_SECONDS = 300.0
MAX_TEST_BCE = 120.0
MAX_TEST_LOSS = 110.0
TINY_EPOCHS = 30  # the recipe: Adam 1e-3, batch 128, targets in [0, 1]


@dataclass
class Check:
    name: str
    value: float
    limit: float
    unit: str

    @property
    def passed(self) -> bool:
        return self.value < self.limit

    @property
    def margin(self) -> str:
        """How far inside (or outside) the limit, as a percentage of the limit."""
        return f"{100.0 * (self.limit - self.value) / self.limit:+.1f}%"

    def line(self) -> str:
        status = "PASS" if self.passed else "FAIL"
        value = f"{self.value:,.0f}" if float(self.value).is_integer() else f"{self.value:,.2f}"
        return f"{status}  {self.name:<28} {value:>12} {self.unit:<6} < {self.limit:,.0f}  (margin {self.margin})"


def tiny_checklist(
    run_dir: str | Path,
    epochs: int = TINY_EPOCHS,
    overwrite: bool = False,
    progress: bool = True,
    dataset: str = "mnist",
    data_dir: str | None = None,
) -> list[Check]:
    """Train the tiny preset on MNIST and check parameters, training time, test BCE and test loss."""
    cfg = RunConfig(model=preset_config("tiny"))
    cfg.train.epochs = epochs
    cfg.data.dataset, cfg.data.data_dir = dataset, data_dir
    result = train(cfg, run_dir, overwrite=overwrite, progress=progress)
    s = result.summary
    return [
        Check("parameters", s["params"], MAX_PARAMS, ""),
        Check("training time", s["train_seconds"], MAX_TRAIN_SECONDS, "s"),
        Check("test BCE (reconstruction)", s["recon"], MAX_TEST_BCE, "nats"),
        Check("test loss (negative ELBO)", s["loss"], MAX_TEST_LOSS, "nats"),
    ]
