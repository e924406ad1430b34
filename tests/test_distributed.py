"""Data-parallel training: torchrun with 2 CPU processes (gloo) matches one process with the same global batch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from vaekit.cli import main

ARGS = ["train", "--epochs", "2", "--batch-size", "32", "--latent-dim", "3", "--device", "cpu", "--quiet",
        "--no-report"]  # fmt: skip


def _run(cmd, cwd):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


# bf16 rounds each process's half-batch products on their own, and Adam turns a sign flip of a near-zero
# gradient into a full lr-sized step: a few single weights may differ by a few lr after 2 epochs (seen: 5 of
# 25,600 by up to 3.4e-3), so bf16 is compared per tensor, ||a - b|| / ||a|| (seen: at most 1.1e-3)
TOLERANCE = {"fp32": {"atol": 1e-5, "rtol": 1e-4}}
BF16_RELATIVE_NORM = 1e-2


VARIANTS = [("fused", "fp32"), ("autograd", "fp32"), ("fused", "bf16")]


@pytest.fixture(scope="module")
def ddp_runs(tmp_path_factory):
    """One torchrun launch of 2 processes trains every variant (tests/torchrun_variants.py): ddp-STEP-PRECISION."""
    from conftest import blob_images

    folder = tmp_path_factory.mktemp("ddp")
    x, y = blob_images()
    np.savez(folder / "blobs.npz", x=x, y=y)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    script = str(Path(__file__).with_name("torchrun_variants.py"))
    proc = _run([*launcher, script, str(folder / "blobs.npz"), *(f"{s}:{p}" for s, p in VARIANTS)], folder)
    return folder, proc.stdout


@pytest.mark.parametrize("step, precision", VARIANTS)
def test_torchrun_two_processes_match_one(ddp_runs, step, precision, monkeypatch):
    folder, stdout = ddp_runs
    args = [*ARGS, "--dataset", str(folder / "blobs.npz"), "--step", step, "--precision", precision]
    monkeypatch.chdir(folder)  # the one-process reference runs in this process, on one thread as each rank does
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main([*args, "--out", f"single-{step}-{precision}"]) == 0
    finally:
        torch.set_num_threads(threads)
    assert stdout.count("run directory:") == len(VARIANTS)  # only rank 0 reports
    single, ddp = folder / f"single-{step}-{precision}", folder / f"ddp-{step}-{precision}"
    assert json.loads((ddp / "summary.json").read_text())["engine"]["processes"] == 2
    a, b = load_file(str(single / "model.safetensors")), load_file(str(ddp / "model.safetensors"))
    for k in a:  # same global batches, same noise: equal up to the order of floating-point sums
        if precision == "fp32":
            torch.testing.assert_close(a[k], b[k], **TOLERANCE[precision], msg=k)
        else:
            assert (a[k] - b[k]).norm() <= BF16_RELATIVE_NORM * a[k].norm(), k
    loss_1 = json.loads((single / "summary.json").read_text())["loss"]
    loss_2 = json.loads((ddp / "summary.json").read_text())["loss"]
    assert abs(loss_1 - loss_2) < (1e-3 if precision == "fp32" else 0.05)
    assert len((ddp / "metrics.jsonl").read_text().splitlines()) == 2  # one writer
