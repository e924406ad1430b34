"""Image grids, GIFs and the generic charts (KL per dimension, scatter, labelled grids, code usage) written as
PNG files; the charts of one command's results live beside the code that makes them (training/charts.py,
training/sweep.py, measure/study.py, measure/compare.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ._io import atomic_write


def image_grid(images: np.ndarray, ncol: int | None = None, pad: int = 2, scale: int = 2) -> np.ndarray:
    """Tile (N, H, W) grey or (N, H, W, 3) colour images in [0, 1] into one uint8 array (rows*(H+pad)+pad, ...)
    [+ (3,)], white between the tiles, nearest-upscaled by ``scale``."""
    images = np.asarray(images, dtype=np.float32)
    n, h, w = images.shape[:3]
    ncol = ncol or math.ceil(math.sqrt(n))
    nrow = math.ceil(n / ncol)
    grid = np.ones((nrow * (h + pad) + pad, ncol * (w + pad) + pad, *images.shape[3:]), dtype=np.float32)
    for i, im in enumerate(images):
        r, c = divmod(i, ncol)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        grid[y : y + h, x : x + w] = im
    grid = np.clip(grid * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return _upscale(grid, scale)


def _upscale(image: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upscaling of an (H, W) or (H, W, C) image."""
    return image.repeat(scale, 0).repeat(scale, 1) if scale > 1 else image


def save_grid(images: np.ndarray, path: str | Path, ncol: int | None = None, scale: int = 2) -> Path:
    """Write (N, H, W) images in [0, 1] as one PNG grid; returns the path."""
    from PIL import Image

    grid = image_grid(images, ncol, scale=scale)
    path = Path(path)
    return atomic_write(path, lambda tmp: Image.fromarray(grid).save(tmp, format="PNG"))


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path) -> Path:
    """Write a matplotlib figure as a PNG file (atomically) and close it."""
    plt = pyplot()
    try:
        return atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight"))
    finally:
        plt.close(fig)


def kl_bar_chart(kl_per_dim: list[float], path: str | Path, threshold: float = 0.01) -> Path:
    """Bar chart of the KL of each latent dimension (log scale) with the collapse threshold drawn."""
    plt = pyplot()
    kl = np.maximum(np.asarray(kl_per_dim, dtype=float), 1e-5)
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(kl) + 2), 3.6))
    colors = ["#c44e52" if v < threshold else "#4c72b0" for v in kl_per_dim]
    ax.bar(range(1, len(kl) + 1), kl, color=colors)
    ax.axhline(threshold, color="black", linestyle="--", linewidth=1, label=f"collapse threshold {threshold} nats")
    ax.set_yscale("log")
    ax.set_xlabel("latent dimension")
    ax.set_ylabel("KL (nats, test-set mean)")
    ax.set_xticks(range(1, len(kl) + 1))
    ax.set_title(f"KL per dimension: {sum(v >= threshold for v in kl_per_dim)} of {len(kl)} above threshold")
    ax.legend(loc="upper right")
    fig.tight_layout()
    return save_figure(fig, path)


def quality_chart(
    xs: list[int],
    psnr: list[float],
    ssim: list[float] | None,
    path: str | Path,
    xlabel: str,
    title: str,
    marker: tuple[float, float, str] | None = None,
) -> Path:
    """PSNR (and SSIM, on a second axis) against ``xs`` (frame index, groups used, ...); ``marker``: one more
    point (x, PSNR, label), e.g. frame 0 fed alone."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.plot(xs, psnr, "o-", color="#4c72b0", label="PSNR")
    if marker is not None:
        ax.plot([marker[0]], [marker[1]], "x", color="black", markersize=10, label=marker[2])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("PSNR (dB, test mean)")
    ax.set_xticks(xs)
    if ssim and all(v is not None for v in ssim):
        ax2 = ax.twinx()
        ax2.plot(xs, ssim, "s--", color="#dd8452", label="SSIM")
        ax2.set_ylabel("SSIM")
        ax2.legend(loc="lower right")
    ax.legend(loc="upper left")
    ax.set_title(title)
    fig.tight_layout()
    return save_figure(fig, path)


def latent_scatter(
    points: np.ndarray, labels: np.ndarray | None, path: str | Path, xlabel: str, ylabel: str, title: str
) -> Path:
    """Scatter of (N, 2) points coloured by label, with a legend."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 6))
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=3, alpha=0.5)
    else:
        cmap = plt.get_cmap("tab10" if len(np.unique(labels)) <= 10 else "tab20")
        for i, lab in enumerate(np.unique(labels)):
            sel = labels == lab
            ax.scatter(points[sel, 0], points[sel, 1], s=3, alpha=0.6, color=cmap(i % cmap.N), label=str(lab))
        ax.legend(title="label", markerscale=4, loc="best", fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.2)
    fig.tight_layout()
    return save_figure(fig, path)


def labeled_grid(
    images: np.ndarray, path: str | Path, row_labels: list[str], col_labels: list[str] | None = None, title: str = ""
) -> Path:
    """(R, C, H, W) or (R, C, H, W, 3) images in [0, 1] as one picture with a label per row (and per column)."""
    plt = pyplot()
    r, c, h, w = images.shape[:4]
    grid = image_grid(images.reshape(r * c, *images.shape[2:]), ncol=c, pad=2, scale=1).astype(np.float32) / 255.0
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * c, 0.6 + 0.55 * r))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks([2 + i * (h + 2) + h / 2 for i in range(r)], row_labels, fontsize=8)
    if col_labels:
        ax.set_xticks([2 + j * (w + 2) + w / 2 for j in range(c)], col_labels, fontsize=8)
    else:
        ax.set_xticks([])
    ax.tick_params(length=0)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def code_histogram(counts: list[np.ndarray], path: str | Path) -> Path:
    """How often each code is used, sorted from most to least used, one filled step curve per group (one
    artist per group: a bar per code took 40 s for 15,360 codes)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.4))
    for g, c in enumerate(counts):
        used = (c > 0).sum()
        ax.fill_between(
            np.arange(len(c) + 1),
            np.append(np.sort(c)[::-1], 0).astype(float),
            step="post",
            alpha=0.6,
            label=f"group {g + 1}: {used} of {len(c)} codes used" if len(counts) > 1 else f"{used} of {len(c)} used",
        )
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.8)
    ax.set_xlabel("code (sorted by use)")
    ax.set_ylabel("uses on the test set")
    ax.set_title("code usage")
    ax.legend(loc="upper right")
    fig.tight_layout()
    return save_figure(fig, path)


def save_gif(
    frames: np.ndarray, path: str | Path, scale: int = 4, ms_per_frame: int = 120, bounce: bool = True
) -> Path:
    """(S, H, W[, 3]) frames in [0, 1] as an animated GIF that loops, played forward and back (``bounce``) or
    forward only."""
    from PIL import Image

    seq = list(frames) + (list(frames[-2:0:-1]) if bounce else [])
    ims = [Image.fromarray(_upscale(np.clip(f * 255 + 0.5, 0, 255).astype(np.uint8), scale)) for f in seq]

    def write(tmp: Path) -> None:
        ims[0].save(tmp, format="GIF", save_all=True, append_images=ims[1:], duration=ms_per_frame, loop=0)

    return atomic_write(Path(path), write)


def _frames_last(clips: np.ndarray) -> np.ndarray:
    """(N, T, H, W, C) clips -> (N, T, H, W) when grey, else as they are."""
    clips = np.asarray(clips, dtype=np.float32)
    return clips[..., 0] if clips.ndim == 5 and clips.shape[-1] == 1 else clips


def save_clip_gif(clips: np.ndarray, path: str | Path, ncol: int | None = None, scale: int = 2,
                  ms_per_frame: int = 100) -> Path:  # fmt: skip
    """(N, T, H, W, C) clips in [0, 1] as one animated GIF: frame t shows every clip's frame t in a grid."""
    from PIL import Image

    clips = _frames_last(clips)
    ims = [Image.fromarray(image_grid(clips[:, t], ncol, scale=scale)) for t in range(clips.shape[1])]

    def write(tmp: Path) -> None:
        ims[0].save(tmp, format="GIF", save_all=True, append_images=ims[1:], duration=ms_per_frame, loop=0)

    return atomic_write(Path(path), write)


def save_clip_strip(clips: np.ndarray, path: str | Path, scale: int = 2) -> Path:
    """(N, T, H, W, C) clips in [0, 1] as one PNG: a row of frames per clip."""
    clips = _frames_last(clips)
    return save_grid(clips.reshape(-1, *clips.shape[2:]), path, ncol=clips.shape[1], scale=scale)


def save_images(images: np.ndarray, path: str | Path, ncol: int | None = None) -> Path:
    """Images (N, H, W[, 3]) as a PNG grid; clips (N, T, H, W, C) as an animated GIF grid when ``path`` ends in
    .gif, else as a strip of frames per clip."""
    if np.asarray(images).ndim == 5:
        gif = str(path).lower().endswith(".gif")
        return save_clip_gif(images, path, ncol) if gif else save_clip_strip(images, path)
    return save_grid(images, path, ncol)
