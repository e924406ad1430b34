"""What the measuring scripts share: a run and its token prior trained once into their folders, the record of a
finished run, and the machine it ran on."""

from __future__ import annotations

import argparse
import fcntl
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vaekit._io import atomic_write
from vaekit.cli import main as vaekit
from vaekit.measure.compare import machine_info
from vaekit.runs.checkpoint import read_metrics
from vaekit.runs.prior import has_prior, prior_dir
from vaekit.switches import detect, resolve_device


def train_once(run: Path, args: list[str]) -> None:
    """``vaekit train ARGS --out RUN`` unless RUN holds a finished run (its summary.json); an interrupted run (a
    checkpoint, no summary) continues to the epochs ``args`` name instead of starting over."""
    if (run / "summary.json").is_file():
        return
    if (run / "train_state.safetensors").is_file():
        epochs = ["--epochs", args[args.index("--epochs") + 1]] if "--epochs" in args else []
        assert vaekit(["train", "--resume", *epochs, "--out", str(run), "--quiet", "--no-report"]) == 0
    else:
        assert vaekit(["train", *args, "--out", str(run), "--quiet", "--no-report", "--overwrite"]) == 0


def with_epochs(args: list[str], epochs: int | str) -> list[str]:
    """`vaekit train` arguments with their ``--epochs`` value replaced."""
    i = args.index("--epochs")
    return [*args[: i + 1], str(epochs), *args[i + 2 :]]


def prior_once(run: Path, epochs: int, args: Iterable[str] = ()) -> None:
    """``vaekit prior RUN --epochs N ARGS`` unless RUN's token prior has finished N epochs; an interrupted one (its
    weights after fewer epochs) resumes (as it was configured) instead of counting as done."""
    done = len(read_metrics(prior_dir(run))) if has_prior(run) else 0
    if done >= epochs:
        return
    how = ["--resume"] if done else ["--overwrite", *args]
    assert vaekit(["prior", str(run), "--epochs", str(epochs), *how, "--quiet", "--no-report"]) == 0


def run_record(run: Path, what: str, args: list[str]) -> dict[str, Any]:
    """A finished run as a result row: what it is, the arguments it was trained with, its config.json and
    summary.json, and its token prior's training seconds when it has one."""
    record = {
        "model": what,
        "args": args,
        "config": json.loads((run / "config.json").read_text()),
        "summary": json.loads((run / "summary.json").read_text()),
    }
    if has_prior(run):
        record["prior_seconds"] = sum(r["seconds"] for r in read_metrics(prior_dir(run)))
    return record


def chosen_rows(parser: argparse.ArgumentParser, only: str | None, table: Iterable[str]) -> list[str]:
    """The rows ``--only ROW,ROW`` names (None: all of ``table``); an unknown name is the parser's one-line error."""
    table = list(table)
    names = (only or ",".join(table)).split(",")
    if unknown := sorted(set(names) - set(table)):
        parser.error(f"unknown rows {', '.join(unknown)}: use {', '.join(table)}")
    return names


def write_rows(out: Path, rows: dict[str, Any], order: Iterable[str], **fields: Any) -> dict[str, Any]:
    """Write a result JSON atomically: ``fields``, then ``rows`` over the rows ``out`` holds now, in the table's
    ``order``, then the machine; returns the rows written. ``out`` is read just before writing, not when the
    script starts, and under an exclusive lock on ``out``.lock from that read to the write, so two processes that
    measure different rows side by side keep each other's.

    Each row carries the machine that measured it: ``rows`` get this process's, and rows written before rows
    carried one get the machine the JSON named then, so rows from two machines in one table stay told apart."""
    out.parent.mkdir(parents=True, exist_ok=True)
    here = machine()
    rows = {name: {**row, "machine": row.get("machine", here)} for name, row in rows.items()}
    with open(out.with_name(out.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # waits for the other writer; released when the file closes
        if out.is_file():
            saved = json.loads(out.read_text())
            rows = {name: {"machine": saved["machine"]} | row for name, row in saved["rows"].items()} | rows
        rows = {name: rows[name] for name in order if name in rows}
        text = json.dumps({**fields, "rows": rows, "machine": here}, indent=1) + "\n"
        atomic_write(out, lambda path: path.write_text(text))
    print(f"wrote {out}")
    return rows


def machine() -> dict[str, Any]:
    """The CPU (or GPU), its bf16 units, threads and torch of this process, as the result JSON records them."""
    device = resolve_device("auto")
    return machine_info(device, detect(device))
