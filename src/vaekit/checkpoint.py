"""Run directories and checkpoints: safetensors for tensors, JSON for everything else, every write atomic.

A run directory holds:
  config.json               the resolved RunConfig (rebuilds the model exactly)
  model.safetensors         the latest model weights (config in the metadata too)
  train_state.safetensors   what --resume needs: weights, optimizer state, RNG state, epoch and step
  metrics.jsonl             one JSON line per epoch
  summary.json              test metrics and train_seconds, written at the end
  loss_curves.png           train/test loss, reconstruction and KL per epoch
  report.html (+ figures)   written at the end of training by `vaekit report`'s code
Nothing here is ever unpickled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from ._io import atomic_write, atomic_write_json
from .config import RunConfig, load_json_config
from .errors import RunError
from .models import GaussianVAE, build_model

CONFIG = "config.json"
MODEL = "model.safetensors"
STATE = "train_state.safetensors"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
CURVES = "loss_curves.png"
RUN_FILES = (CONFIG, MODEL, STATE, METRICS, SUMMARY, CURVES, "report.html", "explorer.html")


def write_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> Path:
    # clone: parameters may be views of one flat buffer, and safetensors stores each tensor on its own
    tensors = {k: v.detach().cpu().clone().contiguous() for k, v in tensors.items()}
    return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def save_config(run_dir: Path, cfg: RunConfig) -> Path:
    return atomic_write_json(run_dir / CONFIG, cfg.to_dict())


def save_model(run_dir: Path, model: torch.nn.Module, cfg: RunConfig) -> Path:
    """Write ``model.safetensors`` with the run config in its metadata."""
    return write_tensors(run_dir / MODEL, model.state_dict(), {"config": json.dumps(cfg.to_dict())})


def save_train_state(
    run_dir: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    counters: dict[str, Any],
) -> Path:
    """Write ``train_state.safetensors``: everything needed to continue bit-for-bit."""
    tensors: dict[str, torch.Tensor] = {f"model.{k}": v for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    scalars: dict[str, Any] = {}
    for idx, state in opt["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"optim.{idx}.{key}"] = value
            else:
                scalars[f"{idx}.{key}"] = value
    tensors["rng"] = generator.get_state()
    meta = {
        "counters": json.dumps(counters),
        "param_groups": json.dumps(opt["param_groups"]),
        "optim_scalars": json.dumps(scalars),
    }
    return write_tensors(run_dir / STATE, tensors, meta)


def read_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """A checkpoint's tensors and metadata; a one-line RunError when it is missing or unreadable."""
    if not path.is_file():
        raise RunError(f"{path}: no checkpoint to resume from; start anew without --resume")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        return load_file(str(path)), meta
    except (SafetensorError, OSError) as e:
        raise RunError(f"{path}: unreadable checkpoint ({e})") from None


@dataclass
class TrainState:
    counters: dict[str, Any]  # epoch (completed), step, train_seconds, ...


def load_train_state(
    run_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator
) -> TrainState:
    """Restore model, optimizer and RNG from ``train_state.safetensors``; returns the counters."""
    tensors, meta = read_tensors(run_dir / STATE)
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict[str, Any]] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, idx, key = k.split(".", 2)
            state.setdefault(int(idx), {})[key] = v
    for k, v in json.loads(meta.get("optim_scalars", "{}")).items():
        idx, key = k.split(".", 1)
        state.setdefault(int(idx), {})[key] = v
    optimizer.load_state_dict({"state": state, "param_groups": json.loads(meta["param_groups"])})
    for p, st in optimizer.state.items():  # saved moments are contiguous; give them their parameter's layout
        for key, value in st.items():
            if torch.is_tensor(value) and value.shape == p.shape and value.stride() != p.stride():
                st[key] = torch.empty_like(p).copy_(value)
    generator.set_state(tensors["rng"])
    return TrainState(json.loads(meta["counters"]))


def load_model(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[GaussianVAE, RunConfig]:
    """Rebuild a trained model from a run directory; returns ``(model in eval mode, config)``."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: no such run directory")
    cfg = load_json_config(run_dir / CONFIG)
    path = run_dir / MODEL
    if not path.is_file():
        raise RunError(f"{path}: missing; the run has not finished an epoch yet")
    model = build_model(cfg.model)
    try:
        model.load_state_dict(load_file(str(path)))
    except (SafetensorError, OSError, RuntimeError) as e:
        raise RunError(f"{path}: does not match config.json ({str(e).splitlines()[0]})") from None
    return model.to(device).eval(), cfg


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """All records of ``metrics.jsonl`` (empty when there is none)."""
    path = run_dir / METRICS
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_metrics(run_dir: Path, records: list[dict[str, Any]]) -> Path:
    text = "".join(json.dumps(r) + "\n" for r in records)
    return atomic_write(run_dir / METRICS, lambda p: p.write_text(text))


def append_metrics(run_dir: Path, record: dict[str, Any]) -> None:
    with open(run_dir / METRICS, "a") as f:
        f.write(json.dumps(record) + "\n")


def read_summary(run_dir: Path) -> dict[str, Any]:
    path = run_dir / SUMMARY
    if not path.is_file():
        raise RunError(
            f"{path}: missing; the run did not finish (resume it with vaekit train --resume --out {run_dir})"
        )
    return json.loads(path.read_text())
