"""Moving through a trained latent space: encodings, PCA, interpolation, traversals, attribute vectors.

Attribute vectors are the "smile vector" trick of White 2016 (arXiv 1609.04468): the mean latent of images
with an attribute minus the mean latent of images without it, added to other images' latents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
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
    """``label=K``, ``ink>Q`` / ``ink<Q`` (Q a quantile of stroke mass over the images), ``name~REGEX`` or
    ``subcategory~REGEX`` (searched, case-insensitive) or ``subcategory=NAME`` (emoji: each image has both)."""

    kind: str  # "label" | "ink" | "name" | "subcategory"
    op: str  # "=", ">", "<", "~"
    value: float | str

    @classmethod
    def parse(cls, text: str) -> Selector:
        m = re.fullmatch(SELECTOR, text)
        if not m:
            raise ConfigError(f"cannot read selector {text!r}; use {SELECTOR_FORM}")
        if m["label"] is not None:
            return cls("label", "=", float(m["label"]))
        if m["rx"] is not None:
            try:
                re.compile(m["rx"])
            except re.error as e:
                raise ConfigError(f"selector {text!r}: not a regular expression ({e})") from None
            return cls(m["field"], "~", m["rx"].strip())
        if m["sub"] is not None:
            return cls("subcategory", "=", m["sub"])
        return cls("ink", m["op"], float(m["q"]))

    def mask(
        self, x: np.ndarray | Tensor, y: np.ndarray | None, meta: dict[str, np.ndarray] | None = None
    ) -> np.ndarray:
        """Boolean (N,) selection over images ``x`` with labels ``y`` and per-image strings ``meta``."""
        if self.kind in ("name", "subcategory"):
            if not meta or self.kind not in meta:
                raise ConfigError(f"this dataset has no image {self.kind}s (emoji has: run `vaekit data fetch emoji` "
                                  "once more if its cache predates them); select by label or ink")  # fmt: skip
            values = meta[self.kind]
            if self.op == "~":
                rx = re.compile(str(self.value), re.IGNORECASE)
                sel = np.array([bool(rx.search(v)) for v in values])
            else:
                sel = values == self.value
        elif self.kind == "label":
            if y is None:
                raise ConfigError("this dataset has no labels; select by ink>Q or ink<Q instead")
            sel = np.asarray(y) == int(self.value)
        else:
            stat = ink(x)
            cut = np.quantile(stat, float(self.value))
            sel = stat > cut if self.op == ">" else stat < cut
        if not sel.any():
            raise ConfigError(f"selector {self} matches no image")
        return sel

    def __str__(self) -> str:
        if self.kind == "label":
            return f"label={int(self.value)}"
        if self.kind == "ink":
            return f"ink{self.op}{float(self.value):g}"
        return f"{self.kind}{self.op}{self.value}"


@dataclass
class AttributeResult:
    vector: np.ndarray  # (D,) mean z of the positive set minus mean z of the negative set
    norm: float
    strengths: list[float]
    images: np.ndarray  # (len(strengths), n, H, W) decoded images at each strength
    mean_ink: list[float]  # mean stroke mass of the decoded images at each strength
    n_positive: int
    n_negative: int
    probe: list[float]  # mean P(positive) of the decoded images at each strength, by a probe on their pixels
    probe_accuracy: float  # the probe's accuracy on the selections it was fitted to


def fit_probe(z: Tensor, target: Tensor, l2: float = 1e-2, steps: int = 200) -> tuple[Tensor, Tensor]:
    """Logistic regression of ``target`` (N,) in {0, 1} on features ``z`` (N, D), L2-penalised and fitted by
    L-BFGS; returns (w (D,), b ())."""
    zd, t = z.double(), target.double()
    w = torch.zeros(z.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(zd @ w + b, t) + l2 * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().float(), b.detach().float()


def attribute(
    model: GaussianVAE,
    x: Tensor,
    y: np.ndarray | None,
    positive: Selector,
    negative: Selector,
    strengths: list[float],
    n_images: int = 8,
    seed: int = 0,
    meta: dict[str, np.ndarray] | None = None,
    targets: Tensor | None = None,
) -> AttributeResult:
    """Attribute vector between two selections of ``x`` (N, P) (labels ``y``, strings ``meta``), added at each
    strength to ``n_images`` of ``targets`` (default: random images of ``x``). A logistic probe fitted on the
    pixels of the two selections' reconstructions scores the decoded images at each strength: its mean
    P(positive) should rise with the strength if the vector does what it claims."""
    mu = encode_means(model, x)
    pos, neg = positive.mask(x, y, meta), negative.mask(x, y, meta)
    both = torch.from_numpy(pos | neg).to(mu.device)
    vec = mu[torch.from_numpy(pos).to(mu.device)].mean(0) - mu[torch.from_numpy(neg).to(mu.device)].mean(0)
    # the probe reads pixels of the decoder's output (the selections' reconstructions), the domain in which it
    # then scores the images at each strength: on re-encoded latents of blurred decodes it read noise
    recon = torch.from_numpy(decode_images(model, mu[both])).flatten(1)
    truth = torch.from_numpy(pos[(pos | neg)])
    w, b = fit_probe(recon, truth.float())
    accuracy = float((((recon @ w + b) > 0) == truth).float().mean())
    if targets is None:
        rng = np.random.default_rng(seed)
        pick = torch.from_numpy(rng.choice(len(mu), size=min(n_images, len(mu)), replace=False)).to(mu.device)
        base = mu[pick]  # (n, D)
    else:
        base = encode_means(model, targets[:n_images])
    images = np.stack([decode_images(model, base + s * vec) for s in strengths])
    probe = [float(torch.sigmoid(torch.from_numpy(im).flatten(1) @ w + b).mean()) for im in images]
    return AttributeResult(
        vec.cpu().numpy(),
        float(vec.norm()),
        list(strengths),
        images,
        [float(ink(im).mean()) for im in images],
        int(pos.sum()),
        int(neg.sum()),
        probe,
        accuracy,
    )
