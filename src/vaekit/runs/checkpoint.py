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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save_file

from .._io import atomic_write, atomic_write_json
from ..config import RunConfig, load_json_config
from ..errors import ConfigError, RunError, first_line
from ..models import Model, build_model

CONFIG = "config.json"
MODEL = "model.safetensors"
STATE = "train_state.safetensors"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
CURVES = "loss_curves.png"


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
    adam: dict[str, torch.Tensor],
    generator: torch.Generator,
    counters: dict[str, Any],
    engine: dict[str, Any],
) -> Path:
    """Write ``train_state.safetensors``: everything needed to continue bit-for-bit.

    ``adam``: the optimizer state per parameter name (``Trainer.adam_state()``), the same for every step
    layout, so a run resumes under another step or device. ``engine``: the switches the run resolved to.
    """
    tensors: dict[str, torch.Tensor] = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors.update({f"adam.{k}": v for k, v in adam.items()})
    tensors["rng"] = generator.get_state()
    meta = {"counters": json.dumps(counters), "engine": json.dumps(engine), "format": "2"}
    return write_tensors(run_dir / STATE, tensors, meta)


# Every file of a run directory is read here, and a malformed one is a one-line RunError (fuzzed in
# tests/test_run_files.py): config.json (read_config), model.safetensors (load_model),
# train_state.safetensors (read_train_state), metrics.jsonl (read_metrics), summary.json (read_summary).
# What a damaged file raises while it is parsed; tensors are checked against the model (``check_fits``) before
# PyTorch touches them, so a TypeError, AttributeError or RuntimeError is a bug in vaekit and shows its traceback.
MALFORMED = (SafetensorError, OSError, ValueError, KeyError, IndexError, OverflowError, RecursionError)


def check_fits(tensors: dict[str, torch.Tensor], module: torch.nn.Module, path: Path | str) -> None:
    """A one-line RunError unless ``tensors`` holds exactly the module's state-dict keys, each of its shape."""
    own = module.state_dict()
    missing, extra = sorted(set(own) - set(tensors)), sorted(set(tensors) - set(own))
    if missing or extra:
        what = f"lacks {missing[0]}" if missing else f"has an unknown tensor {extra[0]}"
        raise RunError(f"{path}: does not match its config ({what}); start anew with --overwrite")
    for k, v in own.items():
        if tensors[k].shape != v.shape or not (tensors[k].is_floating_point() or v.dtype == tensors[k].dtype):
            raise RunError(f"{path}: {k} has shape {tuple(tensors[k].shape)} and type {tensors[k].dtype}, the "
                           f"model {tuple(v.shape)} and {v.dtype}; start anew with --overwrite")  # fmt: skip


def check_rng(state: torch.Tensor, generator: torch.Generator, path: Path | str) -> None:
    """A one-line RunError unless ``state`` is a generator state of the kind ``generator`` takes."""
    if state.dtype != torch.uint8 or state.shape != generator.get_state().shape:
        raise RunError(f"{path}: its random-number state does not fit; start anew with --overwrite")
    try:  # a scratch generator of the same device: the state's own consistency checks, nothing changed yet
        torch.Generator(device=generator.device).set_state(state)
    except RuntimeError as e:
        raise RunError(f"{path}: its random-number state is damaged ({first_line(e)}); start anew") from None


def read_config(run_dir: Path) -> RunConfig:
    """The run's ``config.json``."""
    try:
        return load_json_config(Path(run_dir) / CONFIG)
    except ConfigError as e:
        raise RunError(str(e)) from None


def read_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """A checkpoint's tensors and metadata; a one-line RunError when it is missing or unreadable."""
    if not path.is_file():
        raise RunError(f"{path}: no checkpoint to resume from; start anew without --resume")
    try:
        # the bytes read once, from one open file: a writer's atomic replace of the path between two opens
        # would otherwise pair one version's header with another's data
        data = path.read_bytes()
        tensors = load(data)
        size = int.from_bytes(data[:8], "little")  # the header, valid now that load() parsed it
        meta = json.loads(data[8 : 8 + size]).get("__metadata__") or {}
    except MALFORMED as e:
        raise RunError(f"{path}: unreadable checkpoint ({first_line(e)})") from None
    if not all(isinstance(v, str) for v in meta.values()):
        raise RunError(f"{path}: unreadable checkpoint (metadata values must be text)")
    return tensors, meta


@dataclass
class TrainState:
    counters: dict[str, Any]  # epoch (completed), step, train_seconds, ...
    model: dict[str, torch.Tensor]  # the model's state dict
    adam: dict[str, torch.Tensor]  # "{parameter name}.exp_avg" / ".exp_avg_sq" / ".step"
    rng: torch.Tensor  # the run's generator state
    engine: dict[str, Any]  # the switches the run resolved to when this was written ({} for older runs)
    legacy: dict[str, Any] = field(default_factory=dict)  # older checkpoints' optimizer layout (see adam_by_name)

    def adam_by_name(self, model: torch.nn.Module) -> dict[str, torch.Tensor]:
        """Adam's state per parameter name. Checkpoints written before it was kept that way hold the optimizer's
        own layout (one flat buffer for the fused step, else one entry per parameter), converted here with
        the model's parameter order."""
        if self.adam or not self.legacy:
            return self.adam
        try:
            return _legacy_adam(self.legacy["tensors"], self.legacy["scalars"], model)
        except MALFORMED as e:
            raise RunError(f"the checkpoint's optimizer state is malformed ({first_line(e)}); start anew") from None


def read_train_state(run_dir: Path) -> TrainState:
    """Read ``train_state.safetensors``; a one-line RunError when it is missing or not a vaekit checkpoint."""
    path = run_dir / STATE
    tensors, meta = read_tensors(path)
    bad = RunError(f"{path}: not a vaekit training checkpoint; start anew with --overwrite")
    try:
        counters = json.loads(meta["counters"])
        engine = json.loads(meta.get("engine", "{}"))
        scalars = json.loads(meta.get("optim_scalars", "{}"))
    except (KeyError, ValueError, RecursionError):
        raise bad from None
    if not (
        isinstance(counters, dict)
        and all(type(counters.get(k)) is int and counters[k] >= 0 for k in ("epoch", "step"))
        and isinstance(counters.get("train_seconds", 0.0), int | float)
        and isinstance(scalars, dict)
        and "rng" in tensors
        and tensors["rng"].dtype == torch.uint8
    ):
        raise bad
    state = TrainState(
        counters,
        {k[6:]: v for k, v in tensors.items() if k.startswith("model.")},
        {k[5:]: v for k, v in tensors.items() if k.startswith("adam.")},
        tensors["rng"],
        engine if isinstance(engine, dict) else {},
    )
    legacy = {k: v for k, v in tensors.items() if k.startswith("optim.")}
    if legacy:
        state.legacy = {"tensors": legacy, "scalars": scalars}
    return state


def _legacy_adam(
    legacy: dict[str, torch.Tensor], scalars: dict[str, Any], model: torch.nn.Module
) -> dict[str, torch.Tensor]:
    """Old ``optim.{index}.{key}`` entries -> the per-name form (index = position in ``model.parameters()``,
    or one flat buffer of all of them in that order for the fused step)."""
    by_index: dict[int, dict[str, Any]] = {}
    for k, v in legacy.items():
        _, index, key = k.split(".", 2)
        by_index.setdefault(int(index), {})[key] = v
    for k, v in scalars.items():
        index, key = k.split(".", 1)
        by_index.setdefault(int(index), {})[key] = torch.tensor(float(v))
    named = list(model.named_parameters())
    out: dict[str, torch.Tensor] = {}
    total = sum(p.numel() for _, p in named)
    if len(by_index) == 1 and len(named) > 1 and by_index[0]["exp_avg"].numel() == total:  # the flat buffer
        st, offset = by_index[0], 0
        if st["exp_avg_sq"].numel() != total or st["step"].numel() != 1:
            raise RunError("the checkpoint's flat optimizer buffers differ in size; start anew with --overwrite")
        for name, p in named:
            for key in ("exp_avg", "exp_avg_sq"):
                out[f"{name}.{key}"] = st[key][offset : offset + p.numel()].view(p.shape)
            out[f"{name}.step"] = st["step"]
            offset += p.numel()
        return out
    for idx, st in by_index.items():
        if idx < len(named):
            pname = named[idx][0]
            out.update({f"{pname}.{key}": v for key, v in st.items()})
    return out


def load_model(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[Model, RunConfig]:
    """Rebuild a trained model from a run directory; returns ``(model in eval mode, config)``."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: no such run directory")
    cfg = read_config(run_dir)
    path = run_dir / MODEL
    if not path.is_file():
        raise RunError(f"{path}: missing; the run has not finished an epoch yet")
    try:
        model = build_model(cfg.model)
    except ConfigError as e:
        raise RunError(f"{run_dir / CONFIG}: describes no model vaekit can build ({first_line(e)})") from None
    tensors, _ = read_tensors(path)
    check_fits(tensors, model, path)
    model.load_state_dict(tensors)
    return model.to(device).eval(), cfg


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """All records of ``metrics.jsonl`` (empty when there is none)."""
    path = run_dir / METRICS
    if not path.is_file():
        return []
    records = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        raise RunError(f"{path}: unreadable (not UTF-8 text); remove it to start the log anew") from None
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except (ValueError, RecursionError):
            r = None
        if not isinstance(r, dict) or type(r.get("epoch")) is not int:
            raise RunError(f"{path}: line {i} is not an epoch record; remove the line or the file")
        records.append(r)
    return records


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
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        summary = None
    if not isinstance(summary, dict):
        raise RunError(f"{path}: not a summary; `vaekit train --resume --out {run_dir}` writes it again")
    return summary
