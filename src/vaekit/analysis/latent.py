"""Moving through a trained latent space: encodings, PCA, interpolation, traversals, attribute vectors.

Attribute vectors are the "smile vector" trick of White 2016 (arXiv 1609.04468): the mean latent of images
with an attribute minus the mean latent of images without it, added to other images' latents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..config.verbs import SELECTOR, SELECTOR_FORM
from ..errors import ConfigError
from ..models import GaussianVAE


@torch.no_grad()
def encode_means(model: GaussianVAE, x: Tensor, batch_size: int = 2000) -> Tensor:
    """Posterior means E[z|x] of (N, P) images; returns (N, D)."""
    model.eval()
    return torch.cat([model.encode(x[i : i + batch_size])[0] for i in range(0, x.shape[0], batch_size)])


@torch.no_grad()
def decode_images(model: GaussianVAE, z: Tensor) -> np.ndarray:
    """Decoder means of (N, D) latents as (N, H, W) images in [0, 1]."""
    return model.mean_image(model.decode(z)).cpu().numpy()


def pca_2d(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project (N, D) points on their two principal axes; returns ((N, 2), explained-variance ratios (2,))."""
    centred = z - z.mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    var = s**2
    return centred @ vt[:2].T, var[:2] / var.sum()


def lerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """(1 - t) a + t b for each t; a, b (D,), t (S,) -> (S, D)."""
    return a[None] + t[:, None] * (b - a)[None]


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation (Shoemake 1985) between a and b; falls back to lerp when they are parallel."""
    an, bn = a / a.norm(), b / b.norm()
    omega = torch.arccos(torch.clamp((an * bn).sum(), -1.0, 1.0))
    if omega.abs() < 1e-6:
        return lerp(a, b, t)
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so)[:, None] * a[None] + (torch.sin(t * omega) / so)[:, None] * b[None]


def interpolate(model: GaussianVAE, z_a: Tensor, z_b: Tensor, steps: int = 10, mode: str = "linear") -> np.ndarray:
    """Decode ``steps`` points from z_a to z_b (ends included); returns (steps, H, W)."""
    if steps < 2:
        raise ConfigError("--steps must be >= 2")
    if mode not in ("linear", "slerp"):
        raise ConfigError(f"--mode must be linear or slerp, got {mode!r}")
    t = torch.linspace(0, 1, steps, device=z_a.device)
    path = lerp(z_a, z_b, t) if mode == "linear" else slerp(z_a, z_b, t)
    return decode_images(model, path)


def traversal(model: GaussianVAE, z0: Tensor, dims: list[int], values: Tensor) -> np.ndarray:
    """For each dim, decode z0 with that coordinate set to each value; returns (len(dims), len(values), H, W)."""
    rows = []
    for d in dims:
        z = z0.repeat(len(values), 1)
        z[:, d] = values
        rows.append(decode_images(model, z))
    return np.stack(rows)


def ink(images: np.ndarray | Tensor) -> np.ndarray:
    """Stroke mass: mean intensity of each image (N, ...) in [0, 1]."""
    a = images.detach().cpu().numpy() if isinstance(images, Tensor) else np.asarray(images)
    return a.reshape(len(a), -1).mean(1)


@dataclass(frozen=True)
class Selector:
    """``label=K`` or ``ink>Q`` / ``ink<Q`` (Q a quantile of stroke mass over the test set)."""

    kind: str  # "label" | "ink"
    op: str  # "=", ">", "<"
    value: float

    @classmethod
    def parse(cls, text: str) -> Selector:
        m = re.fullmatch(SELECTOR, text)
        if not m:
            raise ConfigError(f"cannot read selector {text!r}; use {SELECTOR_FORM}")
        if m["label"] is not None:
            return cls("label", "=", float(m["label"]))
        return cls("ink", m["op"], float(m["q"]))

    def mask(self, x: np.ndarray | Tensor, y: np.ndarray | None) -> np.ndarray:
        """Boolean (N,) selection over images ``x`` with labels ``y``."""
        if self.kind == "label":
            if y is None:
                raise ConfigError("this dataset has no labels; select by ink>Q or ink<Q instead")
            sel = np.asarray(y) == int(self.value)
        else:
            stat = ink(x)
            cut = np.quantile(stat, self.value)
            sel = stat > cut if self.op == ">" else stat < cut
        if not sel.any():
            raise ConfigError(f"selector {self} matches no test image")
        return sel

    def __str__(self) -> str:
        return f"label={int(self.value)}" if self.kind == "label" else f"ink{self.op}{self.value:g}"


@dataclass
class AttributeResult:
    vector: np.ndarray  # (D,) mean z of the positive set minus mean z of the negative set
    norm: float
    strengths: list[float]
    images: np.ndarray  # (len(strengths), n, H, W) decoded images at each strength
    mean_ink: list[float]  # mean stroke mass of the decoded images at each strength
    n_positive: int
    n_negative: int


def attribute(
    model: GaussianVAE,
    x: Tensor,
    y: np.ndarray | None,
    positive: Selector,
    negative: Selector,
    strengths: list[float],
    n_images: int = 8,
    seed: int = 0,
) -> AttributeResult:
    """Attribute vector between two selections of ``x`` (N, P), added at each strength to ``n_images`` others."""
    mu = encode_means(model, x)
    pos, neg = positive.mask(x, y), negative.mask(x, y)
    vec = mu[torch.from_numpy(pos).to(mu.device)].mean(0) - mu[torch.from_numpy(neg).to(mu.device)].mean(0)
    rng = np.random.default_rng(seed)
    pick = torch.from_numpy(rng.choice(len(mu), size=min(n_images, len(mu)), replace=False)).to(mu.device)
    base = mu[pick]  # (n, D)
    images = np.stack([decode_images(model, base + s * vec) for s in strengths])
    return AttributeResult(
        vec.cpu().numpy(),
        float(vec.norm()),
        list(strengths),
        images,
        [float(ink(im).mean()) for im in images],
        int(pos.sum()),
        int(neg.sum()),
    )
