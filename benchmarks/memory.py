"""Peak memory of training on a large uint8 colour set, against the budget of 1.5 x its size + 1 GB.

    python benchmarks/memory.py [--images 200000] [--keep]

Writes an npz of N 64x64x3 uint8 images (N = 200,000: 2.46 GB; the emoji training set repeated when it is
cached, noise otherwise) with no test split, so the 10 % holdout applies; trains a default FSQ tokenizer on
it for 30 steps in a child process (`vaekit train --max-steps 30 --no-report`, which ends with the test-set
evaluation) and prints the child's peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=200_000)
    ap.add_argument("--keep", action="store_true", help="keep the npz and the run (printed)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="vaekit-memory-"))
    x = np.empty((args.images, 64, 64, 3), dtype=np.uint8)
    emoji = Path.home() / ".cache" / "vaekit" / "emoji.npz"
    if emoji.is_file():
        base = np.load(emoji)["x_train"]
        for i in range(0, len(x), len(base)):
            x[i : i + len(base)] = base[: len(x) - i]
    else:
        x[:] = np.random.default_rng(0).integers(0, 256, x.shape, dtype=np.uint8)
    size = x.nbytes
    np.savez(tmp / "big.npz", x=x)
    del x
    cmd = [sys.executable, "-m", "vaekit", "train", "--model", "fsq", "--dataset", str(tmp / "big.npz"),
           "--epochs", "1", "--max-steps", "30", "--no-report", "--quiet", "--out", str(tmp / "run")]  # fmt: skip
    subprocess.run(cmd, check=True)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # bytes (ru_maxrss is KiB on Linux)
    budget = 1.5 * size + 1e9
    print(f"set {size / 1e9:.2f} GB, peak {peak / 1e9:.2f} GB, budget {budget / 1e9:.2f} GB: "
          f"{'within' if peak <= budget else 'OVER'}")  # fmt: skip
    if args.keep:
        print(f"kept {tmp}")
    else:
        subprocess.run(["rm", "-rf", str(tmp)], check=True)
    return 0 if peak <= budget else 1


if __name__ == "__main__":
    sys.exit(main())
