"""Image grids and charts written as PNG files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ._io import atomic_write


def image_grid(images: np.ndarray, ncol: int | None = None, pad: int = 2, scale: int = 2) -> np.ndarray:
    """Tile (N, H, W) images in [0, 1] into one (rows*(H+pad)+pad, ...) uint8 array, nearest-upscaled by ``scale``."""
    images = np.asarray(images, dtype=np.float32)
    n, h, w = images.shape
    ncol = ncol or math.ceil(math.sqrt(n))
    nrow = math.ceil(n / ncol)
    grid = np.ones((nrow * (h + pad) + pad, ncol * (w + pad) + pad), dtype=np.float32)
    for i, im in enumerate(images):
        r, c = divmod(i, ncol)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        grid[y : y + h, x : x + w] = im
    grid = np.clip(grid * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.kron(grid, np.ones((scale, scale), dtype=np.uint8)) if scale > 1 else grid


def save_grid(images: np.ndarray, path: str | Path, ncol: int | None = None, scale: int = 2) -> Path:
    """Write (N, H, W) images in [0, 1] as one PNG grid; returns the path."""
    from PIL import Image

    grid = image_grid(images, ncol, scale=scale)
    path = Path(path)
    return atomic_write(path, lambda tmp: Image.fromarray(grid, mode="L").save(tmp, format="PNG"))


def loss_curves(records: list[dict], path: str | Path) -> Path:
    """Plot train/test loss, recon and KL per epoch (and beta when it changes) from ``metrics.jsonl`` records."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in records]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for ax, key, title in zip(
        axes, ("loss", "recon", "kl"), ("-ELBO (nats)", "reconstruction (nats)", "KL (nats)"), strict=True
    ):
        ax.plot(epochs, [r[f"train_{key}"] for r in records], marker="o", label="train")
        ax.plot(epochs, [r[f"test_{key}"] for r in records], marker="o", label="test")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend()
    betas = [r["beta"] for r in records]
    if len(set(betas)) > 1:
        twin = axes[2].twinx()
        twin.plot(epochs, betas, color="grey", linestyle="--", label="beta")
        twin.set_ylabel("beta (end of epoch)")
    fig.tight_layout()

    def write(tmp: Path) -> None:
        fig.savefig(tmp, format="png", dpi=100)

    try:
        return atomic_write(Path(path), write)
    finally:
        plt.close(fig)
