"""``vaekit train --tensorboard``: the run's events as TensorBoard summaries in ``RUN/tensorboard/``.

Per step (every ``log_every`` steps): the epoch's running train loss, reconstruction and KL (or quantizer loss).
Per epoch: every number of the epoch's record (train and test loss, recon, KL, beta, learning rate, seconds),
test images above their reconstructions, and for a Gaussian VAE samples from the prior and the KL of each
latent dimension, for a tokenizer the codebook usage, perplexity and a histogram of code use. Needs the
``tensorboard`` package (``pip install 'vaekit[tensorboard]'``); view with ``tensorboard --logdir RUN``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError
from ..evaluation.metrics import code_counts, usage_stats
from ..losses import kl_normal
from ..models import GaussianVAE, Tokenizer

IMAGES = 8  # test images (and samples) shown per epoch


def require_tensorboard() -> None:
    """A one-line error, before any work, when the optional package is missing."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise ConfigError("--tensorboard needs the tensorboard package: pip install 'vaekit[tensorboard]'") from None


class TensorBoardSink:
    """A training sink (``training/events.py``) that writes TensorBoard event files into ``log_dir``."""

    def __init__(self, log_dir: str | Path):
        require_tensorboard()
        self.log_dir = Path(log_dir)
        self.writer: Any = None  # opened at the first committed epoch: a run that never commits writes nothing
        self.pending: list[tuple[int, dict[str, float]]] = []  # step scalars of the epoch before that
        self.shape: tuple[int, ...] = ()  # (H, W) or (H, W, C), from the model's config

    def on_step(self, step: int, values: dict[str, float]) -> None:
        if self.writer is None:
            self.pending.append((step, values))
            return
        for k, v in values.items():
            self.writer.add_scalar(f"step/{k}", v, step)

    @torch.no_grad()
    def on_epoch(self, record: dict[str, Any], model: torch.nn.Module, x_test: torch.Tensor) -> None:
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.log_dir))
            for step, values in self.pending:
                self.on_step(step, values)
        assert isinstance(model, GaussianVAE | Tokenizer)  # the models vaekit trains
        self.shape = tuple(model.cfg.input_shape)
        epoch = record["epoch"]
        for k, v in record.items():
            if isinstance(v, int | float) and not isinstance(v, bool) and k not in ("epoch", "step"):
                self.writer.add_scalar(f"epoch/{k}", v, epoch)
        was_training = model.training
        model.eval()
        x = x_test[:IMAGES]
        recon = model.reconstruct(x)
        self.writer.add_image("reconstructions", self._grid(torch.cat([x, recon.reshape(len(x), -1)])), epoch)
        if isinstance(model, GaussianVAE):
            g = torch.Generator(device=x.device).manual_seed(0)
            self.writer.add_image("samples", self._grid(model.sample(IMAGES, generator=g)), epoch)
            mu, logvar = model.encode(x_test[:1000])
            for d, v in enumerate(kl_normal(mu, logvar).mean(0).tolist()):
                self.writer.add_scalar(f"kl_per_dim/z{d + 1}", v, epoch)
        elif model.discrete:  # a tokenizer with codes (a Gaussian video latent has none)
            counts = code_counts(model, x_test[:2000])
            usage = usage_stats(counts)
            self.writer.add_scalar("codebook/usage", usage["codebook_usage"], epoch)
            self.writer.add_scalar("codebook/perplexity", usage["perplexity"], epoch)
            self.writer.add_histogram("codebook/code_use", torch.cat(counts).float(), epoch)
        model.train(was_training)
        self.writer.flush()

    def _grid(self, images: torch.Tensor) -> torch.Tensor:
        """(n, P) images in [0, 1] -> one (C, 2H, nW / 2) image: the first half on top, the second below.
        Clips: the first four of each half, interleaved, a row of frames each."""
        if len(self.shape) == 4:
            t, ch, cw, cc = self.shape
            half = len(images) // 2
            clips = images.float().clamp(0, 1).reshape(-1, t, ch, cw, cc)
            pairs = torch.stack([clips[: min(4, half)], clips[half : half + min(4, half)]], 1).flatten(0, 1)
            strips = [torch.cat(list(clip.permute(0, 3, 1, 2)), dim=2) for clip in pairs]  # (C, H, T*W) each
            return torch.cat(strips, dim=1).cpu()
        h, w, *c = self.shape
        chans = c[0] if c else 1
        imgs = images.float().clamp(0, 1).reshape(-1, h, w, chans).permute(0, 3, 1, 2)  # (n, C, H, W)
        rows = imgs.reshape(2, -1, chans, h, w) if len(imgs) % 2 == 0 else imgs.unsqueeze(0)
        return torch.cat([torch.cat(list(r), dim=2) for r in rows], dim=1).cpu()  # (C, rows*H, cols*W)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
