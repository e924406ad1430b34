"""The measuring scripts' shared row handling (benchmarks/common.py): `--only` names known rows, and two processes
that measure different rows of one table keep each other's rows in its JSON."""

import argparse
import fcntl
import json
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from common import chosen_rows, machine, write_rows  # noqa: E402
from tables import _where  # noqa: E402

TABLE = ["a", "b", "c"]


def test_only_names_rows_of_the_table(capsys):
    parser = argparse.ArgumentParser(prog="mgvq.py")
    assert chosen_rows(parser, None, TABLE) == TABLE
    assert chosen_rows(parser, "c,a", TABLE) == ["c", "a"]
    with pytest.raises(SystemExit) as stop:
        chosen_rows(parser, "a,zz", TABLE)
    assert stop.value.code == 2
    assert "unknown rows zz: use a, b, c" in capsys.readouterr().err


def test_rows_merge_in_table_order_with_what_the_json_holds_when_written(tmp_path):
    out = tmp_path / "data" / "t.json"
    write_rows(out, {"c": {"v": 3}}, TABLE, dataset="x")
    rows = write_rows(out, {"a": {"v": 1}}, TABLE, dataset="x")
    assert list(rows) == ["a", "c"]
    saved = json.loads(out.read_text())
    here = machine()
    assert saved["dataset"] == "x" and saved["machine"] == here
    assert saved["rows"] == {"a": {"v": 1, "machine": here}, "c": {"v": 3, "machine": here}}
    write_rows(out, {"a": {"v": 10}}, TABLE)  # a row measured again replaces its old value
    assert json.loads(out.read_text())["rows"]["a"] == {"v": 10, "machine": here}


def test_a_second_writer_waits_for_the_first_and_keeps_its_row(tmp_path):
    out = tmp_path / "t.json"
    write_rows(out, {"a": {"v": 1}}, TABLE)
    with open(tmp_path / "t.json.lock", "w") as held:  # another process is between its read and its write
        fcntl.flock(held, fcntl.LOCK_EX)
        writer = threading.Thread(target=write_rows, args=(out, {"b": {"v": 2}}, TABLE))
        writer.start()
        writer.join(0.5)
        assert writer.is_alive()  # it waits for the lock instead of reading a JSON about to change
        saved = json.loads(out.read_text())
        saved["rows"]["c"] = {"v": 3}  # what the other process writes before letting go
        out.write_text(json.dumps(saved))
    writer.join(30)
    assert not writer.is_alive()
    assert {k: r["v"] for k, r in json.loads(out.read_text())["rows"].items()} == {"a": 1, "b": 2, "c": 3}


XEON = {"cpu": "Intel Xeon", "bf16_flags": ["amx_bf16"], "threads": 2, "torch": "2.13.0"}
ZEN = {"cpu": "AMD EPYC", "bf16_flags": [], "threads": 1, "torch": "2.13.0"}


def test_rows_from_another_machine_keep_it_and_the_table_names_both(tmp_path):
    """A JSON written before rows named their machine: its rows keep the machine it named when a row measured on
    another machine joins, and the table's footer gives each machine its rows."""
    out = tmp_path / "t.json"
    out.write_text(json.dumps({"rows": {"a": {"v": 1}, "c": {"v": 3}}, "machine": XEON}))
    assert _where(json.loads(out.read_text())) == (
        "Measured on Intel Xeon (`amx_bf16`), the threads in each row, torch 2.13.0."
    )
    write_rows(out, {"b": {"v": 2, "machine": ZEN}}, TABLE)
    saved = json.loads(out.read_text())
    assert [r["machine"]["cpu"] for r in saved["rows"].values()] == ["Intel Xeon", "AMD EPYC", "Intel Xeon"]
    assert _where(saved, None) == (
        "Measured on Intel Xeon (`amx_bf16`), 2 threads, torch 2.13.0 (rows 1, 3); "
        "AMD EPYC (no bf16 units), 1 thread, torch 2.13.0 (row 2)."
    )


def test_step_bound_targets_pair_each_round_with_itself():
    """The speed targets' shares (benchmarks/step_bound.py) are medians of same-round ratios: a slow spell that
    doubles every timing of two rounds leaves them unchanged, and a bound of exactly JAX's step / 1.2 is 1."""
    from step_bound import targets

    fast = {"jax": 3.6, "fp32": 4.0, "fp32 products": 2.8, "adam": 0.2, "naive": 6.0, "bf16": 3.0,
            "bf16 products": 1.5, "casts": 0.1}  # fmt: skip
    rounds = {name: [v, v, v, 2 * v, 2 * v] for name, v in fast.items()}
    fp32, bf16 = targets(rounds)
    assert fp32["target"].startswith("fused fp32") and bf16["target"].startswith("fused bf16")
    assert fp32["bound_share"] == pytest.approx(1.0) and fp32["step_share"] == pytest.approx(4.0 / 3.0)
    assert bf16["bound_share"] == pytest.approx(1.8 / 2.0) and bf16["step_share"] == pytest.approx(1.5)
    assert fp32["allowed_ms"] == pytest.approx(3.0) and bf16["bound_ms"] == pytest.approx(1.8)
    del rounds["jax"]  # without the JAX peer, only the bf16 target
    assert [t["target"] for t in targets(rounds)] == [bf16["target"]]
