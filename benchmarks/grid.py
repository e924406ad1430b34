"""Measure the grid tokenizers: VQ (with and without dead-code restarts, with an EMA codebook), FSQ and
multi-group VQ on MNIST in the earlier plain layout (3 epochs), and FSQ and VQ on emoji at f = 4 and f = 8 (40
epochs); write docs/data/grid-mnist.json and docs/data/grid-emoji.json.

    python benchmarks/grid.py --runs DIR [--only mnist|emoji]

A row's run is trained into DIR/NAME unless DIR/NAME already holds a finished run, then evaluated on its test
split (`vaekit evaluate --json`). `python benchmarks/tables.py` writes the tables in docs/tokenizers.md from the
JSON. About 25 minutes on 2 cores of an Intel Xeon with AMX.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import machine, run_record, train_once

from vaekit.analysis.evaluate import evaluate_run

PLAIN = ["--dataset", "mnist", "--net", "plain", "--epochs", "3"]
EMOJI = ["--dataset", "emoji", "--epochs", "40"]
# set -> name -> (what it is, `vaekit train` arguments)
SETS: dict[str, dict[str, tuple[str, list[str]]]] = {
    "mnist": {
        "vq": ("vq, dead-code restart (default)", ["--model", "vq", *PLAIN]),
        "vq-norestart": ("vq, `--dead-code-restart off`", ["--model", "vq", "--dead-code-restart", "off", *PLAIN]),
        "fsq": ("fsq, levels 8,5,5,5", ["--model", "fsq", *PLAIN]),
        "mgvq": ("mgvq, 2 groups", ["--model", "mgvq", *PLAIN]),
        "vq-ema": ("vq, `--codebook-update ema`", ["--model", "vq", "--codebook-update", "ema", *PLAIN]),
    },
    "emoji": {
        "fsq-f4": ("fsq, levels 8,5,5,5", ["--model", "fsq", *EMOJI]),
        "vq-f4": ("vq, 512 x 64-dim", ["--model", "vq", *EMOJI]),
        "fsq-f8": ("fsq, levels 8,5,5,5", ["--model", "fsq", "--downsample", "8", *EMOJI]),
        "vq-f8": ("vq, 512 x 64-dim", ["--model", "vq", "--downsample", "8", *EMOJI]),
    },
}


def measure(runs: Path, name: str, what: str, args: list[str]) -> dict:
    run = runs / name
    train_once(run, args)
    return run_record(run, what, args) | {"evaluate": evaluate_run(run)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", required=True, help="folder of the runs (kept, reused when finished)")
    p.add_argument("--only", choices=sorted(SETS), help="one set of rows")
    args = p.parse_args()
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    for name, rows in SETS.items():
        if args.only and name != args.only:
            continue
        data = {n: measure(runs, n, what, targs) for n, (what, targs) in rows.items()}
        out = Path("docs/data") / f"grid-{name}.json"
        out.write_text(json.dumps({"rows": data, "machine": machine()}, indent=1) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
