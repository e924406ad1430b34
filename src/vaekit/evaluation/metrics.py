"""Test-set evaluation: negative ELBO and its terms, KL per dimension, active units, importance-weighted NLL."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from ..errors import ConfigError
from ..losses import kl_normal, log_normal, recon_nll
from ..models import GaussianVAE, count_params

ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al. 2015: a unit is active when Cov_x(E[z|x]) > 0.01


@torch.no_grad()
def elbo_metrics(model: GaussianVAE, x: Tensor, batch_size: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Negative ELBO (beta = 1) per image over ``x`` (N, P) with one posterior sample per image.

    Returns ``loss`` (nats), ``recon``, ``kl``, ``kl_per_dim`` (D floats) and ``active_units``.
    """
    model.eval()
    g = torch.Generator(device=x.device).manual_seed(seed)
    cfg = model.cfg
    n = x.shape[0]
    recon_sum = torch.zeros((), dtype=torch.float64, device=x.device)
    kl_sum = torch.zeros(model.latent_dim, dtype=torch.float64, device=x.device)
    mus = []
    for i in range(0, n, batch_size):
        xb = x[i : i + batch_size]
        mu, logvar = model.encode(xb)
        z = model.reparameterize(mu, logvar, g)
        recon_sum += recon_nll(model.decode(z), xb, cfg.likelihood, cfg.sigma).double().sum()
        kl_sum += kl_normal(mu, logvar).double().sum(0)
        mus.append(mu.double())
    mu_all = torch.cat(mus)  # (N, D)
    variances = mu_all.var(0, unbiased=True) if n > 1 else torch.zeros_like(kl_sum)
    recon = (recon_sum / n).item()
    kl_per_dim = (kl_sum / n).tolist()
    return {
        "loss": recon + sum(kl_per_dim),
        "recon": recon,
        "kl": sum(kl_per_dim),
        "kl_per_dim": kl_per_dim,
        "active_units": int((variances > ACTIVE_UNIT_THRESHOLD).sum().item()),
    }


@torch.no_grad()
def iw_nll(
    model: GaussianVAE, x: Tensor, k: int, max_rows: int = 16384, seed: int = 0, progress: bool = False
) -> float:
    """Importance-weighted estimate of -log p(x) (Burda et al. 2015, arXiv 1509.00519), mean nats per image.

    log p(x) ~= logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K, with z_k ~ q(z|x).
    Images are processed in chunks of at most ``max_rows`` decoded samples, so K = 1000 fits in memory.
    """
    if k < 1:
        raise ConfigError(f"the importance-weighted bound needs K >= 1 samples, got {k}; pass --iw-samples 1 or more")
    model.eval()
    g = torch.Generator(device=x.device).manual_seed(seed)
    cfg = model.cfg
    n, d = x.shape[0], model.latent_dim
    chunk = max(1, max_rows // k)  # images per pass
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    for i in tqdm(range(0, n, chunk), desc=f"IW-NLL (K={k})", disable=None if progress else True, leave=False):
        xb = x[i : i + chunk]  # (c, P)
        c = xb.shape[0]
        mu, logvar = model.encode(xb)  # (c, D)
        # K > max_rows: the samples in slices of at most max_rows decodes, their logsumexp combined as it goes
        lse = torch.full((c,), -math.inf, dtype=torch.float64, device=x.device)
        for j in range(0, k, max(1, max_rows // c)):
            kk = min(k - j, max(1, max_rows // c))
            eps = torch.randn(kk, c, d, device=x.device, generator=g)
            z = mu + torch.exp(0.5 * logvar) * eps  # (kk, c, D)
            logits = model.decode(z.reshape(kk * c, d))  # (kk*c, P)
            if cfg.likelihood == "bernoulli":
                # log p(x|z) = sum_p x_p l_p - softplus(l_p): two passes over the logits, no (kk*c, P) copy of x
                log_px_z = torch.einsum("kcp,cp->kc", logits.view(kk, c, -1), xb) - F.softplus(logits).sum(-1).view(
                    kk, c
                )
            else:
                log_px_z = -recon_nll(logits, xb.repeat(kk, 1), cfg.likelihood, cfg.sigma).reshape(kk, c)
            log_pz = log_normal(z, torch.zeros_like(z), torch.zeros_like(z))  # (kk, c)
            log_qz = log_normal(z, mu, logvar)  # (kk, c)
            lse = torch.logaddexp(lse, torch.logsumexp((log_px_z + log_pz - log_qz).double(), 0))
        total += -(lse - math.log(k)).sum()
    return (total / n).item()


@torch.no_grad()
def eval_batch(x: Tensor, batch_size: int = 0) -> int:
    """Images per evaluation batch: ``batch_size``, or (0) up to 1000 and about 2^20 pixels, so that the
    activations of a batch of large colour images stay small (64x64x3: 85 images)."""
    return batch_size or max(1, min(1000, 2**20 // max(1, x[0].numel())))


def code_counts(model, x: Tensor, batch_size: int = 0) -> list[Tensor]:
    """How often each code is used on ``x``: one (K_g,) count per codebook (G of them for multi-group VQ,
    whose codebooks may differ in size)."""
    model.eval()
    batch_size = eval_batch(x, batch_size)
    sizes = model.codebook_sizes
    counts = [torch.zeros(k, dtype=torch.int64, device=x.device) for k in sizes]
    for i in range(0, x.shape[0], batch_size):
        idx = model.tokenize(x[i : i + batch_size])
        idx = idx.reshape(-1, len(sizes))
        for g, k in enumerate(sizes):
            counts[g] += torch.bincount(idx[:, g], minlength=k)
    return counts


def usage_stats(counts: list[Tensor]) -> dict[str, Any]:
    """codebook_usage (fraction of codes used at least once), perplexity (exp entropy), dead_codes (a sum);
    the usage and perplexity are means over groups, and each group's are listed for multi-group VQ."""
    used = [(c > 0).double().mean().item() for c in counts]
    ppl = []
    for c in counts:
        p = c.double() / c.sum()
        ppl.append(torch.exp(-(p * torch.log(p.clamp(min=1e-30))).sum()).item())
    out: dict[str, Any] = {
        "codebook_usage": sum(used) / len(used),
        "perplexity": sum(ppl) / len(ppl),
        "dead_codes": int(sum((c == 0).sum().item() for c in counts)),
    }
    if len(counts) > 1:
        out |= {"codebook_usage_per_group": used, "perplexity_per_group": ppl}
    return out


@torch.no_grad()
def tokenizer_metrics(model, x: Tensor, batch_size: int = 0) -> dict[str, Any]:
    """Test metrics of a tokenizer: ``loss`` (recon + quant), ``recon`` (-log p(x|z_q), nats/image, as its
    likelihood says), ``quant``, ``mse`` (per pixel), ``codebook_usage``, ``perplexity``, ``dead_codes``. A
    continuous (Gaussian) latent has no codes: its ``quant`` is the KL to N(0, I), so ``loss`` is the negative
    ELBO (with the posterior mean decoded for ``recon``; the training loss decodes a sample)."""
    model.eval()
    batch_size = eval_batch(x, batch_size)
    n = x.shape[0]
    recon = quant = sq = 0.0
    for i in range(0, n, batch_size):
        xb = x[i : i + batch_size]
        out = model(xb)
        recon += recon_nll(out.logits, xb, model.cfg.likelihood, model.cfg.sigma).sum().item()
        quant += out.quant_loss.item() * xb.shape[0]
        sq += (model.mean_image(out.logits).reshape(xb.shape) - xb).pow(2).sum().item()
    m = {"loss": (recon + quant) / n, "recon": recon / n, "quant": quant / n, "mse": sq / x.numel()}
    if model.discrete:
        m.update(usage_stats(code_counts(model, x, batch_size)))
    return m


@torch.no_grad()
def psnr_per_image(rec: Tensor, ref: Tensor) -> Tensor:
    """(B,) PSNR in dB, 10 log10(1 / MSE), of each image in [0, 1] (MSE floored at 1e-10)."""
    mse = (rec.float() - ref.float()).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return 10.0 * torch.log10(1.0 / mse)


def image_quality(model, x: Tensor, batch_size: int = 0, groups_used: int | None = None) -> dict[str, Any]:
    """Reconstructions from the posterior mean (the codes, for a tokenizer) against ``x`` (N, P) in [0, 1]:
    ``psnr`` (dB, 10 log10(1 / MSE) per image, then the mean) and ``ssim`` (Wang et al. 2004, Gaussian window
    11 / sigma 1.5 as torchmetrics computes it, narrowed to the image for images under 11 pixels; per image,
    then the mean; colour: over the three channels). Clips are measured frame by frame: the means over frames
    and clips, and ``psnr_per_frame`` / ``ssim_per_frame``, the mean over clips at each frame index.
    ``groups_used``: a multi-group tokenizer decodes from its first k groups."""
    model.eval()
    batch_size = eval_batch(x, batch_size)
    psnr, ssim = [], []
    frames = 0
    for i in range(0, x.shape[0], batch_size):
        xb = x[i : i + batch_size]
        rec = (model.reconstruct(xb) if groups_used is None else model.reconstruct(xb, groups_used)).float()
        ref = x[i : i + batch_size].reshape(rec.shape).float()
        if rec.dim() == 5:  # clips: their frames, as images
            frames = rec.shape[1]
            rec, ref = rec.flatten(0, 1), ref.flatten(0, 1)
            if rec.shape[-1] == 1:
                rec, ref = rec[..., 0], ref[..., 0]
        psnr.append(psnr_per_image(rec, ref))
        if (s := ssim_per_image(rec, ref)) is not None:
            ssim.append(s)
    p = torch.cat(psnr)
    out: dict[str, Any] = {"psnr": p.mean().item()}
    if ssim:
        out["ssim"] = torch.cat(ssim).mean().item()
    if frames:
        out["psnr_per_frame"] = p.reshape(-1, frames).mean(0).tolist()
        if ssim:
            out["ssim_per_frame"] = torch.cat(ssim).reshape(-1, frames).mean(0).tolist()
    return out


def groups_quality(model, x: Tensor, full: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """``image_quality`` decoded from the first k groups of a multi-group tokenizer, k = 1 ... G; ``full``: the
    all-groups result when the caller has it already (decoding from all G groups is the full decoding)."""
    groups = len(model.codebook_sizes)
    curve = [image_quality(model, x, groups_used=k) for k in range(1, groups if full is not None else groups + 1)]
    return curve + ([full] if full is not None else [])


def ssim_per_image(rec: Tensor, ref: Tensor) -> Tensor | None:
    """(B,) SSIM of (B, H, W) grey or (B, H, W, 3) colour images in [0, 1] (see ``image_quality``); None for
    images under 3 pixels a side."""
    from torchmetrics.functional.image import structural_similarity_index_measure as ssim_fn

    if rec.dim() == 3:
        rec, ref = rec.unsqueeze(1), ref.unsqueeze(1)  # (B, 1, H, W)
    else:
        rec, ref = rec.permute(0, 3, 1, 2), ref.permute(0, 3, 1, 2)  # (B, 3, H, W)
    side = min(rec.shape[-2:])
    kernel = min(11, side if side % 2 else side - 1)
    if kernel < 3:
        return None
    sigma = 1.5 * kernel / 11
    per_image = ssim_fn(rec, ref, data_range=1.0, kernel_size=kernel, sigma=sigma, reduction="none")
    assert isinstance(per_image, Tensor)  # a tuple only when asked for the full image too
    return per_image.reshape(-1)


@torch.no_grad()
def bicubic_psnr(x: Tensor, shape: tuple[int, ...], grid: tuple[int, int]) -> float:
    """The yardstick for a tokenizer's ``psnr``: images (N, P) in [0, 1] of ``shape`` resized bicubically
    (antialiased) down to the token ``grid`` and back up, clipped to [0, 1]; PSNR per image, then the mean (dB).
    Clips (``shape`` (T, H, W, C)) frame by frame."""
    import torch.nn.functional as F

    if len(shape) == 4:  # clips: their frames
        shape = shape[1:]
    h, w, *c = shape
    img = x.float().reshape(-1, h, w, c[0] if c else 1).permute(0, 3, 1, 2)  # (N, C, H, W)
    small = F.interpolate(img, size=grid, mode="bicubic", antialias=True, align_corners=False)
    back = F.interpolate(small, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
    mse = (back - img).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return (10.0 * torch.log10(1.0 / mse)).mean().item()


def test_metrics(model, x: Tensor) -> dict[str, Any]:
    """The per-epoch test metrics of either model family (``loss``, ``recon`` and ``kl`` or ``quant``)."""
    return elbo_metrics(model, x) if isinstance(model, GaussianVAE) else tokenizer_metrics(model, x)


def evaluate_model(
    model, x_test: Tensor, iw_samples: int = 0, progress: bool = False, quality: bool = False
) -> dict[str, Any]:
    """All test metrics of a model: ``loss, recon, kl, kl_per_dim, active_units, params`` (+ ``nll_iw``);
    for tokenizers ``loss, recon, quant, mse, codebook_usage, perplexity, dead_codes, params``; with
    ``quality`` also ``psnr`` and ``ssim`` of the reconstructions (``image_quality``), and for tokenizers
    ``psnr_bicubic``, a bicubic resize to the token grid and back (``bicubic_psnr``)."""
    if not isinstance(model, GaussianVAE):
        if iw_samples:
            raise ConfigError("--iw-samples applies to Gaussian VAEs; tokenizers have no continuous posterior")
        out = tokenizer_metrics(model, x_test) | {"params": count_params(model)}
    else:
        out = elbo_metrics(model, x_test)
        if iw_samples:
            out["nll_iw"] = iw_nll(model, x_test, iw_samples, progress=progress)
        out["params"] = count_params(model)
    if quality:
        out |= image_quality(model, x_test)
        if not isinstance(model, GaussianVAE):
            out["psnr_bicubic"] = bicubic_psnr(x_test, tuple(model.cfg.input_shape), model.grid)
        if len(model.cfg.input_shape) == 4:
            out |= clip_extras(model, x_test)
    return out


@torch.no_grad()
def clip_extras(model, x: Tensor, batch_size: int = 0) -> dict[str, Any]:
    """A video tokenizer's ``tokens_per_clip`` and ``psnr_first_frame_alone``: the PSNR of frame 0 encoded and
    decoded as a one-frame clip (an image). Causality makes it equal ``psnr_per_frame[0]``."""
    model.eval()
    batch_size = eval_batch(x, batch_size)
    frame = math.prod(model.cfg.input_shape[1:])  # pixels of one frame; a clip is channel-last, frame 0 first
    psnr = []
    for i in range(0, x.shape[0], batch_size):
        rec = model.reconstruct(x[i : i + batch_size, :frame]).float()  # (B, 1, H, W, C)
        psnr.append(psnr_per_image(rec, x[i : i + batch_size, :frame].reshape(rec.shape)))
    # a continuous latent: positions of code_dim real numbers each
    return {"tokens_per_clip": math.prod(model.token_shape), "psnr_first_frame_alone": torch.cat(psnr).mean().item()}
