"""What a training run tells its subscribers: a running loss every few steps and a record after every epoch.

``train(..., sinks=[...])`` calls each sink; the console line, and with ``--tensorboard`` the TensorBoard writer
(``analysis/tensorboard.py``), subscribe this way. Training knows this protocol and nothing of the sinks:
they are built by whoever calls ``train()``. ``metrics.jsonl`` is not a sink: it is part of each checkpoint's
commit (see ``runs/session.py``), written before the training state that ``--resume`` trusts.
"""

from __future__ import annotations

import sys
from typing import Any, Protocol

import torch


class Sink(Protocol):
    def on_step(self, step: int, values: dict[str, float]) -> None:
        """Every ``log_every`` steps: the epoch's running means so far (``train_loss`` ...)."""

    def on_epoch(self, record: dict[str, Any], model: torch.nn.Module, x_test: torch.Tensor) -> None:
        """After each committed epoch: its record (as in metrics.jsonl), the model (train mode), the test set."""

    def close(self) -> None:
        """The run ended (finished, failed or interrupted)."""


class ConsoleSink:
    """The per-epoch line on stderr: ``epoch 3: train 110.52  test 109.87 nats  (1.21 s, ...)``."""

    def __init__(self, clock: Any):
        self.clock = clock

    def on_step(self, step: int, values: dict[str, float]) -> None:
        pass

    def on_epoch(self, record: dict[str, Any], model: torch.nn.Module, x_test: torch.Tensor) -> None:
        e = record["epoch"]
        print(
            f"epoch {e}: train {record['train_loss']:.2f}  test {record['test_loss']:.2f} nats  "
            f"({record['seconds']:.2f} s{self.clock.tick(e)})",
            file=sys.stderr,
        )

    def close(self) -> None:
        pass
