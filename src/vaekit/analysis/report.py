"""`vaekit report`: one self-contained HTML page per run (images embedded), to open in any browser."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._io import atomic_write
from ..arch import downsample_factor
from ..config import TiTokConfig, TokenizerConfig, VideoConfig
from ..evaluation.metrics import image_quality, tokenizer_metrics
from ..runs import checkpoint as ckpt
from ..runs.open import Run
from ..runs.prior import has_prior
from ..training.charts import loss_curves
from .explore import diagnose, interpolate_run, latent_map, reconstructions, samples
from .explorer import build_explorer

REPORT = "report.html"

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; } td, th { padding: 3px 12px; border-bottom: 1px solid #eee; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; image-rendering: pixelated; border: 1px solid #eee; }
figure { margin: 1em 0; } figcaption { color: #666; font-size: 0.9em; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; }
"""

# Marks the page once every image has decoded, so a headless browser can check it.
_CHECK = """
<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-images-loaded', ok + '/' + imgs.length);
});
</script>
"""


def _img(path: Path, caption: str) -> str:
    mime = "image/gif" if path.suffix == ".gif" else "image/png"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(caption)}" src="data:{mime};base64,{data}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _table(rows: list[tuple[str, Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f'<td class="num">{v:,.3f}</td>' if abs(v) >= 0.1 else f'<td class="num">{v:.5f}</td>'
        if isinstance(v, int):
            return f'<td class="num">{v:,}</td>'
        return f"<td>{html.escape(str(v))}</td>"

    return "<table>" + "".join(f"<tr><th>{html.escape(k)}</th>{cell(v)}</tr>" for k, v in rows) + "</table>"


def _interpolation_ends(run: Run) -> tuple[str, str]:
    y = run.y_test
    if y is not None and len(np.unique(y)) > 1:
        first = int(y[0])
        other = int(next(v for v in y if v != first))
        return str(first), str(other)
    return "index:0", "index:1"


def build_report(run: Run, out_dir: Path | None = None) -> Path:
    """Write the run's figures (if missing or stale) and ``report.html`` into ``out_dir``; returns its path."""
    out_dir = Path(out_dir or run.path)
    out_dir.mkdir(parents=True, exist_ok=True)
    records = ckpt.read_metrics(run.path)
    summary_path = run.path / ckpt.SUMMARY
    summary = ckpt.read_summary(run.path) if summary_path.is_file() else {}
    if run.cfg.model.kind != "gaussian":
        return _tokenizer_report(run, out_dir, records, summary)
    diag = diagnose(run, out_dir)
    curves = loss_curves(records, out_dir / ckpt.CURVES) if records else None
    lat = latent_map(run, out_dir)
    recon = reconstructions(run, out_dir)
    samp = samples(run, out_dir)
    a, b = _interpolation_ends(run)
    strip, gif = interpolate_run(run, a, b, out_dir)
    explorer = build_explorer(run, out_dir / "explorer.html")
    smile = _smile_section(run, out_dir)

    cfg = run.cfg
    title = f"{cfg.model.preset} VAE on {Path(cfg.data.dataset).name}"
    metrics = [
        ("test loss (negative ELBO, nats)", summary.get("loss")),
        ("reconstruction (nats)", summary.get("recon")),
        ("KL (nats)", summary.get("kl")),
        ("active units", f"{diag['active_units']} / {run.vae.cfg.latent_dim}"),
        ("collapsed dimensions (KL < 0.01)", ", ".join(f"z{d + 1}" for d in diag["collapsed"]) or "none"),
        ("parameters", summary.get("params")),
        ("epochs", summary.get("epochs")),
        ("training time (s)", summary.get("train_seconds")),
        ("engine", ", ".join(f"{k}={v}" for k, v in summary.get("engine", {}).items())),
    ]
    if "nll_iw" in summary:
        metrics.insert(3, ("importance-weighted NLL (nats)", summary["nll_iw"]))
    quality = image_quality(run.model, run.x_test)
    metrics += [("PSNR of reconstructions (dB)", quality["psnr"]), ("SSIM of reconstructions", quality.get("ssim"))]
    metrics = [(k, v) for k, v in metrics if v is not None]
    parts = []
    if curves:
        parts += ["<h2>Training</h2>", _img(curves, "loss, reconstruction and KL per epoch (train and test); beta")]
    parts += [
        "<h2>Latent dimensions</h2>",
        _img(out_dir / "kl_per_dim.png", "KL per latent dimension on the test set; red bars are collapsed"),
        _img(lat["png"], f"latent map of the test set ({lat['method']})"),
        "<h2>Reconstructions and samples</h2>",
        _img(recon, "test images (top) and reconstructions from the posterior mean (bottom)"),
        _img(samp, "decoder means of 64 draws from the prior"),
        "<h2>Interpolation</h2>",
        _img(strip, f"linear interpolation between posterior means: {a} to {b}"),
        _img(gif, "the same, animated"),
    ]
    parts += smile
    if explorer is not None:
        parts += [
            "<h2>Explore</h2>",
            f"<p><a href='{explorer.name}'>Open the latent explorer</a>: sliders and a 2-D pad that decode latents "
            "live in the browser, with this run's test images on the map.</p>",
        ]
    return _write(out_dir, run, title, metrics, parts)


# the lecture's smile vector, on emoji faces: smiling and grinning faces against the neutral and skeptical ones,
# from the training split, added to the test split's faces that do not smile (neutral, concerned, unwell,
# negative, sleepy)
SMILE = (
    "name~smil|grin",
    "subcategory=face-neutral-skeptical",
    "subcategory~^face-(neutral-skeptical|concerned|unwell|negative|sleepy)$",
)


def _smile_section(run: Run, out_dir: Path) -> list[str]:
    """On data whose images have names (emoji): the smile vector at strengths -2 ... 2, with a probe's mean
    P(smiling) per strength. Nothing for other data."""
    if run.dataset is None or "name" not in run.dataset.meta_train:
        return []
    from .explore import attribute_run

    positive, negative, targets = SMILE
    res, path = attribute_run(run, positive, negative, [-2.0, -1.0, 0.0, 1.0, 2.0], out_dir, split="train",
                              name="smile.png", targets=targets)  # fmt: skip
    probe = ", ".join(f"{s:+g}: {p:.2f}" for s, p in zip(res.strengths, res.probe, strict=True))
    return [
        "<h2>The smile vector</h2>",
        f"<p>Mean latent of the {res.n_positive} training faces named smiling or grinning minus that of the "
        f"{res.n_negative} neutral or skeptical ones, added at strengths -2 ... 2 to test faces that do not smile. "
        f"A logistic probe on the pixels of those faces' reconstructions (accuracy {res.probe_accuracy:.2f} on "
        f"them) scores each decoded face: mean P(smiling) {html.escape(probe)}.</p>",
        _img(path, "a row per strength; each column one test face that does not smile"),
    ]


def _write(out_dir: Path, run: Run, title: str, metrics: list[tuple[str, Any]], body: list[str]) -> Path:
    """The page: title, run directory, metrics table, the given sections, the configuration."""
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p>Run directory: <code>{html.escape(str(run.path))}</code></p>",
        "<h2>Test metrics</h2>",
        _table(metrics),
        *body,
        "<h2>Configuration</h2>",
        f"<pre>{html.escape(json.dumps(run.cfg.to_dict(), indent=2))}</pre>",
        _CHECK,
        "</body></html>",
    ]
    text = "\n".join(parts)
    return atomic_write(out_dir / REPORT, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _tokenizer_report(run: Run, out_dir: Path, records: list[dict], summary: dict[str, Any]) -> Path:
    from ..evaluation.metrics import bicubic_psnr, clip_extras, code_counts, groups_quality
    from ..plots import code_histogram, quality_chart, save_grid

    cfg = run.cfg
    discrete = run.tokenizer.discrete  # False: a Gaussian video latent (a video VAE), which has no codes
    counts = [c.cpu().numpy() for c in code_counts(run.tokenizer, run.x_test)] if discrete else []
    hist = code_histogram(counts, out_dir / "code_usage.png") if discrete else None
    curves = loss_curves(records, out_dir / ckpt.CURVES) if records else None
    recon = reconstructions(run, out_dir)
    title = f"{cfg.model.kind.upper()} {'tokenizer' if discrete else 'VAE'} on {Path(cfg.data.dataset).name}"
    grid = "x".join(map(str, run.tokenizer.grid))
    keys = [
        (
            f"reconstruction ({'BCE' if cfg.model.likelihood == 'bernoulli' else 'Gaussian NLL'}, nats per image)",
            "recon",
        ),
        ("mean squared error per pixel", "mse"),
        ("codebook + commitment loss" if discrete else "KL to N(0, I) (nats per clip)", "quant"),
        ("codebook usage (test set)", "codebook_usage"),
        ("perplexity of the code histogram", "perplexity"),
        ("dead codes (unused on the test set)", "dead_codes"),
        ("parameters", "params"),
        ("epochs", "epochs"),
        ("training time (s)", "train_seconds"),
    ]
    metrics = [(k, summary[v]) for k, v in keys if v in summary]
    quality = image_quality(run.model, run.x_test)
    clips = "psnr_per_frame" in quality
    what = "frames, mean over frames and clips" if clips else "reconstructions"
    metrics += [(f"PSNR of {what} (dB)", quality["psnr"])]
    metrics += [(f"SSIM of {what}", quality["ssim"])] if "ssim" in quality else []
    frame_plot = out_dir / "frame_psnr.png"
    if clips:
        extras = clip_extras(run.model, run.x_test)
        metrics += [("PSNR of frame 0 (dB): in the clip, and fed alone as an image",
                     f"{quality['psnr_per_frame'][0]:.2f}, {extras['psnr_first_frame_alone']:.2f}")]  # fmt: skip
        psnr = quality["psnr_per_frame"]
        frame_plot = quality_chart(list(range(len(psnr))), psnr, quality.get("ssim_per_frame"),
                                   out_dir / "frame_psnr.png", "frame index", "reconstruction quality by frame",
                                   (0, extras["psnr_first_frame_alone"], "frame 0 fed alone (an image)"))  # fmt: skip
    bicubic = bicubic_psnr(run.x_test, tuple(cfg.model.input_shape), run.tokenizer.grid)
    metrics += [("PSNR of a bicubic resize to the token grid and back (dB), the yardstick", bicubic)]
    metrics.insert(
        0,
        (
            "tokens per image",
            (
                f"{cfg.model.tokens} tokens in a row (patches {grid})"
                if isinstance(cfg.model, TiTokConfig)
                else f"{'x'.join(map(str, run.tokenizer.token_shape))} grid per clip (time / "
                f"{cfg.model.time_downsample}, space / {cfg.model.downsample})"
                if isinstance(cfg.model, VideoConfig)
                else f"{grid} grid (downsample {downsample_factor(cfg.model)})"
            )
            + (
                f", {run.tokenizer.codebook_size} codes per token"
                if discrete
                else f", each a Gaussian of {run.tokenizer.code_dim} channels"
            )  # fmt: skip
            + (
                f" x {cfg.model.groups} groups"
                if isinstance(cfg.model, TokenizerConfig) and cfg.model.kind == "mgvq"
                else ""
            ),
        ),
    )
    parts = []
    if curves:
        parts += ["<h2>Training</h2>", _img(curves, "loss, reconstruction and quantizer loss per epoch")]
    parts.append("<h2>Reconstructions</h2>")
    if clips:
        parts += [
            _img(recon.with_suffix(".gif"), "test clips (left) and their reconstructions from the tokens (right)"),
            _img(recon, "frame by frame: a clip's frames, then its reconstruction's, for four clips"),
            _img(frame_plot, "PSNR and SSIM by frame index; causality makes frame 0 fed alone equal frame 0"),
        ]
    else:
        parts.append(_img(recon, "test images (top) and their reconstructions from the tokens (bottom)"))
    if hist is not None:
        parts += ["<h2>Codes</h2>", _img(hist, "how often each code is used on the test set, most used first")]
    else:  # a continuous latent samples without a prior: N(0, I) decoded
        from .sampling import prior_grid

        drawn = prior_grid(run.model, 16, out_dir / "samples.gif")
        parts += ["<h2>Samples</h2>", _img(drawn, "16 latent grids drawn from N(0, I), decoded")]
    groups = len(run.tokenizer.codebook_sizes) if discrete else 1
    if groups > 1:  # multi-group VQ: decoded from the first k groups
        curve = groups_quality(run.model, run.x_test, quality)
        ks = list(range(1, groups + 1))
        chart = quality_chart(ks, [c["psnr"] for c in curve], [c["ssim"] for c in curve if "ssim" in c],
                              out_dir / "groups_psnr.png", "groups used (the first k)",
                              "decoded from the first k groups")  # fmt: skip
        x = run.x_test[:8]
        rows = [x.reshape(len(x), *run.image_shape)] + [run.tokenizer.reconstruct(x, k) for k in ks]
        strip = save_grid(torch.cat([r.cpu() for r in rows]).numpy(), out_dir / "groups.png", ncol=len(x))
        metrics += [("PSNR from the first k groups, k = 1 ... G (dB)", " ".join(f"{c['psnr']:.2f}" for c in curve))]
        parts += [
            "<h2>Groups, coarse to fine</h2>",
            _img(strip, "test images (top), then decoded from the first 1, 2, ... G groups (the rest zeros)"),
            _img(chart, "PSNR and SSIM against the number of groups used"),
        ]
    if isinstance(cfg.model, TiTokConfig) and cfg.model.nested_dropout:
        from ..evaluation.lengths import LENGTH_RULES, adaptive_metrics, prefix_chart, rule_text

        a = adaptive_metrics(run.model, run.x_test)
        for key in LENGTH_RULES:
            c = a[key]
            metrics += [
                (
                    f"lengths chosen per image, {rule_text(key, a['max_loss_db'])}: mean tokens, PSNR (full length), "
                    "correlation with the PNG size",
                    f"{c['mean_length']:.1f}, {c['psnr_adaptive']:.2f} dB ({a['psnr_full']:.2f}), "
                    f"r = {c['length_vs_png_bytes']:.2f}",
                )
            ]
        chart = prefix_chart(a, out_dir / "prefix_psnr.png")
        parts += ["<h2>Ordered tokens</h2>", _img(chart, "PSNR from each prefix length; lengths chosen per image")]
    if has_prior(run.path):
        parts += _prior_section(run, out_dir, metrics)
    return _write(out_dir, run, title, metrics, parts)


def _prior_section(run: Run, out_dir: Path, metrics: list) -> list[str]:
    """Samples from the run's token prior, its loss curve, and its numbers in the metrics table."""
    from ..plots import save_images
    from ..runs.checkpoint import read_metrics
    from ..runs.prior import CURVES, prior_dir, read_prior_config
    from ..training.charts import prior_curves
    from .evaluate import prior_metrics
    from .sampling import sample_tokens_images

    cfg, tcfg = read_prior_config(run.path)
    labels = list(range(cfg.classes)) if cfg.classes else [None]
    n = 64 // len(labels) if cfg.classes else 64
    if len(run.image_shape) == 4:  # clips: fewer, as an animated grid
        labels, n = labels[:1], 16
    grids = [sample_tokens_images(run.path, n, seed=0, label=lab, model=run.model) for lab in labels]
    images = torch.cat(grids).cpu().numpy()
    name = "prior_samples.gif" if images.ndim == 5 else "prior_samples.png"
    path = save_images(images, out_dir / name, ncol=n if cfg.classes else None)
    m = prior_metrics(run, tokenizer_metrics(run.tokenizer, run.x_test)["recon"])
    metrics += [
        ("token prior: -log p(tokens) on the test set (nats per image)", m["prior_nll"]),
        ("bound on -log p(x): reconstruction + prior (nats per image)", m["loss"]),
        *([("token prior: the terms of each group 1 ... G (nats per image)",
            ", ".join(f"{v:.2f}" for v in m["prior_nll_groups"]))] if "prior_nll_groups" in m else []),
        ("token prior", f"{cfg.layers} blocks x {cfg.dim} wide, {cfg.heads} heads, {tcfg.epochs} epochs"
                        + (f", conditional on {cfg.classes} classes" if cfg.classes else "")),
    ]  # fmt: skip
    records = read_metrics(prior_dir(run.path))
    parts = ["<h2>Samples from the token prior</h2>"]
    caption = "one row per class" if cfg.classes else "64 token grids drawn from the prior (seed 0), decoded"
    parts.append(_img(path, caption))
    if records:
        parts.append(_img(prior_curves(records, prior_dir(run.path) / CURVES), "the prior's NLL per epoch"))
    return parts
