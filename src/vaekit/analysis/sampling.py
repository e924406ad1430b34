"""Samples: a Gaussian VAE's prior N(0, I) decoded (a video VAE's grid of them), or a tokenizer's token prior sampled
and detokenized."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import ConfigError
from ..models import GaussianVAE, Tokenizer
from ..plots import save_grid, save_images
from ..runs.checkpoint import load_model
from ..runs.prior import has_prior, load_prior
from ..training.prior import sequences_to_grids


def continuous(model: torch.nn.Module) -> bool:
    """True for a model that samples from N(0, I) itself: a Gaussian VAE, or a video VAE's grid of Gaussians."""
    return isinstance(model, GaussianVAE) or (isinstance(model, Tokenizer) and not model.discrete)


def prior_grid(model: torch.nn.Module, n: int, out: str | Path, seed: int = 0) -> Path:
    """Decode ``n`` draws from a continuous latent's prior N(0, I) into one grid at ``out`` (a PNG of images, or
    an animated GIF of clips); returns the path."""
    if not continuous(model):
        raise ConfigError("prior samples of a tokenizer need its token prior: run `vaekit prior RUN` first")
    assert isinstance(model, GaussianVAE | Tokenizer)  # continuous() says so
    device = next(model.parameters()).device
    images = model.sample(n, generator=torch.Generator(device=device).manual_seed(seed)).cpu().numpy()
    return save_images(images, out) if images.ndim == 5 else save_grid(images, out)


@torch.no_grad()
def sample_tokens_images(
    run_dir: str | Path,
    n: int,
    seed: int = 0,
    temperature: float = 1.0,
    top_k: int = 0,
    label: int | None = None,
    model: torch.nn.Module | None = None,
) -> torch.Tensor:
    """``n`` images (n, *input_shape) in [0, 1] from a tokenizer run's token prior (``vaekit prior``);
    ``model``: the run's tokenizer when the caller has it loaded already."""
    if model is None:
        model, _ = load_model(run_dir)
    if isinstance(model, GaussianVAE):
        raise ConfigError("--temperature, --top-k and --label apply to tokenizer runs with a token prior")
    if not has_prior(run_dir):
        raise ConfigError(f"{run_dir} has no token prior; train one with `vaekit prior {run_dir}`, then sample")
    device = next(model.parameters()).device
    prior = load_prior(run_dir, device)
    labels = None
    if prior.cfg.classes:
        if label is None:
            raise ConfigError(f"this prior is class-conditional; pass --label 0..{prior.cfg.classes - 1}")
        labels = torch.full((n,), label, dtype=torch.long, device=device)
    elif label is not None:
        raise ConfigError("this prior is unconditional; retrain it with --conditional to sample by --label")
    gen = torch.Generator(device=device).manual_seed(seed)
    seq = prior.generate(n, labels, temperature=temperature, top_k=top_k, generator=gen)
    assert isinstance(model, Tokenizer)
    return model.detokenize(sequences_to_grids(model, seq))


def check_media_name(out: str | Path, clips: bool) -> None:
    """A .gif file name is for clips (an animated grid); images are written as .png."""
    if str(out).lower().endswith(".gif") and not clips:
        raise ConfigError(f"--out {out}: this run makes images; name a .png file (.gif is for clips)")


def sample_grid(
    run_dir: str | Path,
    n: int,
    out: str | Path,
    seed: int = 0,
    temperature: float = 1.0,
    top_k: int = 0,
    label: int | None = None,
) -> Path:
    """Load a run and write ``n`` samples as one PNG grid at ``out``: from N(0, I) for a Gaussian VAE, from
    the token prior for a tokenizer (``temperature``, ``top_k``, ``label`` apply to those)."""
    model, _ = load_model(run_dir)
    check_media_name(out, len(model.cfg.input_shape) == 4)
    if continuous(model):
        if (temperature, top_k, label) != (1.0, 0, None):
            raise ConfigError("--temperature, --top-k and --label apply to tokenizer runs with a token prior")
        return prior_grid(model, n, out, seed)
    images = sample_tokens_images(run_dir, n, seed, temperature, top_k, label, model)
    return save_images(images.cpu().numpy(), out)
