"""Measure 1-D tokens on emoji: TiTok at K = 64 (plain and nested, each with a token prior) and K = 32, against a
conv Gaussian VAE; write what was measured to docs/data/tokens1d-emoji.json.

    python benchmarks/tokens1d.py --runs DIR [--out docs/data/tokens1d-emoji.json]

A row's run is trained into DIR/NAME unless DIR/NAME already holds a finished run; its prior likewise. Each row
is evaluated on the emoji test split (379 images): PSNR, SSIM, codebook usage, the prior's NLL, fid of 379
samples against the test set, and for the nested run the lengths chosen per image (1 dB below full length).
The evaluation is kept as DIR/NAME.eval.json and reused while the run is unchanged. `python
benchmarks/tables.py` writes the table in docs/tokenizers.md from the JSON. About 90 minutes on 2 cores of an
Intel Xeon with AMX.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import machine, run_record, train_once

from vaekit.analysis.evaluate import evaluate_run
from vaekit.cli import main as vaekit

TITOK = ["--model", "titok", "--dataset", "emoji", "--batch-size", "64", "--epochs", "70"]
# name -> (what it is, `vaekit train` arguments, a token prior or not); fid for every row that can sample (a
# prior, or the Gaussian VAE)
ROWS: dict[str, tuple[str, list[str], bool]] = {
    "k64n": ("TiTok K = 64, `--nested-dropout`", [*TITOK, "--tokens", "64", "--nested-dropout"], True),
    "k64": ("TiTok K = 64", [*TITOK, "--tokens", "64"], True),
    "k32": ("TiTok K = 32", [*TITOK, "--tokens", "32"], False),
    "convvae": ("conv Gaussian VAE (resnet layout), 10 epochs",
                ["--model", "gaussian", "--preset", "conv", "--dataset", "emoji", "--epochs", "10"], False),
}  # fmt: skip
SAMPLES = 379  # fid against the whole test split


def _fresh(path: Path, run: Path) -> bool:
    return path.is_file() and path.stat().st_mtime >= (run / "model.safetensors").stat().st_mtime


def measure(runs: Path, name: str) -> dict:
    what, args, prior = ROWS[name]
    run = runs / name
    train_once(run, args)
    if prior and not (run / "prior" / "model.safetensors").is_file():
        assert vaekit(["prior", str(run), "--epochs", "10", "--quiet", "--no-report", "--overwrite"]) == 0
    timing = runs / f"{name}.sampletime.json"
    if prior and not _fresh(timing, run):
        start = time.perf_counter()
        assert vaekit(["sample", str(run), "-n", "64", "--out", str(runs / f"{name}-samples.png"), "--overwrite"]) == 0
        timing.write_text(json.dumps({"sample_64_seconds": time.perf_counter() - start}))
    cached = runs / f"{name}.eval.json"
    if _fresh(cached, run) and cached.stat().st_size:
        metrics = json.loads(cached.read_text())
    else:
        metrics = evaluate_run(run, samples=SAMPLES if prior or name == "convvae" else 0)
        cached.write_text(json.dumps(metrics))
    row = run_record(run, what, args) | {"evaluate": metrics}
    if prior:
        row |= json.loads(timing.read_text())
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", required=True, help="folder of the runs (kept, reused when finished)")
    p.add_argument("--out", default="docs/data/tokens1d-emoji.json")
    args = p.parse_args()
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    rows = {name: measure(runs, name) for name in ROWS}
    out = Path(args.out)
    out.write_text(json.dumps({"rows": rows, "machine": machine()}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
