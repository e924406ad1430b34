"""Atomic writes: all or nothing, and ordinary file permissions."""

import os
import stat

import pytest

from vaekit._io import atomic_write, atomic_write_bytes
from vaekit.errors import RunError


def test_new_files_get_plain_open_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        p = atomic_write_bytes(tmp_path / "a.bin", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == 0o644 and p.read_bytes() == b"x"


def test_replacing_keeps_the_mode_and_a_failed_write_keeps_the_old_file(tmp_path):
    p = tmp_path / "b.txt"
    p.write_text("old")
    p.chmod(0o640)
    atomic_write_bytes(p, b"new")
    assert stat.S_IMODE(p.stat().st_mode) == 0o640 and p.read_text() == "new"

    def broken(path):
        path.write_text("half")
        raise OSError("disk full")

    with pytest.raises(RunError, match=r"cannot write .*b.txt \(disk full\)"):  # one line for the user
        atomic_write(p, broken)
    assert p.read_text() == "new" and sorted(f.name for f in tmp_path.iterdir()) == ["b.txt"]
