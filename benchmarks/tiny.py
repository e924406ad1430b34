"""Choose the model of `vaekit tiny` (the lecture's mini-project: a VAE under 300,000 parameters on MNIST, at most
100 nats of test loss, trained in under 5 minutes) by measurement: train the candidates, then run the checklist
itself; write docs/data/tiny.json.

    python benchmarks/tiny.py --runs DIR [--only NAME,...]

Candidates (NAME): three MLPs under 300,000 parameters with the classic recipe for 30 epochs, the plain
conv VAE (258,025 parameters) on a cosine schedule at two learning rates and two lengths, and two narrower conv
VAEs (cheaper per epoch, for CPUs without bf16 units). A row's run is trained
into DIR/NAME unless DIR/NAME already holds a finished run; ``checklist`` is `vaekit tiny --out DIR/checklist`,
whose training time is one of the checks, so run it on an otherwise idle machine. `python benchmarks/tables.py`
writes the table in docs/results.md from the JSON. About 25 minutes on 2 cores of an Intel Xeon with AMX.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import machine, run_record, train_once

from vaekit.cli import main as vaekit
from vaekit.measure.checklist import MAX_PARAMS, MAX_TEST_LOSS, checks

MLP = ["--epochs", "30"]
CONV = ["--preset", "conv", "--net", "plain", "--lr-schedule", "cosine"]
# name -> (what it is, `vaekit train` arguments)
ROWS: dict[str, tuple[str, list[str]]] = {
    "mlp-180": ("MLP 784-180-20, Adam 1e-3, 30 epochs", ["--hidden", "180", *MLP]),
    "mlp-160-96": ("MLP 784-160-96-20, Adam 1e-3, 30 epochs", ["--hidden", "160,96", *MLP]),
    "mlp-144-128": ("MLP 784-144-128-20 (`--preset tiny`), Adam 1e-3, 30 epochs", ["--preset", "tiny", *MLP]),
    "conv-18-lr1": ("plain conv VAE, cosine from 1e-3, 18 epochs", [*CONV, "--epochs", "18"]),
    "conv-18-lr2": ("plain conv VAE, cosine from 2e-3, 18 epochs", [*CONV, "--epochs", "18", "--lr", "2e-3"]),
    "conv-15-lr2": ("plain conv VAE, cosine from 2e-3, 15 epochs", [*CONV, "--epochs", "15", "--lr", "2e-3"]),
    # narrower convolutions: the 32/64 model trains at ~23 s per epoch in fp32 on an AVX2-only AMD EPYC (no bf16)
    "conv-20-40": ("plain conv VAE 20/40 channels, cosine from 2e-3, 18 epochs",
                   [*CONV, "--conv-channels", "20,40", "--epochs", "18", "--lr", "2e-3"]),
    "conv-16-32": ("plain conv VAE 16/32 channels, cosine from 2e-3, 18 epochs",
                   [*CONV, "--conv-channels", "16,32", "--epochs", "18", "--lr", "2e-3"]),
}  # fmt: skip


def checklist(run: Path) -> dict:
    """`vaekit tiny` into RUN unless it holds a finished run; the checklist's lines and verdict."""
    if not (run / "summary.json").is_file():
        vaekit(["tiny", "--out", str(run), "--quiet", "--overwrite"])  # exits 1 when a check fails
    found = checks(json.loads((run / "summary.json").read_text()))
    return run_record(run, "`vaekit tiny`", ["tiny"]) | {
        "lines": [c.line() for c in found],
        "passed": all(c.passed for c in found),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", required=True, help="folder of the runs (kept, reused when finished)")
    p.add_argument("--only", default=",".join([*ROWS, "checklist"]), help="candidates to train, and checklist")
    p.add_argument("--out", default="docs/data/tiny.json")
    args = p.parse_args()
    runs, out = Path(args.runs), Path(args.out)
    runs.mkdir(parents=True, exist_ok=True)
    data = json.loads(out.read_text()) if out.is_file() else {"rows": {}}
    for name in args.only.split(","):
        if name == "checklist":
            data["checklist"] = checklist(runs / name)
            continue
        what, targs = ROWS[name]
        train_once(runs / name, targs)
        data["rows"][name] = run_record(runs / name, what, targs)
    data["rows"] = {name: data["rows"][name] for name in ROWS if name in data["rows"]}  # the table's order
    data["limits"] = {"params": MAX_PARAMS, "loss": MAX_TEST_LOSS}
    data["machine"] = machine()
    out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
