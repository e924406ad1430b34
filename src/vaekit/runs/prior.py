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
from ..models.prior import TokenPrior
from .checkpoint import MALFORMED, read_tensors, write_tensors

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
        prior = from_table(PriorConfig, data["prior"], "prior").validate()
        return prior, from_table(PriorTrainConfig, data["train"], "prior").validate()
    except (*MALFORMED, ConfigError) as e:
        raise RunError(f"{path}: not a vaekit prior config ({first_line(e)}); retrain with --overwrite") from None


def save_prior(out: Path, prior: TokenPrior) -> Path:
    """Write the weights into the prior's folder ``out`` (``RUN/prior``, or where a new prior is staged)."""
    return write_tensors(out / MODEL, prior.state_dict(), {"format": "1"})


def save_prior_state(
    out: Path, prior: TokenPrior, optim: torch.optim.Optimizer, gen: torch.Generator, counters: dict
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
    run_dir: str | Path, prior: TokenPrior, optim: torch.optim.Optimizer, gen: torch.Generator
) -> dict[str, Any]:
    """Restore what ``save_prior_state`` wrote into ``prior``, ``optim`` and ``gen``; returns the counters."""
    path = prior_dir(run_dir) / STATE
    tensors, meta = read_tensors(path)
    try:
        counters = json.loads(meta["counters"])
        prior.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        device = next(prior.parameters()).device
        for name, p in prior.named_parameters():
            if f"adam.{name}.step" in tensors:
                optim.state[p] = {
                    "step": tensors[f"adam.{name}.step"].reshape(()),
                    "exp_avg": tensors[f"adam.{name}.exp_avg"].to(device),
                    "exp_avg_sq": tensors[f"adam.{name}.exp_avg_sq"].to(device),
                }
        gen.set_state(tensors["rng"])
        if not all(type(counters.get(k)) is int for k in ("epoch", "step")):
            raise RunError(f"{path}: counters must hold epoch and step; start anew with --overwrite")
    except MALFORMED as e:
        raise RunError(f"{path}: cannot be restored ({first_line(e)}); start anew with --overwrite") from None
    return counters


def load_prior(run_dir: str | Path, device: str | torch.device = "cpu") -> TokenPrior:
    """The run's trained token prior, in eval mode; a one-line RunError when there is none or it is damaged."""
    cfg, _ = read_prior_config(run_dir)
    path = prior_dir(run_dir) / MODEL
    if not path.is_file():
        raise RunError(f"{Path(run_dir)} has no trained token prior yet; run `vaekit prior {run_dir}`")
    tensors, _ = read_tensors(path)
    prior = TokenPrior(cfg)
    try:
        prior.load_state_dict(tensors)
    except MALFORMED as e:
        raise RunError(f"{path}: does not fit its config ({first_line(e)}); retrain with --overwrite") from None
    return prior.to(device).eval()
