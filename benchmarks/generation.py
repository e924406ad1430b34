"""Measure generation on MNIST or Fashion-MNIST: the Gaussian VAEs' N(0, I) samples against the grid tokenizers'
token-prior samples (VQ, FSQ, multi-group VQ in the plain layout, 3 epochs, each with a 5-epoch prior), by the
likelihood bound, fid of 2,000 samples and the reference classifier's labels of them; write
docs/data/generation-DATASET.json and the sample grids docs/samples-*.png, docs/prior-samples-*.png.

    python benchmarks/generation.py --runs DIR [--dataset mnist|fashion-mnist] [--only ROW,ROW] [--smoke DATA.npz]

A row's run is trained into DIR/NAME unless DIR/NAME already holds a finished run (the grid tokenizers are the runs
benchmarks/grid.py trains, so DIR may be the same folder); its prior likewise. `python benchmarks/tables.py` writes
the tables in docs/tokenizers.md from the JSON. About 45 minutes per dataset on 2 cores of an Intel Xeon with AMX.
``--only`` measures some rows and keeps the JSON's others (it is read again just before writing, so two processes
can measure different rows side by side). ``--smoke DATA.npz``: every step at a test's size on that data (1 epoch, 1
prior epoch, 100 samples), written under DIR only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import chosen_rows, prior_once, run_record, train_once, with_epochs, write_rows

from vaekit.analysis.evaluate import evaluate_run
from vaekit.cli import main as vaekit

PLAIN = ["--net", "plain", "--epochs", "3"]
# name -> (what it is, `vaekit train` arguments, a token prior or not)
ROWS: dict[str, tuple[str, list[str], bool]] = {
    "classic": ("classic Gaussian VAE, 10 epochs", ["--model", "gaussian", "--preset", "classic", "--epochs", "10"],
                False),
    "conv": ("conv Gaussian VAE (resnet layout), 10 epochs", ["--model", "gaussian", "--preset", "conv", "--epochs",
                                                              "10"], False),
    "vq": ("vq 512 codes, 7x7 tokens, 3 epochs + prior 5 epochs", ["--model", "vq", *PLAIN], True),
    "fsq": ("fsq 8,5,5,5 (1,000 codes), 7x7 tokens, 3 epochs + prior 5 epochs", ["--model", "fsq", *PLAIN], True),
    "mgvq": ("mgvq 2 x 512 codes, 7x7x2 tokens, 3 epochs + prior 5 epochs", ["--model", "mgvq", *PLAIN], True),
}  # fmt: skip
SAMPLES = 2000
PRIOR_EPOCHS = 5


def measure(runs: Path, name: str, dataset: str, smoke: bool, images: Path | None) -> dict:
    what, args, prior = ROWS[name]
    args = [*(with_epochs(args, 1) if smoke else args), "--dataset", dataset]
    run = runs / name
    train_once(run, args)
    if prior:
        prior_once(run, 1 if smoke else PRIOR_EPOCHS)
    row = run_record(run, what, args) | {"evaluate": evaluate_run(run, samples=100 if smoke else SAMPLES)}
    if images is not None:
        assert vaekit(["sample", str(run), "-n", "64", "--out", str(images), "--overwrite"]) == 0
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", required=True, help="folder of the runs (kept, reused when finished)")
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    p.add_argument("--only", help=f"rows to measure, of {', '.join(ROWS)} (default: all); the JSON keeps the others")
    p.add_argument("--smoke", help="an .npz: every step at a test's size, written under --runs only")
    args = p.parse_args()
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    tag = {"mnist": "mnist", "fashion-mnist": "fmnist"}[args.dataset]
    docs = runs if args.smoke else Path("docs")
    names = chosen_rows(p, args.only, ROWS)
    rows = {}
    for name in names:
        prior = ROWS[name][2]
        picture = docs / (f"prior-samples-{name}-{tag}.png" if prior else f"samples-{name}-{tag}.png")
        rows[name] = measure(runs, name, args.smoke or args.dataset, bool(args.smoke), picture)
    out = (runs if args.smoke else docs / "data") / f"generation-{tag}.json"
    write_rows(out, rows, ROWS, dataset=args.dataset)


if __name__ == "__main__":
    main()
