"""`vaekit bench`, `vaekit tiny` and `vaekit study`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .._io import refuse_to_replace
from ..errors import ConfigError
from .train import _default_run_dir


def cmd_bench(args: argparse.Namespace) -> int:
    from ..measure.compare import bench, markdown_table, race, race_table, write_json

    variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
    if args.plot and not args.plot.lower().endswith(".png"):
        raise ConfigError(f"--plot {args.plot}: expected a .png file name")
    refuse_to_replace([Path(p) for p in (args.json_out, args.plot) if p], args.overwrite)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    if args.to_loss is not None:
        report = race(args.to_loss, variants, args.device, args.dataset, args.eval_every, args.max_epochs, log=log)
        print(race_table(report))
    else:
        report = bench(args.epochs, variants, args.device, args.dataset, log=log)
        print(markdown_table(report))
    if args.json_out:
        print(f"wrote {write_json(report, args.json_out)}", file=sys.stderr)
    if args.plot:
        from ..measure.compare import bench_chart, race_chart

        chart = race_chart if args.to_loss is not None else bench_chart
        print(f"wrote {chart(report, args.plot)}", file=sys.stderr)
    return 0


def cmd_tiny(args: argparse.Namespace) -> int:
    from ..measure.checklist import TINY_EPOCHS, tiny_checklist

    run_dir = Path(args.out) if args.out else _default_run_dir("tiny-mnist")
    checks = tiny_checklist(
        run_dir,
        epochs=args.epochs or TINY_EPOCHS,
        overwrite=args.overwrite,
        progress=not args.quiet,
        data_dir=args.data_dir,
    )
    for c in checks:
        print(c.line())
    print(f"run directory: {run_dir}")
    return 0 if all(c.passed for c in checks) else 1


# verbs that open a finished run and write files into it (cmd_explore)


_STUDY_FLAGS = ("epochs", "seeds", "dataset", "data_dir", "iw_samples", "iw_images", "precision", "device")


def cmd_study(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from ..measure.study import QUICK, StudyConfig, study_collapse

    given: dict[str, Any] = {k: getattr(args, k) for k in _STUDY_FLAGS if getattr(args, k) is not None}
    if args.resume and (given or args.quick):
        raise ConfigError("--resume continues the study as planned; drop the other settings (or use --overwrite)")
    cfg = replace(StudyConfig(), **(QUICK if args.quick else {}))
    cfg = replace(cfg, **given)
    tag = Path(cfg.dataset).stem if cfg.dataset else "data"
    out = Path(args.out) if args.out else Path("runs") / f"study-collapse-{tag}{'-quick' if args.quick else ''}"
    result = study_collapse(cfg, out, resume=args.resume, overwrite=args.overwrite, progress=not args.quiet)
    print(result.table)
    print(f"wrote {out / 'study.json'}, {out / 'study.md'}, {out / 'study.png'}", file=sys.stderr)
    return 0
