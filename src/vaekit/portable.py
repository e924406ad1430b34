"""Torch-free inference: a trained Gaussian VAE evaluated with NumPy alone.

``NumpyVAE.load(run_dir)`` reads the run's ``config.json`` and ``model.safetensors`` (safetensors' NumPy
loader: no torch, no pickle) and evaluates the same layer plans the PyTorch model was built from
(``vaekit.arch``), so every Gaussian variant — MLP or conv, shared or dual-path encoder, fixed posterior
sigma — runs here. Parity with the PyTorch model is tested on each variant. This module imports neither
torch nor anything that does.

    vae = NumpyVAE.load("runs/classic-mnist-...")
    mu, logvar = vae.encode(images)          # images (B, H, W) or (B, H*W), floats in [0, 1]
    grid = vae.decode_images(mu)             # (B, H, W) in [0, 1]
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from .arch import Plan, decoder_plan, encoder_plan
from .config import ModelConfig, load_json_config
from .errors import RunError


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


class NumpyVAE:
    """A Gaussian VAE's encoder and decoder on NumPy arrays (float32, batch-first)."""

    def __init__(self, cfg: ModelConfig, params: dict[str, np.ndarray]):
        if cfg.kind != "gaussian":
            raise RunError(f"NumPy inference covers Gaussian VAEs; this run is a {cfg.kind} tokenizer (use PyTorch)")
        self.cfg = cfg
        self.params = {k: v.astype(np.float32) for k, v in params.items()}
        self.encoder, self.decoder = encoder_plan(cfg), decoder_plan(cfg)

    @classmethod
    def load(cls, run_dir: str | Path) -> NumpyVAE:
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise RunError(f"{run_dir}: no such run directory")
        for name in ("config.json", "model.safetensors"):
            if not (run_dir / name).is_file():
                raise RunError(f"{run_dir}: no {name}; pass a run directory written by `vaekit train`")
        return cls(load_json_config(run_dir / "config.json").model, load_file(str(run_dir / "model.safetensors")))

    @property
    def latent_dim(self) -> int:
        return self.cfg.latent_dim

    def _run(self, plan: Plan, prefix: str, h: np.ndarray) -> np.ndarray:
        for i, layer in enumerate(plan):
            key = f"{prefix}.{i}"
            if isinstance(layer, list):
                h = self._run(layer, key, h)
                continue
            kind = layer[0]
            if kind == "relu":
                h = np.maximum(h, 0.0)
            elif kind == "flatten":
                h = h.reshape(h.shape[0], -1)
            elif kind == "unflatten":
                h = h.reshape(h.shape[0], *layer[1])
            else:
                w, b = self.params[f"{key}.weight"], self.params[f"{key}.bias"]
                if kind == "linear":
                    h = h @ w.T + b
                elif kind == "conv":
                    h = _conv(h, w, b)
                else:  # convT
                    h = _conv_transpose(h, w, b)
        return h

    def encode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Images (B, H, W) or (B, P) in [0, 1] -> (mu, logvar), each (B, D)."""
        x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        if x.shape[1] != math.prod(self.cfg.input_shape):
            raise ValueError(f"expected images of {tuple(self.cfg.input_shape)}, got {x.shape[1]} values per image")
        enc = self.encoder
        if enc.joint is not None:
            h = self._run(enc.joint, "encoder", x)
            return h[:, : self.latent_dim], h[:, self.latent_dim :]
        mu = self._run(enc.mu, "encoder.mu_net", x)
        if enc.fixed_logvar is not None:
            return mu, np.full_like(mu, enc.fixed_logvar)
        return mu, self._run(enc.logvar, "encoder.logvar_net", x)

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Latents (B, D) -> decoder output (B, P): Bernoulli logits or Gaussian means."""
        return self._run(self.decoder, "decoder", np.asarray(z, dtype=np.float32))

    def decode_images(self, z: np.ndarray) -> np.ndarray:
        """Latents (B, D) -> expected images (B, H, W) in [0, 1]."""
        out = self.decode(z)
        img = 1.0 / (1.0 + np.exp(-out)) if self.cfg.likelihood == "bernoulli" else np.clip(out, 0.0, 1.0)
        return img.reshape(-1, *self.cfg.input_shape)

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        """Decode each image's posterior mean: (B, H, W) in [0, 1]."""
        return self.decode_images(self.encode(x)[0])

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """n images decoded from z ~ N(0, I): (n, H, W) in [0, 1]."""
        z = np.random.default_rng(seed).standard_normal((n, self.latent_dim), dtype=np.float32)
        return self.decode_images(z)
