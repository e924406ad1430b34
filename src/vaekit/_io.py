"""Atomic file writes: a temp file in the same folder, fsync, then rename."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import RunError


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` then rename the temp file onto ``path``; returns ``path``.

    A crash at any point leaves either the old file or the new one, never a torn one. The file gets the
    permissions a plain ``open()`` would give it (or keeps those of the file it replaces), not mkstemp's 0600.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise RunError(_cannot_write(path, e)) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        os.chmod(tmp_path, path.stat().st_mode & 0o777 if path.exists() else _open_mode())
        write(tmp_path)
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except OSError as e:  # a full disk, a folder where the file should go, a file system that went read-only
        raise RunError(_cannot_write(path, e)) from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path


def _cannot_write(path: Path, e: OSError) -> str:
    """A file-system fault while writing ``path``, as the one line a user sees (nothing half-written is left)."""
    fix = {errno.ENOSPC: "free some space", errno.EDQUOT: "free some space", errno.EISDIR: "remove that folder"}
    return (
        f"cannot write {path} ({e.strerror or e}); "
        f"{fix.get(e.errno or 0, 'check the folder exists and is writable, or choose another --out')}"
    )


def _open_mode() -> int:
    """0o666 minus the process umask: what ``open(path, "w")`` would create."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda p: p.write_bytes(data))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    text = json.dumps(obj, indent=2, sort_keys=False) + "\n"
    return atomic_write(path, lambda p: p.write_text(text))


def refuse_to_replace(paths: list[Path], overwrite: bool) -> None:
    """A one-line error when any of ``paths`` exists and the user did not pass ``--overwrite``: a verb never
    replaces a file of the user's without being told. Called before any work."""
    existing = [p for p in paths if p.exists() or p.is_symlink()]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise RunError(f"{existing[0]} exists{more}; pass --overwrite to replace it, or choose another --out")
    for p in existing:
        if p.is_dir():
            raise RunError(f"{p} is a folder; --out names the file to write")


def check_folder(path: str | os.PathLike) -> None:
    """A one-line error, before any work, when ``path`` cannot be a folder to write into: it (or the first part
    of it that exists) is a file, or that part is not writable."""
    for p in (Path(path), *Path(path).parents):
        if p.exists():
            if not p.is_dir():
                raise RunError(f"{p} is a file, not a folder; choose another --out")
            if not os.access(p, os.W_OK | os.X_OK):
                raise RunError(f"{p}: cannot write here (permission denied); choose another --out")
            return
