"""Settings declared once: a dataclass field's metadata holds its help line, its domain and its flag.

``setting(default, "help", choices=..., ge=..., ...)`` is a ``dataclasses.field`` whose metadata is a
:class:`Domain`. From it come, with nothing written twice:
  - the command-line flag (``add_flags``): name, choices, help, and the group of the kind it belongs to
  - the TOML and ``config.json`` key (the field's own name)
  - the check of every value (``check``): type, choices, range, finiteness, list length, and the upper bounds
    that keep memory sane
Values from the command line arrive as text and are converted here, so that a wrong type is the same one-line
``error:`` as a value out of range. Nothing here imports PyTorch: a config is checked before any work starts.
"""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, TypeVar

from ..errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class Domain:
    """What values a setting takes. Numbers are always finite; ``None`` bounds are open."""

    help: str
    choices: tuple[Any, ...] | None = None
    ge: float | None = None  # value >= ge
    gt: float | None = None  # value > gt
    le: float | None = None  # value <= le
    lt: float | None = None  # value < lt
    length: tuple[int, int] | None = None  # lists: (min, max) number of items
    flag: str | None = None  # the flag's name when it is not the field's (``--k`` for loss.iwae_k)
    cli: bool = True  # False: filled in by vaekit (from the data), never given
    resume: bool = False  # may change when a run is resumed (its length and the speed switches)
    meta: str | None = None  # the flag's placeholder in --help
    cast: type | None = None  # the type of a setting whose default is None (int: an optional integer; tuple:
    # an optional list of integers), or of the items of a list whose default is empty (float)
    pattern: str | None = None  # text settings: a regular expression the whole value must match ...
    form: str | None = None  # ... and the same in words, for the error message
    required: bool = False  # a flag that must be given (a verb's: `--from`)

    def describe(self) -> str:
        """The domain in words, for error messages: ``>= 1 and <= 4096``."""
        parts = []
        for op, bound in ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt)):
            if bound is not None:
                parts.append(f"{op} {_num(bound)}")
        return " and ".join(parts)


def setting(default: Any, help: str, **domain: Any) -> Any:
    """A dataclass field with a default, one line of help and its domain (see :class:`Domain`)."""
    d = Domain(help, **domain)
    assert not isinstance(default, list | dict), "a list default is shared between instances: use a tuple"
    return field(default=default, metadata={"domain": d})


def domain_of(f: Field) -> Domain:
    return f.metadata["domain"]  # a KeyError here is a field declared without setting()


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def default_of(f: Field) -> Any:
    if f.default is not MISSING:
        return f.default
    assert f.default_factory is not MISSING, f"field {f.name} has no default"
    return f.default_factory()


def coerce(name: str, value: Any, default: Any, cast: type | None = None) -> Any:
    """``value`` (from TOML, JSON or the command line) as the type of ``default`` (or ``cast``, for a setting
    whose default is None), or a one-line ConfigError."""
    if default is None and cast is not None and value is not None:
        default = cast()
    if isinstance(default, tuple):
        floats = cast is float or (bool(default) and isinstance(default[0], float))
        if isinstance(value, str):  # "512,256", "8x8", "-2,0,2" or "" for none
            value = [v.strip() for v in re.split("," if floats else "[,x]", value)] if value.strip() else []
        items = [(_float if floats else _int)(v) for v in value] if isinstance(value, list | tuple) else [None]
        if any(v is None for v in items):
            raise ConfigError(f"{name} must be a list of {'numbers' if floats else 'integers'}, got {value!r}")
        return tuple(items)
    if isinstance(default, bool):
        if isinstance(value, str) and value in ("on", "off", "true", "false"):
            return value in ("on", "true")
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        number = _int(value)
        if number is None:
            raise ConfigError(f"{name} must be an integer, got {value!r}")
        return number
    if isinstance(default, float):
        real = _float(value)
        if real is None:
            raise ConfigError(f"{name} must be a number, got {value!r}")
        return real
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{name} must be a string, got {value!r}")
    return value


def _float(v: Any) -> float | None:
    """``v`` as a float (numbers and number text), or None. NaN and infinity pass here; ``check`` refuses them."""
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _int(v: Any) -> int | None:
    """``v`` as an integer (whole floats and integer text included), or None."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and v.strip().lstrip("+-").isdigit():
        return int(v.strip())
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def check(name: str, value: Any, d: Domain) -> None:
    """Raise a one-line ConfigError when ``value`` lies outside the domain ``d``."""
    if d.choices is not None and value not in d.choices:
        options = ", ".join(str(c) for c in d.choices)
        raise ConfigError(f"{name} must be one of {options}; got {value!r}")
    if d.pattern is not None and isinstance(value, str) and not re.fullmatch(d.pattern, value):
        raise ConfigError(f"{name} must be {d.form}, got {value!r}")
    items = value if isinstance(value, tuple) else (value,)
    if isinstance(value, tuple) and d.length is not None:
        lo, hi = d.length
        if not lo <= len(value) <= hi:
            count = f"{lo}" if lo == hi else f"{lo} to {hi}"
            raise ConfigError(f"{name} takes {count} values, got {list(value)}")
    for v in items:
        if isinstance(v, bool) or not isinstance(v, int | float):
            continue
        if not math.isfinite(v):
            raise ConfigError(f"{name} must be a finite number, got {v}")
        if (
            (d.ge is not None and not v >= d.ge)
            or (d.gt is not None and not v > d.gt)
            or (d.le is not None and not v <= d.le)
            or (d.lt is not None and not v < d.lt)
        ):
            shown = list(value) if isinstance(value, tuple) else v
            each = "each value of " if isinstance(value, tuple) else ""
            raise ConfigError(f"{each}{name} must be {d.describe()}, got {shown}")


def setting_name(section: str | None, f: Field) -> str:
    """How messages name a setting: ``train.epochs`` in a config table, ``--steps`` for a verb's flag (section
    None)."""
    if section is None:
        name = flag_name(f)
        return f"-{name}" if len(name) == 1 else f"--{name}"
    return f"{section}.{f.name}"


def check_all(section: str | None, obj: Any) -> None:
    """Check every field of the dataclass ``obj`` against its domain."""
    for f in fields(obj):
        check(setting_name(section, f), getattr(obj, f.name), domain_of(f))


def from_table(cls: type[T], values: Any, section: str | None) -> T:
    """An instance of the dataclass ``cls`` from a table of settings: known keys only, each converted to its
    default's type; a one-line ConfigError otherwise. The values are not yet checked against their domains."""
    if not isinstance(values, dict):
        raise ConfigError(f"[{section}] must be a table of settings")
    own = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(own))
    if unknown:
        raise ConfigError(f"unknown setting {section}.{unknown[0]}; known: {', '.join(sorted(own))}")
    return cls(
        **{k: coerce(setting_name(section, own[k]), v, default_of(own[k]), domain_of(own[k]).cast)
           for k, v in values.items()}
    )  # fmt: skip


def flag_name(f: Field) -> str:
    """The command-line flag of a field, without dashes: ``latent_dim`` -> ``latent-dim``."""
    return (domain_of(f).flag or f.name).replace("_", "-")


def dest(f: Field) -> str:
    """The argparse destination of a field's flag."""
    return flag_name(f).replace("-", "_")


def add_flag(group: argparse._ActionsContainer, f: Field) -> None:
    """Add the flag of field ``f`` to ``group``. Values stay text here; ``coerce`` and ``check`` judge them, so
    that a wrong type and a value out of range give the same one-line error."""
    d, default = domain_of(f), default_of(f)
    shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
    names = [f"-{flag_name(f)}", f"--{flag_name(f)}"] if len(flag_name(f)) == 1 else [f"--{flag_name(f)}"]
    if isinstance(default, bool) and default is False:
        group.add_argument(*names, dest=dest(f), action="store_const", const=True, help=d.help)
        return
    if isinstance(default, bool):
        shown = "on" if default else "off"
    text = f"{d.help} (default {shown})" if shown not in (None, "") else d.help
    kw: dict[str, Any] = {"dest": dest(f), "help": text.replace("%", "%%"), "metavar": d.meta, "required": d.required}
    if isinstance(default, bool):
        kw["metavar"] = "on|off"
    elif d.choices is not None and not isinstance(default, tuple):
        kw["metavar"] = "|".join(map(str, d.choices))
    group.add_argument(*names, **kw)


__all__ = [
    "Domain",
    "add_flag",
    "check",
    "check_all",
    "coerce",
    "default_of",
    "dest",
    "domain_of",
    "flag_name",
    "from_table",
    "setting",
]
