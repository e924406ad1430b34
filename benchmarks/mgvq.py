"""Measure multi-group VQ as the MGVQ paper builds it, on emoji or MNIST: the lecture's groups of 16, 64 and 256
codes and equal groups of 64, each nested (coarse to fine) and not, beside one FSQ codebook of the same 18 bits
per token (8^6 = 262,144 codes; plain VQ with that many codes is out of reach on a CPU); write
docs/data/mgvq-DATASET.json and docs/mgvq-groups-DATASET.png (on emoji also mgvq-groups-emoji-image.png and
mgvq-groups-emoji-ft.png).

    python benchmarks/mgvq.py --runs DIR [--dataset emoji|mnist] [--prior-epochs N] [--only ROW,ROW]

A row's run is trained into DIR/NAME unless DIR/NAME already holds a finished run, then scored on the test split
decoded from the first k groups, k = 1 ... G (`vaekit evaluate --json`). ``--prior-epochs N`` also fits a token
prior to each multi-group run (`vaekit prior RUN --epochs N`, kept like the run) and adds its NLL and the fid of its
samples (2,000 on MNIST, the 379 test images' worth on emoji); the FSQ row gets none (a softmax over 262,144 codes
per token). Rows already in the JSON that ``--only`` leaves out are kept (the JSON is read again just before
writing, so two processes can measure different rows side by side). `python benchmarks/tables.py` writes the table
in docs/tokenizers.md from the JSON.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from common import chosen_rows, prior_once, run_record, train_once, write_rows

from vaekit.analysis.evaluate import evaluate_run
from vaekit.plots import save_grid
from vaekit.runs.open import open_run

# dataset -> (the settings every row shares, the nested rows' unmasked epochs, fid samples): emoji at f = 4
# (16 x 16 tokens), 25 epochs; MNIST in the plain layout of the grid tokenizers' MNIST rows (7 x 7 tokens), 5
# epochs (about as many steps' worth of pixels); a fifth of the epochs unmasked in both
COMMON: dict[str, tuple[list[str], int, int]] = {
    "emoji": (["--dataset", "emoji", "--epochs", "25", "--code-dim", "48"], 5, 379),
    "mnist": (["--dataset", "mnist", "--net", "plain", "--epochs", "5", "--code-dim", "48"], 1, 2000),
}
NESTED = ["--nested-groups", "--finetune-epochs", "FT"]
ROWS: dict[str, tuple[str, list[str]]] = {
    "lecture-nested": (
        "mgvq 16, 64, 256, nested, the last fifth unmasked",
        ["--model", "mgvq", "--group-codes", "16,64,256", *NESTED],
    ),
    "lecture-nested-full": (
        "mgvq 16, 64, 256, nested, `--nested-full`",
        ["--model", "mgvq", "--group-codes", "16,64,256", "--nested-groups", "--nested-full"],
    ),
    "lecture": ("mgvq 16, 64, 256", ["--model", "mgvq", "--group-codes", "16,64,256"]),
    "equal-nested": (
        "mgvq 64, 64, 64, nested, the last fifth unmasked",
        ["--model", "mgvq", "--group-codes", "64,64,64", *NESTED],
    ),
    "equal": ("mgvq 64, 64, 64", ["--model", "mgvq", "--group-codes", "64,64,64"]),
    "fsq18": ("fsq 8,8,8,8,8,8 (one codebook, 18 bits)", ["--model", "fsq", "--levels", "8,8,8,8,8,8"]),
}
# emoji only: the paper's second stage (unmasked) made longer, 12, 15 and 18 of the 25 epochs (after the other
# nested 16, 64, 256 rows); and, at the table's end, the nested and plain 16, 64, 256 runs trained for 25, 50 (from
# two seeds: the cost of nesting is a difference of two runs, a second seed shows its spread) and 100 epochs, then
# the equal groups' at 50
FINETUNE_EMOJI = {
    f"lecture-nested-ft{n}": (
        f"mgvq 16, 64, 256, nested, {n} of 25 epochs unmasked",
        ["--model", "mgvq", "--group-codes", "16,64,256", "--nested-groups", "--finetune-epochs", str(n)],
    )
    for n in (12, 15, 18)
}


GROUP_CODES = {"lecture": "16,64,256", "equal": "64,64,64"}  # the two layouts of 18 bits a token


def longer(epochs: int, groups: str = "lecture") -> dict[str, tuple[str, list[str]]]:
    """The plain and nested rows of ``groups`` (lecture: 16, 64, 256; equal: 64, 64, 64) trained for ``epochs``
    (the nested one's last fifth unmasked)."""
    codes = GROUP_CODES[groups]
    model = ["--model", "mgvq", "--group-codes", codes]
    length = ["--epochs", str(epochs)]
    what = codes.replace(",", ", ")
    return {
        f"{groups}-{epochs}": (f"mgvq {what}, {epochs} epochs", [*model, *length]),
        f"{groups}-nested-{epochs}": (
            f"mgvq {what}, nested, {epochs} epochs, the last fifth unmasked",
            [*model, "--nested-groups", "--finetune-epochs", str(epochs // 5), *length],
        ),
    }


def seed1(rows: dict[str, tuple[str, list[str]]]) -> dict[str, tuple[str, list[str]]]:
    """The same rows trained from `--seed 1` (named NAME-seed1)."""
    return {f"{name}-seed1": (f"{what}, seed 1", [*args, "--seed", "1"]) for name, (what, args) in rows.items()}


def per_image(rows: dict[str, tuple[str, list[str]]]) -> dict[str, tuple[str, list[str]]]:
    """The same nested rows with the kept groups drawn per image, not per step (named NAME-image)."""
    return {
        f"{name}-image": (f"{what}, a draw per image", [*args, "--nested-draw", "image"])
        for name, (what, args) in rows.items()
    }


def nested(rows: dict[str, tuple[str, list[str]]]) -> dict[str, tuple[str, list[str]]]:
    """The nested rows of ``rows``."""
    return {name: row for name, row in rows.items() if "--nested-groups" in row[1]}


# and the nested rows again with a draw per image: 25, 50 (two seeds) and 100 epochs
IMAGE_50 = per_image(nested(longer(50)))
LONGER_EMOJI = longer(25) | longer(50) | seed1(longer(50)) | longer(100) | per_image(nested(longer(25)))
LONGER_EMOJI |= IMAGE_50 | seed1(IMAGE_50) | per_image(nested(longer(100)))
# and equal groups of 64 at 50 epochs, plain and nested with a draw per image: the 16, 64, 256 rows' peers
EQUAL_50 = longer(50, "equal")
LONGER_EMOJI |= {"equal-50": EQUAL_50["equal-50"]} | per_image(nested(EQUAL_50))


def finetune_image(epochs: int, unmasked: int, groups: str = "lecture") -> dict[str, tuple[str, list[str]]]:
    """The nested row of ``groups`` at ``epochs`` with ``unmasked`` of them unmasked and a draw per image, in fp32
    like the table's other emoji rows (named GROUPS-nested-EPOCHS-ftN-image): the two changes that each closed
    part of the cost of nesting, together."""
    codes = GROUP_CODES[groups]
    what = f"mgvq {codes.replace(',', ', ')}, nested, {unmasked} of {epochs} epochs unmasked, a draw per image"
    args = ["--model", "mgvq", "--group-codes", codes, "--nested-groups", "--finetune-epochs", str(unmasked)]
    args += ["--nested-draw", "image", "--epochs", str(epochs), "--precision", "fp32"]
    return {f"{groups}-nested-{epochs}-ft{unmasked}-image": (what, args)}


# and both together: a longer unmasked stage (about 3/5 of the epochs, the best share with a draw per step at 25
# epochs) with a draw per image, at 25, 50 and 100 epochs, and for equal groups at 50
BOTH = ((25, 12, "lecture"), (25, 15, "lecture"), (50, 30, "lecture"), (100, 60, "lecture"), (50, 30, "equal"))
LONGER_EMOJI |= {name: row for e, u, g in BOTH for name, row in finetune_image(e, u, g).items()}


def in_fp32(epochs: int) -> dict[str, tuple[str, list[str]]]:
    """The plain 16, 64, 256 row of ``epochs`` in fp32, like the nested rows of ``finetune_image``."""
    what, args = longer(epochs)[f"lecture-{epochs}"]
    return {f"lecture-{epochs}-fp32": (f"{what}, fp32", [*args, "--precision", "fp32"])}


# and the 25-epoch pair again from a second seed, the plain run in fp32 like the nested one
LONGER_EMOJI |= seed1(in_fp32(25)) | seed1(finetune_image(25, 12))
# and the 50-epoch plain run in fp32: the peer of lecture-nested-50-ft30-image for the token priors
LONGER_EMOJI |= in_fp32(50)
# MNIST only, at the table's end: the nested and plain 16, 64, 256 rows from a second seed, and the nested one
# with its kept groups drawn per image, from both seeds
IMAGE_MNIST = per_image({"lecture-nested": ROWS["lecture-nested"]})
SEEDS_MNIST = seed1({name: ROWS[name] for name in ("lecture-nested", "lecture")}) | IMAGE_MNIST | seed1(IMAGE_MNIST)


def _with(common: list[str], args: list[str]) -> list[str]:
    """A row's arguments after the shared ones, less the shared --epochs when the row names its own."""
    if "--epochs" in args and "--epochs" in common:
        i = common.index("--epochs")
        common = [*common[:i], *common[i + 2 :]]
    return [*args, *common]


def measure(run: Path, what: str, args: list[str], prior_epochs: int, samples: int) -> dict:
    train_once(run, args)
    grouped = "mgvq" in args
    if prior_epochs and grouped:
        prior_once(run, prior_epochs)
    samples = samples if prior_epochs and grouped else 0
    return run_record(run, what, args) | {"evaluate": evaluate_run(run, samples=samples)}


def groups_figure(runs: Path, nested: str, plain: str, path: str) -> None:
    """The nested run's first 8 test images decoded from 1, 2 and 3 groups, beside the plain run's, when both
    runs are finished."""
    if not all((runs / name / "summary.json").is_file() for name in (nested, plain)):
        return
    strips = []
    for name in (nested, plain):
        run = open_run(runs / name, "cpu")
        x = run.x_test[:8]
        strips += [run.tokenizer.reconstruct(x, k) for k in (1, 2, 3)]
    images = torch.cat([x.reshape(8, *run.image_shape), *strips]).cpu().numpy()
    print(save_grid(images, path, ncol=8))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", required=True, help="folder of the runs (kept, reused when finished)")
    p.add_argument("--dataset", default="emoji", choices=sorted(COMMON))
    p.add_argument("--prior-epochs", type=int, default=0, help="fit a token prior to each mgvq run (0: none)")
    rows = [*ROWS, *FINETUNE_EMOJI, *LONGER_EMOJI, *SEEDS_MNIST]
    p.add_argument("--only", help=f"rows to measure, of {', '.join(rows)} (default: the dataset's)")
    p.add_argument("--out", help="the JSON (default docs/data/mgvq-DATASET.json)")
    args = p.parse_args()
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    common, finetune, samples = COMMON[args.dataset]
    out = Path(args.out or f"docs/data/mgvq-{args.dataset}.json")
    table: dict[str, tuple[str, list[str]]] = {}
    emoji = args.dataset == "emoji"
    for name, row in ROWS.items():  # the emoji sweep after the other nested 16, 64, 256 rows
        table |= {name: row} | (FINETUNE_EMOJI if name == "lecture-nested-full" and emoji else {})
    table |= LONGER_EMOJI if emoji else SEEDS_MNIST
    names = chosen_rows(p, args.only, table)
    rows = {}
    for name in names:
        what, targs = table[name]
        targs = [str(finetune) if a == "FT" else a for a in targs]
        rows[name] = measure(runs / name, what, _with(common, targs), args.prior_epochs, samples)
    write_rows(out, rows, table)
    groups_figure(runs, "lecture-nested", "lecture", f"docs/mgvq-groups-{args.dataset}.png")
    if emoji:
        groups_figure(runs, "lecture-nested-50-image", "lecture-50", "docs/mgvq-groups-emoji-image.png")
        groups_figure(
            runs, "lecture-nested-25-ft12-image-seed1", "lecture-25-fp32-seed1", "docs/mgvq-groups-emoji-ft.png"
        )


if __name__ == "__main__":
    main()
