"""Measure vaekit against the IWAE paper's one-stochastic-layer MNIST models (Burda et al. 2015, section 5):
`configs/iwae-paper.toml` on its own schedule and with its eight stages stretched over fewer passes, the VAE
and the IWAE objective (k = 5), each scored as the paper scores it (IW-NLL with K = 5000 on the whole test
set). Writes docs/data/iwae-paper.json; `python benchmarks/tables.py` writes the table in
docs/collapse-study.md from it.

    OMP_NUM_THREADS=1 python benchmarks/iwae_paper.py --runs DIR [--only NAME,...] [--minutes M]

Rows (NAME): ``vae-750`` and ``iwae-450`` (the stages stretched over 750 and 450 passes: about an hour each
on one core of an idle Intel Xeon with AMX; on an AMD EPYC Zen 3, two rows at a time on one core each, a pass
took ~10 s for the VAE and ~17.5 s for the IWAE, so 2.1 and 2.2 hours), and ``paper`` (the paper's 3,280
passes: about 3.7 hours on that Xeon). Each
call trains every row that is not finished for at most M minutes (default: no limit), resuming from its last
finished pass, then scores the pass it reached unless the JSON already holds that pass; the JSON keeps every
scored pass, so a long row is measured over several calls and its table shows where it stood each time.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from common import machine

from vaekit.analysis.evaluate import evaluate_run
from vaekit.runs.checkpoint import read_metrics

CONFIG = "configs/iwae-paper.toml"
ROWS: dict[str, tuple[str, list[str]]] = {
    "vae-750": ("vaekit VAE, the 8 stages stretched over 750 passes", ["--epochs", "750"]),
    "iwae-450": ("vaekit IWAE (k = 5), the 8 stages stretched over 450 passes",
                 ["--objective", "iwae", "--k", "5", "--epochs", "450"]),
    "paper": ("vaekit VAE, the paper's schedule (3,280 passes)", []),
}  # fmt: skip
# what the paper reports (test NLL, IW with k = 5000), for the table's reference rows
PAPER = {"VAE (k = 1)": 86.76, "IWAE (k = 5)": 85.54, "IWAE (k = 50)": 84.78}
IW_SAMPLES = 5000


def train(run: Path, args: list[str], seconds: float | None) -> None:
    """Train RUN (new, or resumed from its last finished pass) until it ends or ``seconds`` have passed; a stop
    is vaekit's Ctrl-C, which keeps every finished pass."""
    if (run / "summary.json").is_file():
        return
    if (run / "train_state.safetensors").is_file():
        cmd = ["train", "--resume", "--out", str(run)]
    else:
        cmd = ["train", "--config", CONFIG, *args, "--out", str(run), "--overwrite"]
    # the child takes Ctrl-C as vaekit's stop even where this script was started with SIGINT ignored (nohup, a
    # background job), which the child would otherwise inherit
    proc = subprocess.Popen([sys.executable, "-m", "vaekit", *cmd, "--quiet", "--no-report"],
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    try:
        rc = proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        rc = proc.wait()
        print(f"{run.name}: stopped after {seconds / 60:.0f} minutes")
    else:
        assert rc == 0, f"vaekit train exited {rc}"


def score(run: Path, metrics: list[dict], iw_samples: int) -> dict:
    """IW-NLL (K = ``iw_samples``), -ELBO and active units of the pass RUN reached (the last of its ``metrics``),
    and the training time up to it."""
    start = time.perf_counter()
    m = evaluate_run(run, iw_samples=iw_samples, device="cpu")
    return {
        "passes": metrics[-1]["epoch"],
        "nll_iw": m["nll_iw"],
        "loss": m["loss"],
        "active_units": m["active_units"],
        "train_seconds": sum(r["seconds"] for r in metrics),
        "eval_seconds": time.perf_counter() - start,
        "finished": (run / "summary.json").is_file(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", required=True, help="folder of the runs (kept, resumed, reused when finished)")
    p.add_argument("--only", default=",".join(ROWS), help=f"rows to train and score, of {', '.join(ROWS)}")
    p.add_argument("--minutes", type=float, default=None, help="train each row at most this long per call")
    p.add_argument("--iw-samples", type=int, default=IW_SAMPLES, help="K of the IW-NLL (the paper: 5000)")
    p.add_argument("--out", default="docs/data/iwae-paper.json")
    args = p.parse_args()
    runs, out = Path(args.runs), Path(args.out)
    runs.mkdir(parents=True, exist_ok=True)
    data = json.loads(out.read_text()) if out.is_file() else {"paper": PAPER, "rows": {}}
    for name in args.only.split(","):
        what, targs = ROWS[name]
        run = runs / name
        train(run, targs, None if args.minutes is None else args.minutes * 60)
        row = data["rows"].setdefault(name, {"model": what, "args": [*targs], "scored": []})
        metrics = read_metrics(run)
        if not metrics:
            print(f"{name}: no pass finished in the time given")
            continue
        reached = metrics[-1]["epoch"]
        if all(s["passes"] != reached for s in row["scored"]):
            scored = score(run, metrics, args.iw_samples)
            row["scored"].append(scored | {"iw_samples": args.iw_samples, "machine": machine()})
            print(f"{name}: pass {reached}, IW-NLL {row['scored'][-1]['nll_iw']:.2f}")
        out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
