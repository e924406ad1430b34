"""`vaekit train` and `vaekit sweep`: flags -> a RunConfig -> ``training.train`` / ``training.sweep.sweep``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .parser import RESUME_MAY_CHANGE, TRAIN_FLAGS


def _default_run_dir(prefix: str) -> Path:
    return Path("runs") / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"


def build_train_config(args: argparse.Namespace):
    """Defaults <- preset <- config file <- command-line flags. On --resume, the run's own config.json."""
    from ..config import ModelConfig, RunConfig, load_toml, update
    from ..models import preset_config

    overrides: dict[str, dict[str, Any]] = {}
    for flag, (section, key) in TRAIN_FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            overrides.setdefault(section, {})[key] = value
    if args.resume:
        if not args.out:
            raise ConfigError("--resume needs --out RUN_DIR (the run to continue)")
        from ..runs.checkpoint import read_config

        cfg = read_config(Path(args.out))
        changed = [f"{s}.{k}" for s, kv in overrides.items() for k in kv if (s, k) not in RESUME_MAY_CHANGE]
        changed += ["model.dead_code_restart"] if args.dead_code_restart is not None else []
        if changed or args.config or args.preset:
            raise ConfigError(
                "--resume continues a run as configured; only --epochs, --max-steps and the speed switches "
                f"(--precision, --step, --graph, --device) may change (got {changed or 'a config'})"
            )
        return update(cfg, overrides, "command line")
    if args.dead_code_restart is not None:
        overrides.setdefault("model", {})["dead_code_restart"] = args.dead_code_restart == "on"
    file_cfg = load_toml(args.config) if args.config else {}
    kind = args.model or file_cfg.get("model", {}).get("kind", "gaussian")
    if kind == "gaussian":
        cfg = RunConfig(model=preset_config(args.preset or file_cfg.get("model", {}).get("preset", "classic")))
    else:
        if args.preset:
            raise ConfigError(f"--preset names Gaussian VAE architectures; --model {kind} has its own")
        cfg = RunConfig(model=ModelConfig(kind=kind, preset=kind))
    update(cfg, file_cfg, args.config or "config")
    if kind == "fsq" and args.codebook_size and not args.levels:
        from ..quantizers import levels_for

        overrides["model"]["levels"] = levels_for(args.codebook_size)
    update(cfg, overrides, "command line")
    return cfg.validate()


def cmd_train(args: argparse.Namespace) -> int:
    from ..training.loop import train

    cfg = build_train_config(args)
    dataset_tag = Path(cfg.data.dataset).stem.replace("_", "-")
    run_dir = Path(args.out) if args.out else _default_run_dir(f"{cfg.model.preset}-{dataset_tag}")
    result = train(cfg, run_dir, resume=args.resume, overwrite=args.overwrite, progress=not args.quiet)
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
    if cfg.model.kind == "gaussian":
        print(
            f"test loss {s['loss']:.2f} nats (recon {s['recon']:.2f}, KL {s['kl']:.2f}), "
            f"active units {s['active_units']}/{cfg.model.latent_dim}, {s['params']:,} parameters, {timing}"
        )
    else:
        print(
            f"test recon {s['recon']:.2f} nats, mse {s['mse']:.4f}, codebook usage {s['codebook_usage']:.3f} "
            f"(perplexity {s['perplexity']:.1f}, {s['dead_codes']} dead), {s['params']:,} parameters, {timing}"
        )
    print(f"run directory: {run_dir}")
    return 0


def _numbers(text: str, kind: type, flag: str) -> list:
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{flag} takes a comma list of numbers, got {text!r}") from None
    if not values:
        raise ConfigError(f"{flag} needs at least one value")
    return values


_SWEEP_RESUME_FLAGS = {"command", "resume", "out", "epochs", "quiet", "seeds"}


def cmd_sweep(args: argparse.Namespace) -> int:
    from ..training.sweep import markdown_table, resume_sweep, sweep

    if args.beta is not None or args.seed is not None:
        raise ConfigError("a sweep takes --betas and --seeds (comma lists) instead of --beta and --seed")
    if args.resume:
        given = [f for f, v in vars(args).items() if v not in (None, False) and f not in _SWEEP_RESUME_FLAGS]
        if not args.out or args.betas or args.seeds != "0" or given:
            raise ConfigError("--resume continues a sweep as planned: give --out DIR and, at most, --epochs")
        result = resume_sweep(args.out, args.epochs, progress=not args.quiet)
    else:
        if not args.betas:
            raise ConfigError("a sweep needs --betas, e.g. --betas 0.5,1,2,4")
        betas, seeds = _numbers(args.betas, float, "--betas"), _numbers(args.seeds, int, "--seeds")
        cfg = build_train_config(args)
        dataset_tag = Path(cfg.data.dataset).stem.replace("_", "-")
        out = Path(args.out) if args.out else _default_run_dir(f"sweep-{cfg.model.preset}-{dataset_tag}")
        result = sweep(cfg, betas, seeds, out, overwrite=args.overwrite, progress=not args.quiet)
    print(markdown_table(result))
    per_epoch = f"{result.seconds_per_epoch:.2f} s per epoch for all of them"
    print(f"{len(result.rows)} models, {per_epoch}; runs in {result.out_dir}")
    return 0
