"""Adam for the engine: the optimizer a step uses, and its state in the one form checkpoints keep.

The fused step keeps Adam's moments in one flat buffer (all parameters, layer by layer), autograd keeps them
per parameter; checkpoints keep them per parameter name ("{name}.exp_avg", ".exp_avg_sq", ".step") so that a
run resumes under either step, on either device.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import RunError
from .step import FusedStep


def make_optimizer(params, lr: float, eps: float = 1e-8) -> tuple[torch.optim.Optimizer, str]:
    """Adam with the fused kernel when available; returns ``(optimizer, kind)``."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, eps=eps, fused=True), "adam-fused"
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=lr, eps=eps, foreach=True), "adam-foreach"


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every parameter group's learning rate (read by the next step)."""
    for group in optimizer.param_groups:
        group["lr"] = lr


def adam_by_name(optimizer: torch.optim.Optimizer, model: nn.Module, fused_step: FusedStep | None) -> dict[str, Tensor]:
    """Adam's state per parameter name ("{name}.exp_avg", ".exp_avg_sq", ".step"), whatever the step's
    layout: the form checkpoints keep, so that a run resumes under another step or device."""
    out: dict[str, Tensor] = {}
    if fused_step is not None:
        st = optimizer.state[fused_step.param]
        if not st:
            return out
        for key in ("exp_avg", "exp_avg_sq"):
            for name, v in fused_step.parameter_views(st[key]).items():
                out[f"{name}.{key}"] = v
        for name in fused_step.parameter_views(st["exp_avg"]):
            out[f"{name}.step"] = st["step"]
        return out
    for name, p in model.named_parameters():
        for key, v in optimizer.state.get(p, {}).items():
            if torch.is_tensor(v):
                out[f"{name}.{key}"] = v
    return out


def load_adam_by_name(
    optimizer: torch.optim.Optimizer,
    model: nn.Module,
    fused_step: FusedStep | None,
    state: dict[str, Tensor],
    device: torch.device,
) -> None:
    """Load ``adam_state()``'s form into this run's optimizer, converting to its layout and device."""
    if not state:
        return
    dev = device
    if fused_step is not None:
        p = fused_step.param
        st = {"step": torch.zeros((), device=dev)}
        for key in ("exp_avg", "exp_avg_sq"):
            st[key] = torch.zeros_like(p)
            for name, view in fused_step.parameter_views(st[key]).items():
                view.copy_(_moment(state, name, key, view.shape))
        first = next(name for name, _ in model.named_parameters())
        st["step"] = _step(state, first).to(device=dev, dtype=torch.float32).reshape(()).clone()
        optimizer.state[p] = st
        return
    group = optimizer.param_groups[0]
    on_device = group.get("fused") or group.get("capturable")  # where torch.optim.Adam keeps its step count
    for name, p in model.named_parameters():
        if f"{name}.exp_avg" not in state:
            continue  # a parameter that never had a gradient has no state
        # empty_like: the moments take their parameter's memory layout (channels_last convolutions)
        st = {k: torch.empty_like(p).copy_(_moment(state, name, k, p.shape)) for k in ("exp_avg", "exp_avg_sq")}
        step_dev = p.device if on_device else torch.device("cpu")
        st["step"] = _step(state, name).to(device=step_dev, dtype=torch.float32).reshape(()).clone()
        optimizer.state[p] = st


def _moment(state: dict[str, Tensor], name: str, key: str, shape: torch.Size) -> Tensor:
    v = state.get(f"{name}.{key}")
    if v is None or v.shape != shape or not v.is_floating_point():
        raise RunError(f"the checkpoint's Adam state does not fit parameter {name}; start a new run with --overwrite")
    return v


def _step(state: dict[str, Tensor], name: str) -> Tensor:
    v = state.get(f"{name}.step")
    if v is None or v.numel() != 1 or v.is_complex():
        raise RunError(f"the checkpoint's Adam step count of {name} is malformed; start a new run with --overwrite")
    return v
