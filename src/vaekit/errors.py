"""Errors that the CLI turns into one line and exit code 2."""

from __future__ import annotations


def first_line(e: BaseException) -> str:
    """An exception's message as one short line (its type's name when it has none): errors reach a user as one
    line."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


class VaekitError(Exception):
    """A problem the user can fix; the message says what was wrong and how to fix it."""


class DataError(VaekitError):
    """A data file is missing, truncated, malformed or out of range."""


class ConfigError(VaekitError):
    """A configuration value or command-line option is invalid."""


class RunError(VaekitError):
    """A run directory is missing, incomplete or would be overwritten."""


class TrainingDiverged(VaekitError):
    """The loss became NaN or infinite; the last good checkpoint was kept."""
