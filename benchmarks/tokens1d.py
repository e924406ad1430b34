"""Measure 1-D tokens on emoji or MNIST: TiTok at K = 64 (plain and nested, each with a token prior), 32 and 16,
against a conv Gaussian VAE; write what was measured to docs/data/tokens1d-DATASET.json.

    python benchmarks/tokens1d.py --runs DIR [--dataset emoji|mnist] [--only ROW,ROW] [--out JSON]

A row's run is trained into DIR/NAME unless DIR/NAME already holds a finished run; its prior likewise. Each row
is evaluated on the test split: PSNR, SSIM, codebook usage, the prior's NLL, fid of samples against the test set
(emoji: 379, the whole test split; MNIST: 2,000), and for the nested run the lengths chosen per image (1 dB below
full length). The evaluation is kept as DIR/NAME.eval.json and reused while the run is unchanged. `python
benchmarks/tables.py` writes the tables in docs/tokenizers.md from the JSON; the K = 64 prior's samples and the
nested run's PSNR per prefix go to docs/prior-samples-titok-DATASET.png and docs/prefix-psnr-titok-DATASET.png.
Emoji: about an hour on 2 cores of an Intel Xeon with AMX. MNIST (patch 4: 7 x 7 patches; 5 epochs of 60,000
images for every TiTok and each prior): about three core-hours on an AMD EPYC Zen 3 in fp32, so split the rows over
two processes with --only.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from common import chosen_rows, prior_once, run_record, train_once, with_epochs, write_rows

from vaekit.analysis.evaluate import evaluate_run
from vaekit.cli import main as vaekit
from vaekit.evaluation.lengths import prefix_chart


def _rows(titok: list[str], k32_epochs: str, conv: list[str]) -> dict[str, tuple[str, list[str], bool]]:
    """name -> (what it is, `vaekit train` arguments, a token prior or not); fid for every row that can sample
    (a prior, or the Gaussian VAE). K = 32 and 16 cost less per epoch than K = 64 and train for ``k32_epochs``."""
    k32 = with_epochs(titok, k32_epochs)
    return {
        "k64n": ("TiTok K = 64, `--nested-dropout`", [*titok, "--tokens", "64", "--nested-dropout"], True),
        "k64": ("TiTok K = 64", [*titok, "--tokens", "64"], True),
        "k32": (f"TiTok K = 32, {k32_epochs} epochs", [*k32, "--tokens", "32"], False),
        "k16": (f"TiTok K = 16, {k32_epochs} epochs", [*k32, "--tokens", "16"], False),
        "convvae": ("conv Gaussian VAE (resnet layout), 10 epochs",
                    ["--model", "gaussian", "--preset", "conv", *conv, "--epochs", "10"], False),
    }  # fmt: skip


# dataset -> (rows, fid samples, prior epochs)
DATASETS: dict[str, tuple[dict[str, tuple[str, list[str], bool]], int, int]] = {
    "emoji": (_rows(["--model", "titok", "--dataset", "emoji", "--batch-size", "64", "--epochs", "90"], "100",
                    ["--dataset", "emoji"]), 379, 10),
    "mnist": (_rows(["--model", "titok", "--dataset", "mnist", "--patch", "4", "--epochs", "5"], "5",
                    ["--dataset", "mnist"]), 2000, 5),
}  # fmt: skip


def _fresh(path: Path, run: Path) -> bool:
    return path.is_file() and path.stat().st_mtime >= (run / "model.safetensors").stat().st_mtime


def measure(runs: Path, name: str, dataset: str) -> dict:
    rows, samples, prior_epochs = DATASETS[dataset]
    what, args, prior = rows[name]
    run = runs / name
    train_once(run, args)
    if prior:
        prior_once(run, prior_epochs)
    timing = runs / f"{name}.sampletime.json"
    if prior and not _fresh(timing, run):
        start = time.perf_counter()
        assert vaekit(["sample", str(run), "-n", "64", "--out", str(runs / f"{name}-samples.png"), "--overwrite"]) == 0
        timing.write_text(json.dumps({"sample_64_seconds": time.perf_counter() - start}))
    cached = runs / f"{name}.eval.json"
    if _fresh(cached, run) and cached.stat().st_size:
        metrics = json.loads(cached.read_text())
    else:
        metrics = evaluate_run(run, samples=samples if prior or name == "convvae" else 0)
        cached.write_text(json.dumps(metrics))
    row = run_record(run, what, args) | {"evaluate": metrics}
    if prior:
        row |= json.loads(timing.read_text())
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", required=True, help="folder of the runs (kept, reused when finished)")
    p.add_argument("--dataset", default="emoji", choices=sorted(DATASETS))
    p.add_argument("--only", help="rows to measure, of k64n, k64, k32, k16, convvae (default: all); the JSON keeps "
                   "the others")  # fmt: skip
    p.add_argument("--out", help="the JSON (default docs/data/tokens1d-DATASET.json)")
    args = p.parse_args()
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    table, samples, _ = DATASETS[args.dataset]
    out = Path(args.out or f"docs/data/tokens1d-{args.dataset}.json")
    rows = {name: measure(runs, name, args.dataset) for name in chosen_rows(p, args.only, table)}
    rows = write_rows(out, rows, table, dataset=args.dataset, samples=samples)
    # the docs' pictures: the K = 64 prior's samples, and the nested run's PSNR per prefix and chosen lengths
    if (runs / "k64-samples.png").is_file():
        shutil.copyfile(runs / "k64-samples.png", f"docs/prior-samples-titok-{args.dataset}.png")
    if "adaptive" in rows.get("k64n", {}).get("evaluate", {}):
        print(prefix_chart(rows["k64n"]["evaluate"]["adaptive"], f"docs/prefix-psnr-titok-{args.dataset}.png"))


if __name__ == "__main__":
    main()
