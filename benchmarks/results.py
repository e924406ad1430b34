"""Train the README's results rows and write what they measured to docs/data/results.json.

    python benchmarks/results.py [--only classic,tiny] [--out docs/data/results.json]

Each row is one `vaekit train` recipe (seed 0, the default switches of this machine) on MNIST, evaluated on the
test set; the classic row adds the importance-weighted NLL at K = 1000, the conv row at K = 50. The JSON names
the machine. `python benchmarks/tables.py` then writes the tables of README.md and docs/ from it: no number in
them is copied by hand. About 8 minutes on 2 cores of an Intel Xeon with AMX.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from vaekit.analysis.evaluate import evaluate_run
from vaekit.config import RunConfig, preset_config, update
from vaekit.measure.compare import machine_info
from vaekit.switches import detect, resolve_device
from vaekit.training.loop import train

# name -> (what it is, the recipe's differences from the classic one, IW-NLL samples or 0)
ROWS: dict[str, tuple[str, dict, int]] = {
    "classic": ("classic 784-400-20", {}, 1000),
    "tiny": ("tiny 784-144-128-20, 30 epochs", {"model": {"preset": "tiny"}, "train": {"epochs": 30}}, 0),
    "beta4": ("classic, beta = 4", {"loss": {"beta": 4.0}}, 0),
    "conv": ("conv, plain layout (`--preset conv --net plain`)", {"model": {"preset": "conv", "net": "plain"}}, 50),
    "split": ("classic, split mu/logvar networks (`--encoder-paths split`)", {"model": {"encoder_paths": "split"}}, 0),
    "sigma0.5": ("classic, posterior sigma fixed at 0.5", {"model": {"posterior_sigma": 0.5}}, 0),
    "sigma0.1": ("classic, posterior sigma fixed at 0.1", {"model": {"posterior_sigma": 0.1}}, 0),
}
RECIPE = "Adam 1e-3, batch 128, 10 epochs, targets in [0, 1], seed 0"


def config(changes: dict) -> RunConfig:
    changes = json.loads(json.dumps(changes))  # a copy
    cfg = RunConfig(model=preset_config(changes.get("model", {}).pop("preset", "classic")))
    return update(cfg, changes, "recipe").validate()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", help="comma list of rows to train again (the others are kept from --out)")
    p.add_argument("--out", default="docs/data/results.json")
    args = p.parse_args()
    out = Path(args.out)
    old = json.loads(out.read_text()) if out.is_file() else {"rows": {}}
    names = args.only.split(",") if args.only else list(ROWS)
    device = resolve_device("auto")
    rows = dict(old["rows"])
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            what, changes, iw = ROWS[name]
            cfg = config(changes)
            result = train(cfg, Path(tmp) / name, progress=False)
            s = result.summary
            if iw:
                s["nll_iw"] = evaluate_run(Path(tmp) / name, iw_samples=iw, device=str(device))["nll_iw"]
                s["iw_samples"] = iw
            rows[name] = {"model": what, "recipe": RECIPE, "config": cfg.to_dict(), "summary": s,
                          "machine": machine_info(device, detect(device))}  # fmt: skip
            print(f"{name}: test loss {s['loss']:.2f}, {s['train_seconds']:.1f} s", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": {n: rows[n] for n in ROWS if n in rows}}, indent=1) + "\n")


if __name__ == "__main__":
    main()
