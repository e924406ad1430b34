"""Run configuration: dataclasses for model, loss, data and training, loadable from TOML and JSON."""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError

KINDS = ("gaussian", "vq", "fsq", "mgvq")
ARCHS = ("mlp", "conv")
NETS = ("resnet", "plain")
DOWNSAMPLE = (4, 8, 16)
ENCODER_PATHS = ("shared", "split", "dvae")
ACTIVATIONS = ("relu", "tanh")
OBJECTIVES = ("elbo", "iwae")
LIKELIHOODS = ("bernoulli", "gaussian")
ANNEALS = ("none", "linear", "sigmoid", "cyclical")
BINARIZE = ("none", "dynamic", "static")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")
STEPS = ("auto", "fused", "autograd")
GRAPHS = ("auto", "on", "off")
LR_SCHEDULES = ("constant", "iwae")


@dataclass
class ModelConfig:
    kind: str = "gaussian"  # gaussian (VAE) | vq | fsq | mgvq (conv tokenizers with discrete latents)
    preset: str = "classic"  # named architecture: classic (784-400-20), tiny (< 300k parameters), or the kind
    input_shape: tuple[int, ...] = (28, 28)  # image shape (H, W); filled in from the data
    hidden: tuple[int, ...] = (400,)  # encoder hidden widths; the decoder mirrors them
    activation: str = "relu"  # nonlinearity between the dense layers: relu | tanh (the IWAE paper's models)
    latent_dim: int = 20  # size of z
    likelihood: str = "bernoulli"  # p(x|z): bernoulli on logits, or gaussian with fixed sigma
    sigma: float = 1.0  # decoder standard deviation for the gaussian likelihood
    # Gaussian VAE variants
    arch: str = "mlp"  # mlp | conv (stride-2 convolutions, then `hidden` dense layers; mirrored decoder)
    # conv layouts (conv VAE and tokenizers)
    net: str = "resnet"  # resnet (group norm, SiLU, residual blocks; any H, W, C) | plain (ReLU stack, grey, f = 4)
    downsample: int = 4  # resnet: spatial reduction f = 4 | 8 | 16; a tokenizer's grid is (H/f) x (W/f)
    width: int = 32  # resnet: channels after the first stride-2 convolution, doubled after each further one
    res_blocks: int = 1  # resnet: residual blocks at the lowest resolution, in the encoder and in the decoder
    channels: tuple[int, ...] = (32, 64)  # plain conv VAE: channels of the two stride-2 convolutions
    encoder_paths: str = "shared"  # shared: one trunk, a [mu, logvar] head | split: separate mu and logvar networks
    # | dvae: the dual-path encoder, path A on x mixed with path B on a masked x while training (A alone after)
    dvae_mask: float = 0.3  # dvae: probability that path B's input drops a pixel
    dvae_ramp: int = 50  # dvae: epochs over which alpha = min(1, epoch / dvae_ramp) rises from 0 (path B) to 1 (A)
    posterior_sigma: float = 0.0  # > 0: q(z|x) = N(mu(x), posterior_sigma^2 I), sigma fixed, only mu learned
    # tokenizers (kind vq / fsq / mgvq)
    codebook_size: int = 512  # codes per codebook (vq, mgvq: per group)
    code_dim: int = 64  # channels of each grid vector (vq, mgvq); fsq uses len(levels)
    levels: tuple[int, ...] = (8, 5, 5, 5)  # fsq: levels per channel (8,5,5,5 = 1000 codes)
    groups: int = 2  # mgvq: codebooks per token
    codebook_update: str = "loss"  # vq: loss (codebook loss) | ema (moving averages, decay 0.99)
    commitment: float = 0.25  # vq: beta_c, weight of the commitment loss
    dead_code_restart: bool = True  # vq: re-seed codes unused for dead_after steps
    dead_after: int = 100  # vq: steps without use before a code counts as dead


@dataclass
class LossConfig:
    beta: float = 1.0  # weight of the KL term (at the end of annealing)
    anneal: str = "none"  # beta schedule: none | linear | sigmoid | cyclical
    anneal_fraction: float = 0.3  # linear/sigmoid: fraction of all steps over which beta ramps up
    cycles: int = 4  # cyclical: number of cycles over training
    cycle_ratio: float = 0.5  # cyclical: fraction of each cycle spent ramping up
    free_bits: float = 0.0  # minimum nats per latent dimension (on the batch-averaged KL); 0 = off
    objective: str = "elbo"  # elbo (the beta-ELBO above) | iwae (the importance-weighted bound, Burda et al. 2015)
    iwae_k: int = 5  # iwae: importance samples per image


@dataclass
class DataConfig:
    dataset: str = "mnist"  # mnist | fashion-mnist | path to .npz / IDX / PNG folder
    data_dir: str | None = None  # folder searched first for the dataset's files
    binarize: str = "none"  # none (targets in [0,1]) | dynamic (resampled each batch) | static (once)
    image_size: int = 0  # image folders: resize the shorter side and centre-crop to S x S (0 = as stored)
    channels: int = 0  # 1 (grey) or 3 (colour); 0 = as the data is
    skip_bad_images: bool = False  # image folders: leave out files that cannot be decoded, with a warning


@dataclass
class TrainConfig:
    epochs: int = 10  # passes over the training set
    max_steps: int = 0  # > 0: stop after this many optimisation steps (a run shorter than an epoch); 0 = no limit
    batch_size: int = 128  # images per step
    lr: float = 1e-3  # Adam learning rate (the peak, under a schedule)
    lr_schedule: str = "constant"  # constant | iwae: Burda et al.'s 8 stages, 3^i passes at lr * 10^(-i/7)
    # (i = 0..7, 3,280 passes in all), stretched over `epochs` in the same proportions
    adam_eps: float = 1e-8  # Adam's epsilon (the IWAE paper: 1e-4)
    seed: int = 0  # seeds initialisation, shuffling and reparameterisation noise
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "auto"  # auto | fp32 | bf16 (auto = bf16 where the hardware is fast at it)
    step: str = "auto"  # auto | fused | autograd (auto = fused where the model allows it)
    graph: str = "auto"  # auto | on | off: replay the fused step as a CUDA graph (auto = on where it applies)


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], origin: str = "config") -> RunConfig:
        cfg = cls()
        update(cfg, d, origin)
        return cfg

    def validate(self) -> RunConfig:
        """Raise ConfigError for values no run can use."""
        _choice("model.kind", self.model.kind, KINDS)
        _choice("model.codebook_update", self.model.codebook_update, ("loss", "ema"))
        _positive("model.codebook_size", self.model.codebook_size)
        _positive("model.groups", self.model.groups)
        if self.model.kind == "fsq" and (not self.model.levels or min(self.model.levels) < 2):
            raise ConfigError(f"model.levels must be integers >= 2, got {list(self.model.levels)}")
        if self.model.kind == "mgvq" and self.model.code_dim % self.model.groups:
            raise ConfigError(f"model.code_dim {self.model.code_dim} must split evenly into {self.model.groups} groups")
        _choice("model.likelihood", self.model.likelihood, LIKELIHOODS)
        _choice("model.arch", self.model.arch, ARCHS)
        _choice("model.net", self.model.net, NETS)
        if self.model.downsample not in DOWNSAMPLE:
            raise ConfigError(
                f"model.downsample must be one of {', '.join(map(str, DOWNSAMPLE))}; got {self.model.downsample}"
            )
        _positive("model.width", self.model.width)
        if self.model.res_blocks < 0:
            raise ConfigError(f"model.res_blocks must be >= 0, got {self.model.res_blocks}")
        if self.model.encoder_paths == "dual":
            raise ConfigError("model.encoder_paths dual is now called split (separate mu and logvar networks)")
        _choice("model.encoder_paths", self.model.encoder_paths, ENCODER_PATHS)
        _choice("model.activation", self.model.activation, ACTIVATIONS)
        if not 0 <= self.model.dvae_mask < 1:
            raise ConfigError(f"model.dvae_mask must lie in [0, 1), got {self.model.dvae_mask}")
        if self.model.dvae_ramp < 0:
            raise ConfigError(f"model.dvae_ramp must be >= 0 (0: path A throughout), got {self.model.dvae_ramp}")
        if len(self.model.channels) != 2 or min(self.model.channels) <= 0:
            raise ConfigError(f"model.channels must be two positive widths, got {list(self.model.channels)}")
        if self.model.posterior_sigma < 0:
            raise ConfigError(f"model.posterior_sigma must be >= 0 (0 = learned), got {self.model.posterior_sigma}")
        if self.model.posterior_sigma > 0 and self.model.encoder_paths == "split":
            raise ConfigError(
                "a fixed posterior sigma leaves no log-variance path; use encoder_paths = shared or posterior_sigma = 0"
            )
        if self.model.encoder_paths == "dvae" and (self.model.kind != "gaussian" or self.model.posterior_sigma > 0):
            raise ConfigError("the dual-path (dvae) encoder is for Gaussian VAEs with a learned posterior sigma")
        _choice("loss.anneal", self.loss.anneal, ANNEALS)
        _choice("loss.objective", self.loss.objective, OBJECTIVES)
        _positive("loss.iwae_k", self.loss.iwae_k)
        loss = self.loss
        if loss.objective == "iwae" and (loss.beta != 1 or loss.anneal != "none" or loss.free_bits > 0):
            raise ConfigError("the iwae objective bounds log p(x): use it with beta 1, no annealing and no free bits")
        if loss.objective == "iwae" and self.model.kind != "gaussian":
            raise ConfigError("the iwae objective trains Gaussian VAEs; tokenizers have no continuous posterior")
        _choice("data.binarize", self.data.binarize, BINARIZE)
        if self.data.image_size < 0 or self.data.channels not in (0, 1, 3):
            raise ConfigError("data.image_size must be >= 0 and data.channels 1 or 3 (0 = as the data is)")
        _choice("train.device", self.train.device, DEVICES)
        _choice("train.precision", self.train.precision, PRECISIONS)
        _choice("train.step", self.train.step, STEPS)
        _choice("train.graph", self.train.graph, GRAPHS)
        _choice("train.lr_schedule", self.train.lr_schedule, LR_SCHEDULES)
        _positive("train.adam_eps", self.train.adam_eps)
        _positive("model.latent_dim", self.model.latent_dim)
        _positive("train.epochs", self.train.epochs)
        if self.train.max_steps < 0:
            raise ConfigError(f"train.max_steps must be >= 0 (0 = no limit), got {self.train.max_steps}")
        _positive("train.batch_size", self.train.batch_size)
        _positive("train.lr", self.train.lr)
        _positive("model.sigma", self.model.sigma)
        _positive("loss.cycles", self.loss.cycles)
        if any(h <= 0 for h in self.model.hidden):
            raise ConfigError(f"model.hidden must be positive widths, got {list(self.model.hidden)}")
        if self.loss.beta < 0 or self.loss.free_bits < 0:
            raise ConfigError("loss.beta and loss.free_bits must be >= 0")
        if not 0 < self.loss.anneal_fraction <= 1 or not 0 < self.loss.cycle_ratio <= 1:
            raise ConfigError("loss.anneal_fraction and loss.cycle_ratio must lie in (0, 1]")
        return self


def _choice(name: str, value: str, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ConfigError(f"{name} must be one of {', '.join(options)}; got {value!r}")


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise ConfigError(f"{name} must be > 0, got {value}")


def _coerce(name: str, value: Any, current: Any) -> Any:
    if isinstance(current, tuple):
        if isinstance(value, str):
            value = [v for v in value.replace("x", ",").split(",") if v.strip()]
        try:
            return tuple(int(v) for v in value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a list of integers, got {value!r}") from None
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
        return value
    if isinstance(current, int) and not isinstance(current, bool):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{name} must be an integer, got {value!r}")
        return value
    if isinstance(current, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{name} must be a number, got {value!r}")
        return float(value)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{name} must be a string, got {value!r}")
    return value


def update(cfg: RunConfig, d: dict[str, Any], origin: str = "config") -> RunConfig:
    """Apply a nested dict ``{"model": {...}, "train": {...}}`` onto ``cfg`` with type checks."""
    sections = {f.name: getattr(cfg, f.name) for f in fields(cfg)}
    for sec, values in d.items():
        if sec not in sections:
            raise ConfigError(f"{origin}: unknown section [{sec}]; expected one of {', '.join(sections)}")
        if not isinstance(values, dict):
            raise ConfigError(f"{origin}: [{sec}] must be a table of settings")
        obj = sections[sec]
        known = {f.name for f in fields(obj)}
        for key, value in values.items():
            if key not in known:
                raise ConfigError(f"{origin}: unknown setting {sec}.{key}; known: {', '.join(sorted(known))}")
            setattr(obj, key, _coerce(f"{sec}.{key}", value, getattr(obj, key)))
    return cfg


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file into a nested dict."""
    p = Path(path)
    try:
        return tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: invalid TOML ({e})") from None


def load_json_config(path: str | Path) -> RunConfig:
    """Read a run's ``config.json``: a one-line ConfigError for a file that is missing, not UTF-8, not JSON,
    not a table of the known sections, or holds a value no run can use."""
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
    if isinstance(data.get("model"), dict) and "net" not in data["model"]:
        data["model"]["net"] = "plain"  # written before the resnet layout: the conv layers it was trained with
    if isinstance(data.get("model"), dict) and data["model"].get("encoder_paths") == "dual":
        data["model"]["encoder_paths"] = "split"  # the earlier name of separate mu and logvar networks
    cfg = RunConfig.from_dict(data, str(p))
    if len(cfg.model.input_shape) not in (1, 2, 3) or min(cfg.model.input_shape, default=0) < 1:
        raise ConfigError(f"{p}: model.input_shape must be 1 to 3 positive sizes, got {list(cfg.model.input_shape)}")
    try:
        return cfg.validate()
    except ConfigError as e:
        raise ConfigError(f"{p}: {e}") from None


__all__ = [
    "DataConfig",
    "LossConfig",
    "ModelConfig",
    "RunConfig",
    "TrainConfig",
    "load_json_config",
    "load_toml",
    "update",
]
