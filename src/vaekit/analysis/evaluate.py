"""`vaekit evaluate`: a run's test-set metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from ..evaluation.metrics import evaluate_model
from ..models import GaussianVAE, Tokenizer
from ..runs.open import Run, open_run
from ..runs.prior import has_prior, load_prior
from ..training.prior import token_nll, token_sequences
from .sampling import sample_tokens_images


def evaluate_run(
    run_dir: str | Path,
    iw_samples: int = 0,
    device: str = "auto",
    progress: bool = False,
    samples: int = 0,
    groups_used: int | None = None,
) -> dict[str, Any]:
    """Load a run and evaluate it on its dataset's test split (same binarization as in training). A tokenizer
    run with a token prior also gets ``prior_nll`` and ``loss`` = ``recon`` + ``prior_nll`` (its training loss,
    recon + quant, moves to ``tokenizer_loss``). ``samples`` > 0 adds ``sample_quality``'s numbers. A
    multi-group VQ run gets ``groups``: PSNR and SSIM decoded from the first k groups, k = 1 ... G;
    ``groups_used`` = k makes ``psnr`` and ``ssim`` those of the first k groups."""
    run = open_run(run_dir, device)
    out = evaluate_model(run.model, run.x_test, iw_samples, progress=progress, quality=True)
    if isinstance(run.model, Tokenizer) and run.model.discrete and len(run.model.codebook_sizes) > 1:
        from ..evaluation.metrics import groups_quality

        run.model.check_groups_used(groups_used)
        curve = groups_quality(run.model, run.x_test, {k: out[k] for k in ("psnr", "ssim") if k in out})
        out["groups"] = {"psnr": [c["psnr"] for c in curve], "ssim": [c.get("ssim") for c in curve]}
        if groups_used is not None:
            out |= {"groups_used": groups_used} | curve[groups_used - 1]
    elif groups_used is not None:
        raise ConfigError("--groups-used applies to mgvq runs (multi-group VQ)")
    if run.cfg.model.kind != "gaussian" and has_prior(run.path):
        out |= {"tokenizer_loss": out["loss"]} | prior_metrics(run, out["recon"])
    if getattr(run.cfg.model, "nested_dropout", False):  # ordered 1-D tokens: lengths chosen per image
        from ..evaluation.lengths import adaptive_metrics

        out["adaptive"] = adaptive_metrics(run.model, run.x_test, progress=progress)
    if samples:
        out |= sample_quality(run, samples, progress=progress)
    return out


@torch.no_grad()
def draw_samples(run: Run, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` generated images (n, P) in [0, 1]: decoded N(0, I) draws (Gaussian VAE), or token-prior samples
    decoded by the tokenizer (a ConfigError when it has no prior)."""
    device = run.x_test.device
    if isinstance(run.model, GaussianVAE):
        gen = torch.Generator(device=device).manual_seed(seed)
        parts = [run.model.sample(min(1000, n - i), generator=gen) for i in range(0, n, 1000)]
        return torch.cat(parts).reshape(n, -1)
    return sample_tokens_images(run.path, n, seed=seed, model=run.model).reshape(n, -1).to(device)


def sample_quality(run: Run, n: int, seed: int = 0, progress: bool = False) -> dict[str, Any]:
    """Sample quality in the feature space of the dataset's reference classifier (``training/classifier.py``):
    ``fid`` between ``n`` samples and the test images, ``fid_floor`` between ``n`` training images and the test
    images (what real data scores at the same n), ``sample_labels`` (how the classifier labels the samples:
    a collapsed sampler shows up as a spike) and ``classifier_accuracy`` on the test set. Not the Inception FID
    of the literature: comparable between vaekit models on one dataset only."""
    from ..data import load_run_data
    from ..data.tensors import to_tensor
    from ..evaluation.fid import fid
    from ..training.classifier import reference_classifier

    if n < 2:
        raise ConfigError(f"--samples must be >= 2 (a covariance needs two), got {n}")
    device = run.x_test.device
    ds = load_run_data(run.cfg, quiet=True)
    clf, accuracy = reference_classifier(ds, device, progress)
    f_samples, labels = clf.predict(draw_samples(run, n, seed))
    f_test, _ = clf.predict(to_tensor(ds.x_test, device))
    idx = np.sort(np.random.default_rng(seed).permutation(len(ds.x_train))[:n])
    f_train, _ = clf.predict(to_tensor(ds.x_train[idx], device))
    return {
        "fid": fid(f_samples, f_test),
        "fid_floor": fid(f_train, f_test),
        "fid_samples": n,
        "sample_labels": torch.bincount(labels, minlength=clf.cfg.classes).tolist(),
        "classifier_accuracy": accuracy,
    }


def prior_metrics(run: Run, recon: float) -> dict[str, Any]:
    """With a point-mass posterior at the codes z_q(x), log p(x) >= log p(x | z_q(x)) + log p_prior(z_q(x)):
    ``prior_nll`` = E[-log p_prior(z_q(x))] and ``loss`` = ``recon`` + ``prior_nll``, nats per test image,
    a bound comparable with a Gaussian VAE's negative ELBO (same likelihood, same test images). ``recon``:
    the tokenizer's -log p(x | z_q(x)) on the test set. A multi-group run also gets ``prior_nll_groups``: the
    terms of ``prior_nll`` that each group's tokens contribute (they sum to it)."""
    prior = load_prior(run.path, run.x_test.device)
    labels = torch.as_tensor(run.y_test, device=run.x_test.device) if prior.cfg.classes else None
    per_token = token_nll(prior, token_sequences(run.tokenizer, run.x_test), labels)  # (T,)
    nll = per_token.sum().item()
    out: dict[str, Any] = {"prior_nll": nll, "loss": recon + nll}
    groups = len(run.tokenizer.codebook_sizes)
    if groups > 1:  # mgvq: a position's G tokens are together, so token t is group t mod G's
        out["prior_nll_groups"] = per_token.view(-1, groups).sum(0).tolist()
    return out
