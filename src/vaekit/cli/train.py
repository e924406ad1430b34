"""`vaekit train` and `vaekit sweep`: flags -> a RunConfig -> ``training.train`` / ``training.sweep.sweep``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from ..config import GaussianConfig, RunConfig
from ..errors import ConfigError
from .parser import resume_may_change, run_flags, settings_from


def _default_run_dir(prefix: str) -> Path:
    return Path("runs") / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"


def build_train_config(args: argparse.Namespace) -> RunConfig:
    """Defaults <- preset <- config file <- command-line flags, checked before any work. On --resume, the run's own
    config.json, with only what a resume may change."""
    from ..config import load_toml, model_config, preset_config, update

    overrides: dict[str, dict[str, Any]] = {}
    for flag, (section, key) in run_flags().items():
        value = getattr(args, flag)
        if value is not None:
            overrides.setdefault(section, {})[key] = value
    model = overrides.get("model", {})
    preset = model.pop("preset", None)
    if args.resume:
        if not args.out:
            raise ConfigError("--resume needs --out RUN_DIR (the run to continue)")
        changed = [f"{s}.{k}" for s, kv in overrides.items() for k in kv if (s, k) not in resume_may_change()]
        if changed or args.config or preset:
            raise ConfigError(
                "--resume continues a run as configured; only --epochs, --max-steps and the speed switches "
                f"(--precision, --step, --graph, --device) may change (got {changed or 'a config'})"
            )
        from ..runs.checkpoint import read_config

        cfg = update(read_config(Path(args.out)), overrides, "command line")
        return cfg.validate()
    file_cfg = load_toml(args.config) if args.config else {}
    file_model = file_cfg.get("model", {}) if isinstance(file_cfg.get("model"), dict) else {}
    kind = model.get("kind") or file_model.get("kind", "gaussian")
    cfg = RunConfig(model=model_config(kind))
    if kind == "gaussian":
        cfg.model = preset_config(preset or file_model.get("preset", "classic"))
    elif preset:
        raise ConfigError(f"--preset names Gaussian VAE architectures; --model {kind} has its own")
    update(cfg, file_cfg, args.config or "config")
    if kind == "fsq" and "codebook_size" in model and "levels" not in model:
        from ..config.fields import coerce
        from ..config.tokenizer import levels_for

        model["levels"] = levels_for(coerce("model.codebook_size", model["codebook_size"], 0))
    update(cfg, overrides, "command line")
    return cfg.validate()


def cmd_train(args: argparse.Namespace) -> int:
    cfg = build_train_config(args)  # checked before PyTorch is imported

    from ..training.loop import train

    dataset_tag = Path(cfg.data.dataset).stem.replace("_", "-")
    run_dir = Path(args.out) if args.out else _default_run_dir(f"{cfg.model.preset}-{dataset_tag}")
    sinks = []
    if args.tensorboard:  # training knows nothing of TensorBoard: the sink subscribes to its events
        from ..analysis.tensorboard import TensorBoardSink

        sinks.append(TensorBoardSink(run_dir / "tensorboard"))
    result = train(cfg, run_dir, resume=args.resume, overwrite=args.overwrite, progress=not args.quiet, sinks=sinks)
    s = result.summary
    if not s:  # a data-parallel worker other than rank 0: rank 0 reports
        return 0
    if not args.no_report:  # training builds no report; the CLI does, from the finished run
        from ..analysis.report import build_report
        from ..runs.open import open_run

        path = build_report(open_run(run_dir, result.model_device.type))
        if not args.quiet:
            print(f"report: {path}", file=sys.stderr)
    eng = s["engine"]
    timing = f"trained {s['train_seconds']:.1f} s ({eng['precision']}, {eng['optimizer']})"
    if isinstance(cfg.model, GaussianConfig):
        print(
            f"test loss {s['loss']:.2f} nats (recon {s['recon']:.2f}, KL {s['kl']:.2f}), "
            f"active units {s['active_units']}/{cfg.model.latent_dim}, {s['params']:,} parameters, {timing}"
        )
    elif "codebook_usage" in s:
        print(
            f"test recon {s['recon']:.2f} nats, mse {s['mse']:.4f}, codebook usage {s['codebook_usage']:.3f} "
            f"(perplexity {s['perplexity']:.1f}, {s['dead_codes']} dead), {s['params']:,} parameters, {timing}"
        )
    else:  # a continuous latent (the video VAE): its quant is the KL
        print(
            f"test loss {s['loss']:.2f} nats (recon {s['recon']:.2f}, KL {s['quant']:.2f}), mse {s['mse']:.4f}, "
            f"{s['params']:,} parameters, {timing}"
        )
    print(f"run directory: {run_dir}")
    return 0


_SWEEP_RESUME_FLAGS = {"command", "resume", "out", "epochs", "quiet", "betas", "seeds"}


def cmd_sweep(args: argparse.Namespace) -> int:
    from ..training.sweep import markdown_table, resume_sweep, sweep

    if args.beta is not None or args.seed is not None:
        raise ConfigError("a sweep takes --betas and --seeds (comma lists) instead of --beta and --seed")
    if args.resume:
        given = [f for f, v in vars(args).items() if v not in (None, False) and f not in _SWEEP_RESUME_FLAGS]
        if not args.out or args.betas or args.seeds != (0,) or given:
            raise ConfigError("--resume continues a sweep as planned: give --out DIR and, at most, --epochs")
        from ..config import TrainConfig

        epochs = settings_from(args, TrainConfig, "train").epochs if args.epochs is not None else None
        result = resume_sweep(args.out, epochs, progress=not args.quiet)
    else:
        if not args.betas:
            raise ConfigError("a sweep needs --betas, e.g. --betas 0.5,1,2,4")
        betas, seeds = list(args.betas), list(args.seeds)
        cfg = build_train_config(args)
        dataset_tag = Path(cfg.data.dataset).stem.replace("_", "-")
        out = Path(args.out) if args.out else _default_run_dir(f"sweep-{cfg.model.preset}-{dataset_tag}")
        result = sweep(cfg, betas, seeds, out, overwrite=args.overwrite, progress=not args.quiet)
    print(markdown_table(result))
    per_epoch = f"{result.seconds_per_epoch:.2f} s per epoch for all of them"
    print(f"{len(result.rows)} models, {per_epoch}; runs in {result.out_dir}")
    return 0
