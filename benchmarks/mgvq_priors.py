"""Token priors of both kinds on finished multi-group runs: one step per token (a sequence of h w G tokens, the
default) against one step per grid position (`vaekit prior --group-layers N`); test NLL by epoch, fid of their
samples and seconds per epoch. Writes docs/data/mgvq-priors-DATASET.json, and 32 samples of the nested 50-epoch
run's prior of one step per position to docs/prior-samples-mgvq-nested-DATASET.png when it measures that one.

    python benchmarks/mgvq_priors.py --runs DIR [--dataset emoji|mnist] --only ROW,ROW [--group-layers 0,1]
        [--epochs 8] [--sample-sets 3]

DIR holds the runs of `benchmarks/mgvq.py --runs DIR` (ROW names one of its rows; a missing run is trained here
the same way). A run holds one prior, so each prior is fitted in DIR/priors/ROW-layersN, a folder of hard links
to the run's files, and kept and resumed like the runs: a prior that has N epochs already is scored again, not
refitted. The fid is taken over 3 sets of samples (seeds 0, 1, 2): a few hundred samples give a noisy fid, and
the spread says how noisy. `python benchmarks/tables.py` writes the table in docs/tokenizers.md from the JSON.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from common import chosen_rows, prior_once, train_once, vaekit, write_rows
from mgvq import COMMON, LONGER_EMOJI, ROWS, SEEDS_MNIST, _with

from vaekit.analysis.evaluate import evaluate_run, sample_quality
from vaekit.runs.checkpoint import read_metrics
from vaekit.runs.open import open_run
from vaekit.runs.prior import load_prior, prior_dir

RUN_FILES = ("config.json", "model.safetensors", "summary.json", "metrics.jsonl")  # what a prior's folder links
# the prior whose samples the docs show, drawn again whenever this script measures it (32 samples, seed 0)
FIGURES = {"lecture-nested-50-image-layers1": "docs/prior-samples-mgvq-nested-{dataset}.png"}


def prior_folder(run: Path, folder: Path) -> Path:
    """``folder`` with hard links to the finished ``run``'s files (made once): a run directory of its own."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        if not (folder / name).exists():
            os.link(run / name, folder / name)
    return folder


def measure(folder: Path, layers: int, epochs: int, samples: int, sample_sets: int, precision: str = "auto") -> dict:
    """Fit (or resume) the prior, then score it: its NLL by epoch, and the fid of ``sample_sets`` sets of
    ``samples`` samples (seeds 0, 1, ...; ``fid`` is seed 0's, ``fid_sets`` all of them)."""
    prior_once(folder, epochs, ["--group-layers", str(layers), "--precision", precision])
    records = read_metrics(prior_dir(folder))
    scored = evaluate_run(folder)
    run = open_run(folder)
    sets = [sample_quality(run, samples, seed) for seed in range(sample_sets)]  # seed 0's is evaluate's own
    return {
        "group_layers": layers,
        "test_nll": [r["test_nll"] for r in records],
        "seconds": [r["seconds"] for r in records],
        "precision": records[-1].get("precision", "fp32"),
        "params": sum(p.numel() for p in load_prior(folder).parameters()),
        "evaluate": {k: scored[k] for k in ("prior_nll", "prior_nll_groups", "psnr") if k in scored}
        | {k: sets[0][k] for k in ("fid", "fid_floor", "fid_samples")}
        | {"fid_sets": [q["fid"] for q in sets]},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", required=True, help="the folder of benchmarks/mgvq.py's runs")
    p.add_argument("--dataset", default="emoji", choices=sorted(COMMON))
    p.add_argument("--only", required=True, help="mgvq.py's rows whose runs get priors")
    p.add_argument("--group-layers", default="0,1", help="the prior kinds: 0 = one step per token, N >= 1 per position")
    p.add_argument("--epochs", type=int, default=8, help="prior epochs (default 8)")
    p.add_argument("--sample-sets", type=int, default=3, help="sets of samples the fid is taken over (default 3)")
    p.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "bf16"],
        help="the priors' precision (`vaekit prior --precision`); fp32 and bf16 name their own rows",
    )
    p.add_argument("--out", help="the JSON (default docs/data/mgvq-priors-DATASET.json)")
    args = p.parse_args()
    runs = Path(args.runs)
    common, finetune, samples = COMMON[args.dataset]
    table = ROWS | (LONGER_EMOJI if args.dataset == "emoji" else SEEDS_MNIST)
    kinds = [int(k) for k in args.group_layers.split(",")]
    rows = {}
    for name in chosen_rows(p, args.only, table):
        what, targs = table[name]
        train_once(runs / name, _with(common, [str(finetune) if a == "FT" else a for a in targs]))
        for layers in kinds:
            row = f"{name}-layers{layers}" + ("" if args.precision == "auto" else f"-{args.precision}")
            folder = prior_folder(runs / name, runs / "priors" / row)
            rows[row] = {"model": what, "epochs": args.epochs} | measure(
                folder, layers, args.epochs, samples, args.sample_sets, args.precision
            )
            if row in FIGURES:
                figure = FIGURES[row].format(dataset=args.dataset)
                assert vaekit(["sample", str(folder), "-n", "32", "--out", figure, "--overwrite"]) == 0
    out = Path(args.out or f"docs/data/mgvq-priors-{args.dataset}.json")
    # every kind `--group-layers` allows (0 ... 64), so that rows of kinds this call did not fit stay in the JSON
    order = [f"{name}-layers{k}{suffix}" for name in table for k in range(65) for suffix in ("", "-fp32", "-bf16")]
    write_rows(out, rows, order)


if __name__ == "__main__":
    main()
