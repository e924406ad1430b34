"""A tokenizer run's token prior on disk: ``RUN/prior/`` with its own config, weights, training state and
metrics, every file written atomically (safetensors and JSON, no pickle) and read here with one-line errors.

    RUN/prior/config.json              {"prior": PriorConfig, "train": PriorTrainConfig}
    RUN/prior/model.safetensors        the transformer's weights
    RUN/prior/train_state.safetensors  weights + AdamW state + RNG + counters: --resume continues from here
    RUN/prior/metrics.jsonl            one line per epoch: train and test NLL (nats per image)
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from .._io import atomic_write_json
from ..config.fields import from_table
from ..config.prior import PriorConfig, PriorTrainConfig
from ..errors import ConfigError, RunError, first_line
from ..models.group_prior import build_prior
from ..models.transformer import PriorBase
from .checkpoint import MALFORMED, check_fits, check_rng, read_tensors, write_tensors

PRIOR_DIR = "prior"
CONFIG, MODEL, STATE, METRICS, CURVES = (
    "config.json", "model.safetensors", "train_state.safetensors", "metrics.jsonl", "loss_curves.png"
)  # fmt: skip


PRIOR_OUTPUTS = (CONFIG, MODEL, STATE, METRICS, CURVES)  # what vaekit writes into RUN/prior


def prior_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / PRIOR_DIR


def has_prior(run_dir: str | Path) -> bool:
    return (prior_dir(run_dir) / MODEL).is_file()


def save_prior_config(out: Path, cfg: PriorConfig, train: PriorTrainConfig) -> Path:
    return atomic_write_json(out / CONFIG, {"prior": asdict(cfg), "train": asdict(train)})


def read_prior_config(run_dir: str | Path) -> tuple[PriorConfig, PriorTrainConfig]:
    """The prior's config; a one-line RunError when it is missing or malformed."""
    path = prior_dir(run_dir) / CONFIG
    if not path.is_file():
        raise RunError(f"{Path(run_dir)} has no token prior; train one with `vaekit prior {run_dir}`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data["train"].setdefault("precision", "fp32")  # priors saved before the setting trained in fp32
        prior = from_table(PriorConfig, data["prior"], "prior").validate()
        return prior, from_table(PriorTrainConfig, data["train"], "prior").validate()
    except (*MALFORMED, ConfigError) as e:
        raise RunError(f"{path}: not a vaekit prior config ({first_line(e)}); retrain with --overwrite") from None


def save_prior(out: Path, prior: PriorBase) -> Path:
    """Write the weights into the prior's folder ``out`` (``RUN/prior``, or where a new prior is staged)."""
    return write_tensors(out / MODEL, prior.state_dict(), {"format": "1"})


def save_prior_state(
    out: Path, prior: PriorBase, optim: torch.optim.Optimizer, gen: torch.Generator, counters: dict
) -> Path:
    """Everything --resume needs: weights, AdamW's moments per parameter name, the RNG, the counters."""
    names = {id(p): n for n, p in prior.named_parameters()}
    tensors = {f"model.{k}": v for k, v in prior.state_dict().items()}
    for group in optim.param_groups:
        for p in group["params"]:
            st = optim.state.get(p, {})
            for key in ("exp_avg", "exp_avg_sq", "step"):
                if key in st:
                    tensors[f"adam.{names[id(p)]}.{key}"] = torch.as_tensor(st[key], dtype=torch.float32)
    tensors["rng"] = gen.get_state()
    return write_tensors(out / STATE, tensors, {"counters": json.dumps(counters), "format": "1"})


def load_prior_state(
    run_dir: str | Path, prior: PriorBase, optim: torch.optim.Optimizer, gen: torch.Generator
) -> dict[str, Any]:
    """Restore what ``save_prior_state`` wrote into ``prior``, ``optim`` and ``gen``; returns the counters."""
    path = prior_dir(run_dir) / STATE
    tensors, meta = read_tensors(path)
    weights = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    check_fits(weights, prior, path)  # every tensor checked before PyTorch touches it
    check_rng(tensors.get("rng", torch.empty(0)), gen, path)
    try:
        counters = json.loads(meta["counters"])
    except (*MALFORMED, TypeError) as e:
        raise RunError(f"{path}: cannot be restored ({first_line(e)}); start anew with --overwrite") from None
    if not isinstance(counters, dict) or not all(type(counters.get(k)) is int for k in ("epoch", "step")):
        raise RunError(f"{path}: counters must hold epoch and step; start anew with --overwrite")
    moments: dict[str, dict[str, torch.Tensor]] = {}  # checked first, loaded after the weights
    for name, p in prior.named_parameters():
        if f"adam.{name}.step" not in tensors:
            continue  # a parameter that never had a gradient has no state
        step, m, v = (
            tensors[f"adam.{name}.step"],
            tensors.get(f"adam.{name}.exp_avg"),
            tensors.get(f"adam.{name}.exp_avg_sq"),
        )
        if m is None or v is None or step.numel() != 1 or m.shape != p.shape or v.shape != p.shape:
            raise RunError(f"{path}: the AdamW state of {name} does not fit; start anew with --overwrite")
        moments[name] = {"step": step.reshape(()), "exp_avg": m.to(p.device), "exp_avg_sq": v.to(p.device)}
    prior.load_state_dict(weights)
    for name, p in prior.named_parameters():
        if name in moments:
            optim.state[p] = moments[name]
    gen.set_state(tensors["rng"])
    return counters


def load_prior(run_dir: str | Path, device: str | torch.device = "cpu") -> PriorBase:
    """The run's trained token prior, in eval mode; a one-line RunError when there is none or it is damaged."""
    cfg, _ = read_prior_config(run_dir)
    path = prior_dir(run_dir) / MODEL
    if not path.is_file():
        raise RunError(f"{Path(run_dir)} has no trained token prior yet; run `vaekit prior {run_dir}`")
    tensors, _ = read_tensors(path)
    prior = build_prior(cfg)
    check_fits(tensors, prior, path)
    prior.load_state_dict(tensors)
    return prior.to(device).eval()
