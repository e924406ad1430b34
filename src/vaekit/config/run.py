"""A run's configuration: the model (one config class per kind, see ``kinds.py``), the loss, the data and the
training settings, loadable from TOML and ``config.json``. Every field is declared once with ``setting()``:
its help, its domain and its flag (see ``fields.py``)."""

from __future__ import annotations

import json
import tomllib
from dataclasses import Field, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .fields import check_all, coerce, default_of, domain_of, setting
from .kinds import ModelConfig, config_class, kinds_of, model_config

OBJECTIVES = ("elbo", "iwae")
ANNEALS = ("none", "linear", "sigmoid", "cyclical")
BINARIZE = ("none", "dynamic", "static")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")
STEPS = ("auto", "fused", "autograd")
GRAPHS = ("auto", "on", "off")
LR_SCHEDULES = ("constant", "cosine", "iwae")


@dataclass
class LossConfig:
    TITLE = "loss"

    beta: float = setting(1.0, "weight of the KL term (at the end of annealing)", ge=0, le=1e6)
    anneal: str = setting("none", "beta schedule", choices=ANNEALS)
    anneal_fraction: float = setting(0.3, "linear/sigmoid: fraction of all steps over which beta ramps up",
                                     gt=0, le=1)  # fmt: skip
    cycles: int = setting(4, "cyclical: number of cycles over training", ge=1, le=10**6)
    cycle_ratio: float = setting(0.5, "cyclical: fraction of each cycle spent ramping up", gt=0, le=1)
    free_bits: float = setting(0.0, "minimum nats per latent dimension (on the batch-averaged KL); 0 = off",
                               ge=0, le=1e6)  # fmt: skip
    objective: str = setting("elbo", "elbo (the beta-ELBO), or iwae: the importance-weighted bound "
                             "(Burda et al. 2015)", choices=OBJECTIVES)  # fmt: skip
    iwae_k: int = setting(5, "iwae: importance samples per image", flag="k", ge=1, le=10000)


@dataclass
class DataConfig:
    TITLE = "data"

    dataset: str = setting("mnist", "mnist, fashion-mnist, emoji, or a path to .npz / IDX / an image folder",
                           meta="NAME|PATH")  # fmt: skip
    data_dir: str | None = setting(None, "folder searched first for the dataset's files", meta="DIR")
    binarize: str = setting("none", "none (targets in [0,1]), dynamic (resampled each batch) or static (once)",
                            choices=BINARIZE)  # fmt: skip
    image_size: int = setting(0, "image folders: resize the shorter side and centre-crop to S x S (0 = as stored)",
                              ge=0, le=4096)  # fmt: skip
    channels: int = setting(0, "1 (grey) or 3 (colour); 0 = as the data is", choices=(0, 1, 3))
    skip_bad_images: bool = setting(False, "image folders: leave out files that cannot be decoded, with a warning")
    frames: int = setting(0, "clips: keep the first T frames of each (0 = as stored); shorter clips are refused",
                          ge=0, le=1024)  # fmt: skip


@dataclass
class TrainConfig:
    TITLE = "training"

    epochs: int = setting(10, "passes over the training set", ge=1, le=10**7, resume=True)
    max_steps: int = setting(0, "> 0: stop after this many optimisation steps; 0 = no limit", ge=0, le=10**12,
                             resume=True)  # fmt: skip
    batch_size: int = setting(128, "images per step", ge=1, le=2**20)
    lr: float = setting(1e-3, "Adam learning rate (the peak, under a schedule)", gt=0, le=1e3)
    lr_schedule: str = setting("constant", "constant; cosine: lr * (1 + cos(pi e / epochs)) / 2 in epoch e; or "
                               "iwae: Burda et al.'s 8 stages (3^i passes at lr * 10^(-i/7)), stretched over "
                               "--epochs", choices=LR_SCHEDULES)  # fmt: skip
    adam_eps: float = setting(1e-8, "Adam's epsilon (the IWAE paper: 1e-4)", gt=0, le=1)
    seed: int = setting(0, "seeds initialisation, shuffling and noise", ge=0, le=2**63 - 1)
    device: str = setting("auto", "where to train", choices=DEVICES, resume=True)
    precision: str = setting("auto", "fp32, or bf16 products (auto: bf16 where the hardware is fast at it)",
                             choices=PRECISIONS, resume=True)  # fmt: skip
    step: str = setting("auto", "fused (hand-derived backward) or autograd (auto: fused where the model allows)",
                        choices=STEPS, resume=True)  # fmt: skip
    graph: str = setting("auto", "replay the fused step as a CUDA graph (auto: on where it applies)",
                         choices=GRAPHS, resume=True)  # fmt: skip


SECTIONS = ("model", "loss", "data", "train")


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=lambda: model_config("gaussian"))
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], origin: str = "config", written_by_vaekit: bool = False) -> RunConfig:
        cfg = cls()
        update(cfg, d, origin, written_by_vaekit)
        return cfg

    def validate(self) -> RunConfig:
        """Raise a one-line ConfigError for values no run can use: each field against its domain, then the rules
        that tie fields together. Needs no PyTorch, so a bad value is refused before any work starts."""
        self.model.validate()
        for name in SECTIONS[1:]:
            check_all(name, getattr(self, name))
        loss = self.loss
        if loss.objective == "iwae" and (loss.beta != 1 or loss.anneal != "none" or loss.free_bits > 0):
            raise ConfigError("the iwae objective bounds log p(x): use it with beta 1, no annealing and no free bits")
        if loss.objective == "iwae" and self.model.kind != "gaussian":
            raise ConfigError("the iwae objective trains Gaussian VAEs; tokenizers have no continuous posterior")
        return self


def update(cfg: RunConfig, d: dict[str, Any], origin: str = "config", written_by_vaekit: bool = False) -> RunConfig:
    """Apply a nested dict ``{"model": {...}, "train": {...}}`` onto ``cfg`` with type checks.

    A ``model.kind`` that differs from ``cfg.model``'s starts that kind's defaults. A model setting of another
    kind is an error, except in a ``config.json`` that vaekit wrote (``written_by_vaekit``): before each kind had
    its own config, every run's model table held every kind's settings, and those of other kinds are dropped.
    """
    for sec, values in d.items():
        if sec not in SECTIONS:
            raise ConfigError(f"{origin}: unknown section [{sec}]; expected one of {', '.join(SECTIONS)}")
        if not isinstance(values, dict):
            raise ConfigError(f"{origin}: [{sec}] must be a table of settings")
        if sec == "model" and "kind" in values and values["kind"] != cfg.model.kind:
            try:
                config_class(values["kind"])
            except ConfigError as e:
                raise ConfigError(f"{origin}: {e}") from None
            cfg.model = model_config(values["kind"])
        obj = getattr(cfg, sec)
        own = {f.name: f for f in fields(obj)}
        for key, value in values.items():
            if key not in own:
                others = kinds_of(key) if sec == "model" else ()
                if others and written_by_vaekit:
                    continue
                if others:
                    raise ConfigError(
                        f"{origin}: model.{key} is a setting of --model {'|'.join(others)}, "
                        f"not of {cfg.model.kind}; leave it out or change the model"
                    )
                raise ConfigError(f"{origin}: unknown setting {sec}.{key}; known: {', '.join(sorted(own))}")
            setattr(obj, key, coerce(f"{sec}.{key}", value, default_of(own[key]), domain_of(own[key]).cast))
    return cfg


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file into a nested dict; a one-line ConfigError when it cannot be read."""
    p = Path(path)
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a folder; --config takes a TOML file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text; save the config file as UTF-8") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot be read ({e.strerror}); check its permissions") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: invalid TOML ({e})") from None


def load_json_config(path: str | Path) -> RunConfig:
    """Read a run's ``config.json``, whichever vaekit version wrote it: a one-line ConfigError for a file that is
    missing, not UTF-8, not JSON, not a table of the known sections, or holds a value no run can use."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: not found; is this a run directory?") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        reason = "not UTF-8 text" if isinstance(e, UnicodeDecodeError) else f"invalid JSON ({e})"
        raise ConfigError(f"{p}: {reason}") from None
    except OSError as e:
        raise ConfigError(f"{p}: unreadable ({e.strerror})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a JSON object of [model] [loss] [data] [train] settings")
    model = data.get("model")
    if isinstance(model, dict):
        if "net" not in model:
            model["net"] = "plain"  # written before the resnet layout: the conv layers it was trained with
        if model.get("encoder_paths") == "dual":
            model["encoder_paths"] = "split"  # the earlier name of separate mu and logvar networks
        model.setdefault("kind", "gaussian")  # the model table of the first versions had no kind
    cfg = RunConfig.from_dict(data, str(p), written_by_vaekit=True)
    try:
        return cfg.validate()
    except ConfigError as e:
        raise ConfigError(f"{p}: {e}") from None


def run_settings() -> list[tuple[str, str, list[Field]]]:
    """Every setting of a run, grouped for ``--help``: (section, heading, fields). The model table comes first, the
    settings every kind shares, then each kind's own; a field that several kinds share appears once."""
    from .kinds import MODEL_CONFIGS
    from .model import ImageModelConfig

    seen = {f.name for f in fields(ImageModelConfig)}  # a field that several kinds share is listed once
    first = MODEL_CONFIGS[0]
    groups = [("model", "model (every kind)", [f for f in fields(first) if f.name in seen])]
    for cls in MODEL_CONFIGS:
        own = [f for f in fields(cls) if f.name not in seen]
        groups.append(("model", cls.TITLE, own))
        seen |= {f.name for f in own}
    for sec, table in (("loss", LossConfig), ("data", DataConfig), ("train", TrainConfig)):
        groups.append((sec, table.TITLE, list(fields(table))))
    return [(sec, title, [f for f in fs if domain_of(f).cli]) for sec, title, fs in groups]
