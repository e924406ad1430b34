"""Run under torchrun by tests/test_distributed.py: one launch trains several variants, one `vaekit train` each
(every call joins the process group and leaves it, as a launch of `python -m vaekit` does).

usage: torchrun ... torchrun_variants.py DATASET STEP:PRECISION...
"""

import sys

from vaekit.cli import main

if __name__ == "__main__":
    dataset, *variants = sys.argv[1:]
    for variant in variants:
        step, precision = variant.split(":")
        args = ["train", "--epochs", "2", "--batch-size", "32", "--latent-dim", "3", "--device", "cpu", "--quiet",
                "--no-report", "--dataset", dataset, "--step", step, "--precision", precision]  # fmt: skip
        code = main([*args, "--out", f"ddp-{step}-{precision}"])
        if code:
            sys.exit(code)
