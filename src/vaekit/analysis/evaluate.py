"""`vaekit evaluate`: a run's test-set metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..evaluation.metrics import evaluate_model
from ..runs.open import Run, open_run
from ..runs.prior import has_prior, load_prior
from ..training.prior import sequence_nll, token_sequences


def evaluate_run(
    run_dir: str | Path, iw_samples: int = 0, device: str = "auto", progress: bool = False
) -> dict[str, Any]:
    """Load a run and evaluate it on its dataset's test split (same binarization as in training). A tokenizer
    run with a token prior also gets ``prior_nll`` and ``loss`` = ``recon`` + ``prior_nll`` (its training loss,
    recon + quant, moves to ``tokenizer_loss``)."""
    run = open_run(run_dir, device)
    out = evaluate_model(run.model, run.x_test, iw_samples, progress=progress, quality=True)
    if run.cfg.model.kind != "gaussian" and has_prior(run.path):
        out |= {"tokenizer_loss": out["loss"]} | prior_metrics(run, out["recon"])
    return out


def prior_metrics(run: Run, recon: float) -> dict[str, float]:
    """With a point-mass posterior at the codes z_q(x), log p(x) >= log p(x | z_q(x)) + log p_prior(z_q(x)):
    ``prior_nll`` = E[-log p_prior(z_q(x))] and ``loss`` = ``recon`` + ``prior_nll``, nats per test image,
    a bound comparable with a Gaussian VAE's negative ELBO (same likelihood, same test images). ``recon``:
    the tokenizer's -log p(x | z_q(x)) on the test set."""
    prior = load_prior(run.path, run.x_test.device)
    labels = torch.as_tensor(run.y_test, device=run.x_test.device) if prior.cfg.classes else None
    nll = sequence_nll(prior, token_sequences(run.tokenizer, run.x_test), labels)
    return {"prior_nll": nll, "loss": recon + nll}
