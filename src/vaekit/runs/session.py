"""The life of a run directory, written once for `train`, `sweep`, `prior` and `study`.

    with RunSession(path, resume=..., overwrite=..., ...) as s:
        ... write the first checkpoint into s.dir ...
        s.commit(epoch)          # after each checkpoint; the first one puts the new run in place
        ...

What it guarantees:
  - one writer: ``path`` (and each member run folder of a sweep) is locked until the session ends
  - checks before anything is written: a folder that holds a run is replaced only with ``overwrite``; a folder
    that holds files vaekit would write but no run is refused (they are the user's); ``resume`` needs a
    checkpoint to resume from
  - nothing lost: a new run (``overwrite`` or not) is written into ``path/.staging`` and takes the place of what
    was there only when its first checkpoint is complete. Then the old run's files (those vaekit writes, by
    name) are moved aside and deleted, the new ones moved in, and files vaekit did not write are left where they
    are. A run that fails before its first checkpoint leaves ``path`` as it was
  - truthful stop messages: a divergence or Ctrl-C names the checkpoint that exists, or says nothing was saved
  - on ``resume``, the checkpoint read before the lock was taken is still the one there (``read_stamp``): a
    second process that saved an epoch in between would otherwise have it overwritten by older weights
  - on ``resume``, metric records past the checkpoint's epoch (written by an epoch that never committed) are
    dropped (``trim_metrics``)
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .._io import atomic_write, check_folder
from ..errors import RunError, TrainingDiverged
from .lock import LOCK, RunLock

STAGING = ".staging"  # the new run, until its first checkpoint
REPLACED = ".replaced"  # the old run's files, between the swap and their deletion
_OWN = (LOCK, STAGING, REPLACED)

# What vaekit writes into a run directory: the run's files, the explore verbs' outputs, the ONNX export and the
# token prior. `--overwrite` replaces these and only these.
RUN_OUTPUTS = (
    "config.json", "model.safetensors", "train_state.safetensors", "metrics.jsonl", "summary.json",
    "loss_curves.png", "report.html", "explorer.html", "kl_per_dim.png", "latent.csv", "latent.png",
    "manifold.png", "interpolate_*.png", "interpolate_*.gif", "traverse.png", "attribute.png",
    "reconstructions.png", "reconstructions.gif", "samples.png", "code_usage.png", "prefix_psnr.png",
    "prior_samples.png", "prior_samples.gif", "frame_psnr.png", "groups.png", "groups_psnr.png", "smile.png",
    "encoder.onnx", "decoder.onnx",
    "prior", "tensorboard",
)  # fmt: skip


def state_stamp(path: Path) -> tuple[int, int, int] | None:
    """Which version of a checkpoint file is at ``path``: (inode, size, modification time in ns), None when there
    is none. Checkpoints are replaced atomically (a new inode), so a file saved since has another stamp."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class RunSession:
    """One run directory's lock, new / overwrite / resume, first commit and stop messages (see the module doc).

    ``marker``: the file whose presence means the folder holds a run of this kind (``config.json``).
    ``state``: the checkpoint ``resume`` continues from. ``outputs``: name patterns of what vaekit writes there.
    ``members``: sub-folders that are runs of their own (a sweep's), locked too. ``staged``: False for a study,
    whose parts are runs with sessions of their own. ``resume_command``: how to continue after an interrupt.
    ``what``: "run", "sweep", "token prior" or "study", for messages. ``read_stamp``: ``state_stamp`` of the
    checkpoint a resume read before the session took the lock; a different one under the lock is refused.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        resume: bool = False,
        overwrite: bool = False,
        marker: str = "config.json",
        state: str = "train_state.safetensors",
        outputs: Sequence[str] = RUN_OUTPUTS,
        members: Sequence[str] = (),
        staged: bool = True,
        what: str = "run",
        resume_command: str = "",
        diverged_hint: str = "lower --lr or check the data",
        saved_epochs: int = 0,
        read_stamp: tuple[int, int, int] | None = None,
    ):
        self.path = Path(path)
        self.resume, self.overwrite, self.staged = resume, overwrite, staged and not resume
        self.unstaged = not staged
        self.marker, self.state, self.outputs, self.members = marker, state, tuple(outputs), tuple(members)
        self.what, self.resume_command, self.diverged_hint = what, resume_command, diverged_hint
        self.saved_epochs = saved_epochs  # epochs in the checkpoint that exists (a resumed run's, to start)
        self.read_stamp = read_stamp  # the resumed checkpoint as the caller read it, before the lock
        self.committed = resume or self.unstaged  # True once `path` holds this session's run
        self._held = contextlib.ExitStack()
        self._created: list[Path] = []  # folders this session made, removed again if nothing was committed

    @property
    def dir(self) -> Path:
        """Where to write now: the staging folder until the first commit, then the run directory."""
        return self.path / STAGING if self.staged and not self.committed else self.path

    def owned(self, name: str) -> bool:
        """Whether vaekit writes a file or folder of this name here (and may therefore replace it)."""
        return any(fnmatch.fnmatchcase(name, p) for p in self.outputs)

    def __enter__(self) -> RunSession:
        check_folder(self.path)
        self._lock(self.path)
        try:
            self._prepare()  # before the member folders exist: they would look like an earlier sweep's
            for m in self.members:
                self._lock(self.path / m)
        except BaseException:
            self._release(failed=True, nothing_written=True)
            raise
        return self

    def _lock(self, folder: Path) -> None:
        if not folder.exists():
            self._created.append(folder)
        try:
            self._held.enter_context(RunLock(folder))
        except OSError as e:
            raise RunError(f"{folder}: cannot be created ({e.strerror}); choose another --out") from None

    def _prepare(self) -> None:
        holds = (self.path / self.marker).exists()
        if self.resume:
            if not (self.path / self.state).is_file():
                raise RunError(
                    f"{self.path}: nothing to resume (no {self.state}); start a new {self.what} without --resume"
                )
            if self.read_stamp is not None and state_stamp(self.path / self.state) != self.read_stamp:
                raise RunError(
                    f"{self.path}: another process saved a checkpoint while this resume was starting; run the "
                    "command again to continue from it"
                )
            return
        if holds and not self.overwrite:
            raise RunError(
                f"{self.path} already holds a {self.what}; pass --overwrite to replace it or --resume to continue it"
            )
        if not holds:
            theirs = sorted(e.name for e in self._entries(self.path) if self.owned(e.name))
            if theirs:
                raise RunError(
                    f"{self.path} holds {', '.join(theirs[:3])} but no vaekit {self.what}; vaekit would replace "
                    "them: move them or choose another --out"
                )
        if self.staged:
            shutil.rmtree(self.path / STAGING, ignore_errors=True)  # left by a crash: never committed
            (self.path / STAGING).mkdir()

    def _entries(self, folder: Path) -> list[Path]:
        return [e for e in folder.iterdir() if e.name not in _OWN] if folder.is_dir() else []

    def commit(self, epoch: int) -> None:
        """A checkpoint of ``epoch`` epochs is complete in ``self.dir``. The first commit of a new run puts it in
        place of what ``path`` held (the old run's files are deleted only now)."""
        if not self.committed:
            self._swap()
            self.committed = True
        self.saved_epochs = epoch

    def _swap(self) -> None:
        staging, replaced = self.path / STAGING, self.path / REPLACED
        shutil.rmtree(replaced, ignore_errors=True)
        replaced.mkdir()
        _promote(staging, self.path, replaced, self.owned)
        shutil.rmtree(replaced)
        staging.rmdir()

    def trim_metrics(self, records: list[dict[str, Any]], name: str = "metrics.jsonl") -> list[dict[str, Any]]:
        """On resume: the records up to the checkpoint's epoch, written back (later lines never committed)."""
        kept = [r for r in records if r.get("epoch", 0) <= self.saved_epochs]
        text = "".join(json.dumps(r) + "\n" for r in kept)
        atomic_write(self.dir / name, lambda p: p.write_text(text))
        return kept

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: Any) -> None:
        failed = kind is not None
        where = self._where()
        self._release(failed, nothing_written=not self.committed)
        if isinstance(err, TrainingDiverged):
            raise TrainingDiverged(f"{err}; {where}; {self.diverged_hint}") from None
        if isinstance(err, KeyboardInterrupt):
            go_on = f"; continue with `{self.resume_command}`" if self.committed and self.resume_command else ""
            print(f"\ninterrupted; {where}{go_on}", file=sys.stderr)

    def _where(self) -> str:
        if self.unstaged:  # a study: its parts commit themselves
            return f"what is done is kept in {self.path}"
        if self.committed:
            return f"the last good checkpoint (epoch {self.saved_epochs}) is kept in {self.path}"
        if self._created:
            return f"nothing was saved (no {self.what} was written to {self.path})"
        return f"nothing was saved, and {self.path} is as it was"

    def _release(self, failed: bool, nothing_written: bool) -> None:
        """Unlock; after a failure that wrote nothing, remove the staging folder and the folders made for locks."""
        if failed and nothing_written and self.staged:
            shutil.rmtree(self.path / STAGING, ignore_errors=True)
        self._held.close()
        if failed and nothing_written:
            for folder in reversed(self._created):  # members first, then the run directory
                with contextlib.suppress(OSError):
                    (folder / LOCK).unlink()
                    folder.rmdir()


def _promote(new: Path, dst: Path, replaced: Path, owned: Callable[[str], bool]) -> None:
    """Move ``new``'s entries into ``dst``. First every entry of ``dst`` that vaekit wrote moves into ``replaced``
    (a folder that both have is merged instead: a sweep's member runs); entries vaekit did not write stay."""
    for e in list(dst.iterdir()):
        if e.name in _OWN or not owned(e.name):
            continue
        if not (e.is_dir() and (new / e.name).is_dir()):
            os.replace(e, replaced / e.name)
    for e in list(new.iterdir()):
        target = dst / e.name
        if e.is_dir() and target.is_dir():
            (replaced / e.name).mkdir(exist_ok=True)
            _promote(e, target, replaced / e.name, owned)
            e.rmdir()
        else:
            os.replace(e, target)
