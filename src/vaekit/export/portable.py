"""Torch-free inference: trained Gaussian VAEs and tokenizers evaluated with NumPy alone.

``load(run_dir)`` reads the run's ``config.json`` and ``model.safetensors`` (safetensors' NumPy loader: no
torch, no pickle) and returns a ``NumpyVAE`` or a ``NumpyTokenizer``; both evaluate the same layer plans
the PyTorch models were built from (``vaekit.arch``), so every Gaussian variant — MLP (relu, tanh) or conv,
shared, split or dvae encoder (its path A), fixed posterior sigma — and the vq / fsq / mgvq tokenizers run
here. Parity with PyTorch is tested on each. This module imports neither torch nor anything that does.

    vae = load("runs/classic-mnist-...")
    mu, logvar = vae.encode(images)          # images (B, H, W) or (B, H*W), floats in [0, 1]
    grid = vae.decode_images(mu)             # (B, H, W) in [0, 1]
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from ..arch import Plan, check_conv_shape, decoder_plan, encoder_plan, tokenizer_decoder, tokenizer_encoder
from ..config import GaussianConfig, ImageModelConfig, ModelConfig, TokenizerConfig, load_json_config
from ..errors import ConfigError, DataError, RunError, first_line


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """4x4 convolution, stride 2, padding 1: (B, C, H, W) -> (B, O, H/2, W/2); w is (O, C, 4, 4)."""
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, (4, 4), axis=(2, 3))[:, :, ::2, ::2]  # (B,C,H/2,W/2,4,4)
    return np.einsum("bchwij,ocij->bohw", windows, w, optimize=True) + b[None, :, None, None]


def _conv_transpose(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """4x4 transposed convolution, stride 2, padding 1: (B, C, H, W) -> (B, O, 2H, 2W); w is (C, O, 4, 4)."""
    bsz, _, h, wd = x.shape
    full = np.zeros((bsz, w.shape[1], 2 * h + 2, 2 * wd + 2), dtype=x.dtype)
    for i in range(4):  # each kernel tap scatters the input onto every other output position
        for j in range(4):
            full[:, :, i : i + 2 * h : 2, j : j + 2 * wd : 2] += np.einsum("bchw,co->bohw", x, w[:, :, i, j])
    return full[:, :, 1:-1, 1:-1] + b[None, :, None, None]


def _conv3(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """3x3 convolution, stride 1, padding 1: (B, C, H, W) -> (B, O, H, W)."""
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))  # (B, C, H, W, 3, 3)
    return np.einsum("bchwij,ocij->bohw", windows, w, optimize=True) + b[None, :, None, None]


def run_plan(params: dict[str, np.ndarray], plan: Plan, prefix: str, h: np.ndarray) -> np.ndarray:
    """Evaluate a layer plan (``vaekit.arch``) on a batch, reading layer i's tensors as ``PREFIX.i.*``."""
    for i, layer in enumerate(plan):
        key = f"{prefix}.{i}"
        if isinstance(layer, list):
            h = run_plan(params, layer, key, h)
            continue
        kind = layer[0]
        if kind == "residual":
            h = h + run_plan(params, layer[1], key, h)
        elif kind == "relu":
            h = np.maximum(h, 0.0)
        elif kind == "tanh":
            h = np.tanh(h)
        elif kind == "silu":
            h = h / (1.0 + np.exp(-h))
        elif kind == "to_chw":
            h = h.reshape(h.shape[0], *layer[1]).transpose(0, 3, 1, 2)
        elif kind == "to_hwc":
            h = h.transpose(0, 2, 3, 1).reshape(h.shape[0], -1)
        elif kind == "flatten":
            h = h.reshape(h.shape[0], -1)
        elif kind == "unflatten":
            h = h.reshape(h.shape[0], *layer[1])
        elif kind == "batchnorm":  # evaluation mode: running statistics, eps as in torch
            mean, var = params[f"{key}.running_mean"], params[f"{key}.running_var"]
            h = (h - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
        elif kind == "groupnorm":  # statistics over each group's channels and pixels, eps as in torch
            b, c = h.shape[:2]
            g = h.reshape(b, layer[1], -1)
            g = (g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + 1e-5)
            h = (
                g.reshape(h.shape) * params[f"{key}.weight"][None, :, None, None]
                + params[f"{key}.bias"][None, :, None, None]
            )
        else:
            w, b = params[f"{key}.weight"], params[f"{key}.bias"]
            if kind == "linear":
                h = h @ w.T + b
            elif kind == "conv":
                h = _conv(h, w, b)
            elif kind == "convT":
                h = _conv_transpose(h, w, b)
            elif kind == "conv3":
                h = _conv3(h, w, b)
            else:  # conv1
                h = np.einsum("bchw,oc->bohw", h, w[:, :, 0, 0]) + b[None, :, None, None]
    return h.astype(np.float32, copy=False)


def read_run(run_dir: str | Path) -> tuple[ModelConfig, dict[str, np.ndarray]]:
    """A run's model config and float32 weights, without torch; a one-line RunError when files are missing."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: no such run directory")
    for name in ("config.json", "model.safetensors"):
        if not (run_dir / name).is_file():
            raise RunError(f"{run_dir}: no {name}; pass a run directory written by `vaekit train`")
    try:
        cfg = load_json_config(run_dir / "config.json")
    except ConfigError as e:
        raise RunError(str(e)) from None
    try:  # the torch-free twin of runs.checkpoint.load_model's read
        params = load_file(str(run_dir / "model.safetensors"))
    except Exception as e:  # SafetensorError, OSError, ValueError ...: a damaged file
        raise RunError(f"{run_dir / 'model.safetensors'}: unreadable ({first_line(e)})") from None
    return cfg.model, {k: v.astype(np.float32) for k, v in params.items()}


def load(run_dir: str | Path) -> NumpyVAE | NumpyTokenizer:
    """The NumPy model of a run: a ``NumpyVAE`` or a ``NumpyTokenizer``, by the run's kind."""
    cfg, params = read_run(run_dir)
    return NumpyVAE(cfg, params) if cfg.kind == "gaussian" else NumpyTokenizer(cfg, params)


def _mean_image(cfg: ImageModelConfig, out: np.ndarray) -> np.ndarray:
    """Decoder output (B, P) -> expected images (B, *input_shape) in [0, 1], as the likelihood says."""
    img = 1.0 / (1.0 + np.exp(-out)) if cfg.likelihood == "bernoulli" else np.clip(out, 0.0, 1.0)
    return img.reshape(-1, *cfg.input_shape)


class NumpyVAE:
    """A Gaussian VAE's encoder and decoder on NumPy arrays (float32, batch-first)."""

    def __init__(self, cfg: ModelConfig, params: dict[str, np.ndarray]):
        if not isinstance(cfg, GaussianConfig):
            raise RunError(f"NumpyVAE reads Gaussian VAEs; this run is a {cfg.kind} tokenizer (use NumpyTokenizer)")
        self.cfg = cfg
        self.params = {k: v.astype(np.float32, copy=False) for k, v in params.items()}
        self.encoder, self.decoder = encoder_plan(cfg), decoder_plan(cfg)

    @classmethod
    def load(cls, run_dir: str | Path) -> NumpyVAE:
        return cls(*read_run(run_dir))

    @property
    def latent_dim(self) -> int:
        return self.cfg.latent_dim

    def encode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Images (B, H, W) or (B, P) in [0, 1] -> (mu, logvar), each (B, D)."""
        x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        if x.shape[1] != math.prod(self.cfg.input_shape):
            raise DataError(f"expected images of {tuple(self.cfg.input_shape)}, got {x.shape[1]} values per image")
        enc = self.encoder
        if enc.joint is not None:
            h = run_plan(self.params, enc.joint, "encoder", x)
            return h[:, : self.latent_dim], h[:, self.latent_dim :]
        assert enc.mu is not None  # an encoder plan is joint, or has a mu network
        mu = run_plan(self.params, enc.mu, "encoder.mu_net", x)
        if enc.fixed_logvar is not None:
            return mu, np.full_like(mu, enc.fixed_logvar)
        assert enc.logvar is not None
        return mu, run_plan(self.params, enc.logvar, "encoder.logvar_net", x)

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Latents (B, D) -> decoder output (B, P): Bernoulli logits or Gaussian means."""
        return run_plan(self.params, self.decoder, "decoder", np.asarray(z, dtype=np.float32))

    def decode_images(self, z: np.ndarray) -> np.ndarray:
        """Latents (B, D) -> expected images (B, *input_shape) in [0, 1]."""
        return _mean_image(self.cfg, self.decode(z))

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        """Decode each image's posterior mean: (B, H, W) in [0, 1]."""
        return self.decode_images(self.encode(x)[0])

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """n images decoded from z ~ N(0, I): (n, H, W) in [0, 1]."""
        z = np.random.default_rng(seed).standard_normal((n, self.latent_dim), dtype=np.float32)
        return self.decode_images(z)


class NumpyTokenizer:
    """A conv tokenizer (vq / fsq / mgvq) on NumPy arrays: images <-> integer tokens."""

    def __init__(self, cfg: ModelConfig, params: dict[str, np.ndarray]):
        if not isinstance(cfg, TokenizerConfig) or cfg.mgvq_paper:
            what = "nested / unequal mgvq" if isinstance(cfg, TokenizerConfig) else cfg.kind
            raise ConfigError(f"NumpyTokenizer reads vq / fsq / mgvq runs of G equal groups; this run is {what}")
        self.cfg = cfg
        self.params = {k: v.astype(np.float32, copy=False) for k, v in params.items()}
        d = len(cfg.levels) if cfg.kind == "fsq" else cfg.code_dim
        self.encoder, self.decoder = tokenizer_encoder(cfg, d), tokenizer_decoder(cfg, d)
        self.hwc = check_conv_shape(cfg, "tokenizer")  # (H, W, C)
        if cfg.kind == "vq":
            self.codebooks = [self.params["quantizer.codebook"]]
        elif cfg.kind == "mgvq":
            self.codebooks = [self.params[f"quantizer.quantizers.{g}.codebook"] for g in range(cfg.groups)]
        self.levels = np.array(cfg.levels, dtype=np.float32)
        self.basis = np.cumprod([1, *cfg.levels[:-1]]).astype(np.int64)
        # FSQ's bound, as in quantizers/fsq.py (eps 1e-3): tanh(z + shift) * half - offset, then round
        self.fsq_half = ((self.levels - 1) * (1 + 1e-3) / 2).astype(np.float32)
        self.fsq_offset = np.where(self.levels % 2 == 0, 0.5, 0.0).astype(np.float32)
        self.fsq_shift = np.arctanh(self.fsq_offset / self.fsq_half).astype(np.float32)

    @classmethod
    def load(cls, run_dir: str | Path) -> NumpyTokenizer:
        return cls(*read_run(run_dir))

    @property
    def codebook_size(self) -> int:
        return math.prod(self.cfg.levels) if self.cfg.kind == "fsq" else self.cfg.codebook_size

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Images (B, *input_shape) or (B, P) in [0, 1] -> tokens (B, h, w), or (B, h, w, G) for mgvq."""
        x = np.asarray(x, dtype=np.float32).reshape(len(x), *self.hwc).transpose(0, 3, 1, 2)  # (B, C, H, W)
        z = run_plan(self.params, self.encoder, "encoder", x).transpose(0, 2, 3, 1)  # (B, h, w, d)
        if self.cfg.kind == "fsq":  # bound with the shifted tanh, round, read the mixed-radix digits
            bounded = np.tanh(z + self.fsq_shift) * self.fsq_half - self.fsq_offset
            digits = np.round(bounded).astype(np.int64) + (self.levels // 2).astype(np.int64)
            return (digits * self.basis).sum(-1)
        parts = np.split(z, len(self.codebooks), axis=-1)
        idx = [self._nearest(p, e) for p, e in zip(parts, self.codebooks, strict=True)]
        return idx[0] if self.cfg.kind == "vq" else np.stack(idx, -1)

    @staticmethod
    def _nearest(z: np.ndarray, e: np.ndarray) -> np.ndarray:
        flat = z.reshape(-1, z.shape[-1])
        d = (flat**2).sum(1, keepdims=True) - 2 * flat @ e.T + (e**2).sum(1)[None]
        return d.argmin(1).reshape(z.shape[:-1])

    def codes(self, tokens: np.ndarray) -> np.ndarray:
        """Tokens -> (B, h, w, d) code vectors."""
        tokens = np.asarray(tokens, dtype=np.int64)
        if tokens.size and (tokens.min() < 0 or tokens.max() >= self.codebook_size):
            raise DataError(f"tokens must lie in [0, {self.codebook_size}); these were not made by this run")
        if self.cfg.kind == "fsq":
            digits = (tokens[..., None] // self.basis) % self.levels.astype(np.int64)
            half = self.levels // 2
            return ((digits - half) / half).astype(np.float32)
        if self.cfg.kind == "vq":
            return self.codebooks[0][tokens]
        return np.concatenate([e[tokens[..., g]] for g, e in enumerate(self.codebooks)], -1)

    def decode(self, tokens: np.ndarray) -> np.ndarray:
        """Tokens -> images (B, *input_shape) in [0, 1]."""
        out = run_plan(self.params, self.decoder, "decoder", self.codes(tokens).transpose(0, 3, 1, 2))  # (B,C,H,W)
        return _mean_image(self.cfg, out.transpose(0, 2, 3, 1).reshape(len(out), -1))

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        """Images -> tokens -> images (B, *input_shape)."""
        return self.decode(self.encode(x))
