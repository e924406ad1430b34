"""One writer per run directory: a second process that would train, sweep or write into it is refused in one
line naming the first one's PID, and the lock goes away with its process."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from vaekit.cli import main
from vaekit.errors import RunError
from vaekit.runs.lock import RunLock


def test_a_second_lock_names_the_holder_and_the_lock_is_released_on_exit(tmp_path):
    with RunLock(tmp_path / "run"):
        with pytest.raises(RunError, match=f"in use by process {os.getpid()}") as e:
            RunLock(tmp_path / "run").__enter__()
        assert "\n" not in str(e.value)
    with RunLock(tmp_path / "run"):  # released: taken again
        pass


def test_two_trainings_of_one_run_directory_at_once(tmp_path, blob_npz, capsys):
    """A training runs in a second process; `train --resume` and `sweep` into its directory are refused while
    it runs, and the run resumes once it was stopped (the OS dropped its lock)."""
    run = tmp_path / "run"
    args = ["--dataset", str(blob_npz), "--batch-size", "32", "--latent-dim", "3", "--device", "cpu", "--quiet"]
    first = subprocess.Popen(
        [sys.executable, "-m", "vaekit", "train", *args, "--epochs", "400", "--precision", "fp32", "--no-report",
         "--out", str(run)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ, OMP_NUM_THREADS="1"),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (run / "train_state.safetensors").exists():
            assert first.poll() is None and time.monotonic() < deadline, "the first training did not start"
            time.sleep(0.05)
        assert main(["train", "--resume", "--out", str(run), "--epochs", "500", "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert err == f"error: {run} is in use by process {first.pid}; wait for it to finish or stop it"
        assert main(["sweep", *args, "--betas", "1", "--epochs", "1", "--out", str(run)]) == 2
        assert f"in use by process {first.pid}" in capsys.readouterr().err
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(timeout=60)
    done = [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert done == list(range(1, len(done) + 1))  # one writer: no epoch twice
    assert main(["train", "--resume", "--out", str(run), "--epochs", str(len(done) + 1), "--quiet"]) == 0
    final = [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert final == list(range(1, len(done) + 2))
