"""One writer per run directory: an exclusive lock that the operating system releases when its process dies."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from ..errors import RunError

LOCK = ".lock"  # holds the PID of the process that writes into the directory


class RunLock:
    """``with RunLock(run_dir):`` — this process is the only one writing into ``run_dir``.

    A second process (or a second lock in this one) gets a one-line RunError naming the holder's PID. The lock
    is an ``flock`` on ``run_dir/.lock``: it goes with the process, so a crash or a kill never leaves the
    directory locked. The directory is created if needed.
    """

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / LOCK
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunError(
                f"{self.path.parent} is in use by process {holder}; wait for it to finish or stop it"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def writer_lock(out: str | Path, run_dir: str | Path) -> contextlib.AbstractContextManager:
    """The run directory's lock when a verb writes into it (nothing to hold for a folder of the user's)."""
    writes_into_run = Path(run_dir).is_dir() and Path(out).resolve() == Path(run_dir).resolve()
    return RunLock(run_dir) if writes_into_run else contextlib.nullcontext()
