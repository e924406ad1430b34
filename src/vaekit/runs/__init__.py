"""Run directories: their files, atomic checkpoint I/O, opening a finished run."""

from .checkpoint import load_model
from .open import Run, open_run

__all__ = ["Run", "load_model", "open_run"]
