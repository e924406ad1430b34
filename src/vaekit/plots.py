"""Image grids and charts written as PNG files."""

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


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_figure(fig, path: str | Path) -> Path:
    plt = _pyplot()
    try:
        return atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight"))
    finally:
        plt.close(fig)


def loss_curves(records: list[dict], path: str | Path) -> Path:
    """Plot train/test loss, recon and KL per epoch, and the beta schedule, from ``metrics.jsonl`` records."""
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    epochs = [r["epoch"] for r in records]
    aux = "kl" if "train_kl" in records[0] else "quant"
    panels = [("loss", "-ELBO (nats)"), ("recon", "reconstruction (nats)"), ("kl", "KL (nats)")]
    if aux == "quant":
        panels = [("loss", "loss (nats)"), ("recon", "reconstruction (nats)"), ("quant", "codebook + commitment")]
    show_beta = aux == "kl"
    fig, axes = plt.subplots(1, 4 if show_beta else 3, figsize=(15 if show_beta else 11.5, 3.4))
    for ax, (key, title) in zip(axes, panels, strict=False):
        ax.plot(epochs, [r[f"train_{key}"] for r in records], marker="o", label="train")
        ax.plot(epochs, [r[f"test_{key}"] for r in records], marker="o", label="test")
        ax.set_title(title)
    axes[0].legend()
    if show_beta:
        axes[3].plot(epochs, [r["beta"] for r in records], marker="o", color="grey")
        axes[3].set_title("beta (end of epoch)")
        axes[3].set_ylim(bottom=0)
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save_figure(fig, path)


def prior_curves(records: list[dict], path: str | Path) -> Path:
    """A token prior's train and test NLL (nats per image) per epoch, from ``RUN/prior/metrics.jsonl``."""
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.4))
    epochs = [r["epoch"] for r in records]
    ax.plot(epochs, [r["train_nll"] for r in records], marker="o", label="train")
    ax.plot(epochs, [r["test_nll"] for r in records], marker="o", label="test")
    ax.set_title("token prior: -log p(tokens) (nats per image)")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return _save_figure(fig, path)


def sweep_chart(rows: list[dict], path: str | Path) -> Path:
    """Test loss, reconstruction and KL against beta for a sweep's models, one line per seed."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(11.5, 3.4))
    betas = sorted({r["beta"] for r in rows})
    panels = (("loss", "test -ELBO (nats)"), ("recon", "reconstruction (nats)"), ("kl", "KL (nats)"))
    for seed in sorted({r["seed"] for r in rows}):
        pts = sorted((r for r in rows if r["seed"] == seed), key=lambda r: r["beta"])
        for ax, (key, title) in zip(axes, panels, strict=True):
            ax.plot([r["beta"] for r in pts], [r[key] for r in pts], marker="o", label=f"seed {seed}")
            ax.set_title(title)
    for ax in axes:
        ax.set_xlabel("beta")
        if len(betas) > 2 and betas[0] > 0:
            ax.set_xscale("log")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    return _save_figure(fig, path)


def study_chart(remedies: list[dict], rows: list[dict], path: str | Path, units: int) -> Path:
    """`vaekit study collapse`: active units (of ``units``) and IW-NLL per remedy; bars are the means over
    seeds, dots the seeds."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.42 * len(remedies) + 1.6), sharey=True)
    names = [r["remedy"] for r in remedies]
    ys = np.arange(len(remedies))
    panels = (("active_units", f"active units (of {units})"), ("nll_iw", "IW-NLL (nats, lower is better)"))
    for ax, (key, title) in zip(axes, panels, strict=True):
        means = [r[key] for r in remedies]
        sds = [r[f"{key}_sd"] for r in remedies]
        if key == "active_units":
            ax.barh(ys, means, xerr=sds, color="#4c72b0", alpha=0.75)
            ax.set_xlim(0, units)
        else:  # likelihoods differ by a few nats on a scale of ~100: markers, not bars from 0
            ax.errorbar(means, ys, xerr=sds, fmt="o", color="#4c72b0", alpha=0.75, markersize=8)
            finite = sorted(m for m in means if math.isfinite(m))
            if finite:  # remedies far off the rest are drawn at the edge, with their value
                mid = finite[len(finite) // 2]
                near = [m for m in finite if m <= mid + 15]
                right = max(near) + 0.15 * (max(near) - min(near)) + 0.5
                ax.set_xlim(min(near) - 0.1 * (max(near) - min(near)) - 0.5, right)
                for y, m in zip(ys, means, strict=True):
                    if m > right:
                        ax.annotate(f"{m:.1f} →", (right, y), ha="right", va="center", fontsize=9)
        for y, name in zip(ys, names, strict=True):
            vals = [row[key] for row in rows if row["remedy"] == name]
            ax.plot(vals, [y] * len(vals), "k.", markersize=5)
        ax.set_title(title)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(ys, [r["label"] for r in remedies])
    axes[0].invert_yaxis()
    fig.tight_layout()
    return _save_figure(fig, path)


def bench_chart(report: dict, path: str | Path) -> Path:
    """`vaekit bench`: seconds per epoch of each variant (bars, median of the timed epochs; dots: every epoch)
    with the roofline floor of its precision (a tick), and the speedup over the textbook loop as a label."""
    plt = _pyplot()
    names = list(report["variants"])
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(names) + 1.4))
    for y, name in enumerate(names):
        v = report["variants"][name]
        ax.barh(y, v["sec_per_epoch"], color="#4c72b0" if name != "naive" else "#999999")
        ax.plot(v["epoch_seconds"], [y] * len(v["epoch_seconds"]), "k.", markersize=4)
        ax.plot([v["floor_s"]] * 2, [y - 0.4, y + 0.4], color="#c44e52", linewidth=2)
        sp = report["speedup"].get(name)
        label = f" {v['sec_per_epoch']:.2f} s" + (f"  {sp:.2f}x" if sp else "") + f"  eff {v['efficiency']:.2f}"
        ax.text(max(v["sec_per_epoch"], max(v["epoch_seconds"])), y, label, va="center", fontsize=8)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel("seconds per epoch (red: the roofline floor of the variant's precision)")
    ax.set_xlim(0, 1.35 * max(max(v["epoch_seconds"]) for v in report["variants"].values()))
    machine = report.get("machine", {})
    ax.set_title(f"{machine.get('gpu') or machine.get('cpu', '')} ({machine.get('kind', '')})", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return _save_figure(fig, path)


def kl_bar_chart(kl_per_dim: list[float], path: str | Path, threshold: float = 0.01) -> Path:
    """Bar chart of the KL of each latent dimension (log scale) with the collapse threshold drawn."""
    plt = _pyplot()
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
    return _save_figure(fig, path)


def latent_scatter(
    points: np.ndarray, labels: np.ndarray | None, path: str | Path, xlabel: str, ylabel: str, title: str
) -> Path:
    """Scatter of (N, 2) points coloured by label, with a legend."""
    plt = _pyplot()
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
    return _save_figure(fig, path)


def labeled_grid(
    images: np.ndarray, path: str | Path, row_labels: list[str], col_labels: list[str] | None = None, title: str = ""
) -> Path:
    """(R, C, H, W) or (R, C, H, W, 3) images in [0, 1] as one picture with a label per row (and per column)."""
    plt = _pyplot()
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
    return _save_figure(fig, path)


def code_histogram(counts: np.ndarray, path: str | Path) -> Path:
    """Bar chart of how often each code is used, sorted from most to least used, one line per group."""
    plt = _pyplot()
    counts = np.atleast_2d(np.asarray(counts))
    fig, ax = plt.subplots(figsize=(8, 3.4))
    for g, c in enumerate(counts):
        used = (c > 0).sum()
        ax.bar(
            np.arange(len(c)),
            np.sort(c)[::-1],
            width=1.0,
            alpha=0.6,
            label=f"group {g + 1}: {used} of {len(c)} codes used" if len(counts) > 1 else f"{used} of {len(c)} used",
        )
    ax.set_yscale("log")
    ax.set_xlabel("code (sorted by use)")
    ax.set_ylabel("uses on the test set")
    ax.set_title("code usage")
    ax.legend()
    fig.tight_layout()
    return _save_figure(fig, path)


def save_gif(frames: np.ndarray, path: str | Path, scale: int = 4, ms_per_frame: int = 120) -> Path:
    """(S, H, W) frames in [0, 1] as an animated GIF that plays forward and back, looping."""
    from PIL import Image

    seq = list(frames) + list(frames[-2:0:-1])
    ims = [Image.fromarray(_upscale(np.clip(f * 255 + 0.5, 0, 255).astype(np.uint8), scale)) for f in seq]

    def write(tmp: Path) -> None:
        ims[0].save(tmp, format="GIF", save_all=True, append_images=ims[1:], duration=ms_per_frame, loop=0)

    return atomic_write(Path(path), write)
