"""Measure the lecture's smile vector on emoji faces: a conv Gaussian VAE on emoji, the mean latent of the
training faces named smiling or grinning minus that of the neutral and skeptical ones, added at strengths
-2 ... 2 to the test faces that do not smile, scored by a logistic probe on reconstruction pixels; write
docs/data/smile-emoji.json and docs/smile-emoji.png.

    python benchmarks/smile.py --runs DIR

The run is trained into DIR/conv-emoji unless it already holds a finished one. `python benchmarks/tables.py`
writes the table in docs/models.md from the JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from common import machine, train_once

from vaekit.analysis.explore import attribute_run
from vaekit.analysis.report import SMILE
from vaekit.runs.open import open_run

ARGS = ["--preset", "conv", "--dataset", "emoji", "--epochs", "10"]
STRENGTHS = [-2.0, -1.0, 0.0, 1.0, 2.0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", required=True, help="folder of the run (kept, reused when finished)")
    p.add_argument("--out", default="docs/data/smile-emoji.json")
    args = p.parse_args()
    run_dir = Path(args.runs) / "conv-emoji"
    train_once(run_dir, ARGS)
    run = open_run(run_dir, "cpu")
    positive, negative, targets = SMILE
    res, png = attribute_run(run, positive, negative, STRENGTHS, run_dir, split="train", name="smile.png",
                             targets=targets)  # fmt: skip
    data = {
        "args": ARGS, "positive": positive, "negative": negative, "targets": targets,
        "summary": json.loads((run_dir / "summary.json").read_text()),
        "n_positive": res.n_positive, "n_negative": res.n_negative, "norm": res.norm, "strengths": res.strengths,
        "probe": res.probe, "probe_accuracy": res.probe_accuracy, "machine": machine(),
    }  # fmt: skip
    out = Path(args.out)
    out.write_text(json.dumps(data, indent=1) + "\n")
    shutil.copyfile(png, "docs/smile-emoji.png")
    print(f"wrote {out} and docs/smile-emoji.png")


if __name__ == "__main__":
    main()
