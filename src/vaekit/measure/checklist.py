"""The lecture's mini-project as a checklist: a small VAE on MNIST with four pass/fail criteria.

The model is the plain conv VAE (``--preset conv --net plain``: two stride-2 convolutions of 32 and 64
channels, 20 latents, 258,025 parameters), the best under 300,000 parameters measured (docs/results.md):
the MLP ``tiny`` preset stops near 104 nats. Its recipe is Adam with a cosine schedule from 2e-3 over the
epochs, batch 128, targets in [0, 1] (benchmarks/tiny.py measures the candidates).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import RunConfig
from ..models import preset_config
from ..training.loop import train

MAX_PARAMS = 300_000
MAX_TRAIN_SECONDS = 300.0
MAX_TEST_BCE = 120.0
MAX_TEST_LOSS = 100.0
TINY_EPOCHS = 18
TINY_LR = 2e-3  # the peak of the cosine schedule: 99.25 nats after 18 epochs against 100.08 from 1e-3


@dataclass
class Check:
    name: str
    value: float
    limit: float
    unit: str
    strict: bool = True  # under the limit (else: at most the limit)

    @property
    def passed(self) -> bool:
        return self.value < self.limit if self.strict else self.value <= self.limit

    @property
    def margin(self) -> str:
        """How far inside (or outside) the limit, as a percentage of the limit."""
        return f"{100.0 * (self.limit - self.value) / self.limit:+.1f}%"

    def line(self) -> str:
        status = "PASS" if self.passed else "FAIL"
        value = f"{self.value:,.0f}" if float(self.value).is_integer() else f"{self.value:,.2f}"
        bound = "<" if self.strict else "<="
        return (f"{status}  {self.name:<28} {value:>12} {self.unit:<6} {bound} {self.limit:,.0f}  "
                f"(margin {self.margin})")  # fmt: skip


def tiny_config(epochs: int = TINY_EPOCHS, dataset: str = "mnist", data_dir: str | None = None) -> RunConfig:
    """The checklist's run: the plain conv VAE, Adam on a cosine schedule from ``TINY_LR`` over ``epochs``."""
    cfg = RunConfig(model=preset_config("conv", net="plain"))
    cfg.train.epochs, cfg.train.lr, cfg.train.lr_schedule = epochs, TINY_LR, "cosine"
    cfg.data.dataset, cfg.data.data_dir = dataset, data_dir
    return cfg


def tiny_checklist(
    run_dir: str | Path,
    epochs: int = TINY_EPOCHS,
    overwrite: bool = False,
    progress: bool = True,
    dataset: str = "mnist",
    data_dir: str | None = None,
) -> list[Check]:
    """Train the checklist's model and check parameters, training time, test BCE and test loss."""
    result = train(tiny_config(epochs, dataset, data_dir), run_dir, overwrite=overwrite, progress=progress)
    return checks(result.summary)


def checks(summary: dict) -> list[Check]:
    """The four checks of a finished run's summary.json."""
    return [
        Check("parameters", summary["params"], MAX_PARAMS, ""),
        Check("training time", summary["train_seconds"], MAX_TRAIN_SECONDS, "s"),
        Check("test BCE (reconstruction)", summary["recon"], MAX_TEST_BCE, "nats"),
        Check("test loss (negative ELBO)", summary["loss"], MAX_TEST_LOSS, "nats", strict=False),
    ]
