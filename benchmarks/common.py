"""What the measuring scripts share: a run trained once into its folder, and the machine it ran on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vaekit.cli import main as vaekit
from vaekit.measure.compare import machine_info
from vaekit.switches import detect, resolve_device


def train_once(run: Path, args: list[str], resume: bool = False) -> None:
    """``vaekit train ARGS --out RUN`` unless RUN holds a finished run (its summary.json). ``resume``: an
    interrupted run (a checkpoint, no summary) continues to the epochs ``args`` name instead of starting over."""
    if (run / "summary.json").is_file():
        return
    if resume and (run / "train_state.safetensors").is_file():
        epochs = args[args.index("--epochs") + 1]
        assert vaekit(["train", "--resume", "--epochs", epochs, "--out", str(run), "--quiet", "--no-report"]) == 0
    else:
        assert vaekit(["train", *args, "--out", str(run), "--quiet", "--no-report", "--overwrite"]) == 0


def machine() -> dict[str, Any]:
    """The CPU (or GPU), its bf16 units, threads and torch of this process, as the result JSON records them."""
    device = resolve_device("auto")
    return machine_info(device, detect(device))
