"""Charts of a training's records (``metrics.jsonl``): the loss curves of a run, and a token prior's NLL."""

from __future__ import annotations

from pathlib import Path

from ..plots import pyplot, save_figure


def loss_curves(records: list[dict], path: str | Path) -> Path:
    """Plot train/test loss, recon and KL per epoch, and the beta schedule, from ``metrics.jsonl`` records."""
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
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
    return save_figure(fig, path)


def prior_curves(records: list[dict], path: str | Path) -> Path:
    """A token prior's train and test NLL (nats per image) per epoch, from ``RUN/prior/metrics.jsonl``."""
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
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
    return save_figure(fig, path)
