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
from common import chosen_rows, write_rows  # noqa: E402

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
    assert saved["dataset"] == "x" and saved["rows"] == {"a": {"v": 1}, "c": {"v": 3}} and "machine" in saved
    write_rows(out, {"a": {"v": 10}}, TABLE)  # a row measured again replaces its old value
    assert json.loads(out.read_text())["rows"]["a"] == {"v": 10}


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
    assert json.loads(out.read_text())["rows"] == {"a": {"v": 1}, "b": {"v": 2}, "c": {"v": 3}}
