"""Measure multi-group VQ as the MGVQ paper builds it, on emoji: the lecture's groups of 16, 64 and 256 codes and
equal groups of 64, each nested (coarse to fine) and not, beside one FSQ codebook of the same 18 bits per token
(8^6 = 262,144 codes; plain VQ with that many codes is out of reach on a CPU); write
docs/data/mgvq-emoji.json and docs/mgvq-groups-emoji.png.

    python benchmarks/mgvq.py --runs DIR

A row's run is trained into DIR/NAME unless DIR/NAME already holds a finished run, then scored on the test
split decoded from the first k groups, k = 1 ... G (`vaekit evaluate --json`). `python benchmarks/tables.py`
writes the table in docs/tokenizers.md from the JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from common import machine, train_once

from vaekit.analysis.evaluate import evaluate_run
from vaekit.plots import save_grid
from vaekit.runs.open import open_run

COMMON = ["--dataset", "emoji", "--epochs", "25", "--code-dim", "48"]
NESTED = ["--nested-groups", "--finetune-epochs", "5"]
ROWS: dict[str, tuple[str, list[str]]] = {
    "lecture-nested": ("mgvq 16, 64, 256, nested", ["--model", "mgvq", "--group-codes", "16,64,256", *NESTED]),
    "lecture": ("mgvq 16, 64, 256", ["--model", "mgvq", "--group-codes", "16,64,256"]),
    "equal-nested": ("mgvq 64, 64, 64, nested", ["--model", "mgvq", "--group-codes", "64,64,64", *NESTED]),
    "equal": ("mgvq 64, 64, 64", ["--model", "mgvq", "--group-codes", "64,64,64"]),
    "fsq18": ("fsq 8,8,8,8,8,8 (one codebook, 18 bits)", ["--model", "fsq", "--levels", "8,8,8,8,8,8"]),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", required=True, help="folder of the runs (kept, reused when finished)")
    p.add_argument("--out", default="docs/data/mgvq-emoji.json")
    args = p.parse_args()
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    rows = {}
    for name, (what, targs) in ROWS.items():
        run = runs / name
        full = [*targs, *COMMON]
        train_once(run, full)
        rows[name] = {
            "model": what,
            "args": full,
            "config": json.loads((run / "config.json").read_text()),
            "summary": json.loads((run / "summary.json").read_text()),
            "evaluate": evaluate_run(run),
        }
    out = Path(args.out)
    out.write_text(json.dumps({"rows": rows, "machine": machine()}, indent=1) + "\n")
    print(f"wrote {out}")
    # the nested lecture run's first 8 test images decoded from 1, 2 and 3 groups, beside the non-nested run's
    strips = []
    for name in ("lecture-nested", "lecture"):
        run = open_run(runs / name, "cpu")
        x = run.x_test[:8]
        strips += [run.tokenizer.reconstruct(x, k) for k in (1, 2, 3)]
    images = torch.cat([x.reshape(8, *run.image_shape), *strips]).cpu().numpy()
    print(save_grid(images, "docs/mgvq-groups-emoji.png", ncol=8))


if __name__ == "__main__":
    main()
