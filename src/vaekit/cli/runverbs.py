"""The verbs that open a trained run: evaluate, sample, export, tokenize / detokenize, and the explore verbs
(diagnose, latent, manifold, interpolate, traverse, attribute, recon, report, explorer)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .._io import check_folder, refuse_to_replace
from ..errors import ConfigError
from .parser import settings_from


def cmd_export(args: argparse.Namespace) -> int:
    from ..export.onnx import export_onnx
    from ..runs.lock import writer_lock

    out = Path(args.out) if args.out else Path(args.run)
    check_folder(out)
    if out.resolve() != Path(args.run).resolve():
        refuse_to_replace([out / "encoder.onnx", out / "decoder.onnx"], args.overwrite)
    with writer_lock(out, Path(args.run)):
        paths = export_onnx(args.run, args.out)
    for path in paths:
        print(path)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..analysis.evaluate import evaluate_run

    m = evaluate_run(
        args.run,
        iw_samples=args.iw_samples,
        device=args.device,
        progress=not args.json,
        samples=args.samples,
        groups_used=args.groups_used,
    )
    if args.json:
        print(json.dumps(m))
        return 0
    if "kl" in m:
        rows = [
            ("loss (-ELBO)", f"{m['loss']:.3f} nats"),
            ("recon", f"{m['recon']:.3f} nats"),
            ("kl", f"{m['kl']:.3f} nats"),
            ("active units", f"{m['active_units']} / {len(m['kl_per_dim'])}"),
        ]
        if "nll_iw" in m:
            rows.append((f"nll_iw (K={args.iw_samples})", f"{m['nll_iw']:.3f} nats"))
    else:
        rows = [("loss (recon + prior)" if "prior_nll" in m else "loss (recon + quant)", f"{m['loss']:.3f} nats")]
        rows += [(k, f"{m[k]:.3f} nats") for k in ("recon", "prior_nll", "quant") if k in m]
        if "prior_nll_groups" in m:
            rows.append(("prior_nll, groups 1 ... G", " ".join(f"{v:.2f}" for v in m["prior_nll_groups"])))
        rows += [("mse", f"{m['mse']:.5f}"), ("codebook usage", f"{m['codebook_usage']:.3f}")]
        rows += [("perplexity", f"{m['perplexity']:.1f}"), ("dead codes", str(m["dead_codes"]))]
    rows += [(k, f"{m[k]:.3f}") for k in ("psnr", "psnr_bicubic", "ssim") if k in m]
    if "groups" in m:
        rows.append(("psnr, groups 1 ... G", " ".join(f"{v:.2f}" for v in m["groups"]["psnr"])))
    if "adaptive" in m:
        from ..evaluation.lengths import LENGTH_RULES

        a = m["adaptive"]
        n_tok = len(a["psnr_at_length"])
        marks = (1, max(1, n_tok // 4), max(1, n_tok // 2), n_tok)
        rows.append(("psnr at 1, K/4, K/2, K", " ".join(f"{a['psnr_at_length'][i - 1]:.2f}" for i in marks)))
        for key, (what, _) in LENGTH_RULES.items():
            if key not in a:  # an evaluation written before the rule existed
                continue
            c = a[key]
            text = (
                f"mean {c['mean_length']:.1f} of {n_tok}, psnr {c['psnr_adaptive']:.2f} (full {a['psnr_full']:.2f}), "
                f"r(length, PNG size) {c['length_vs_png_bytes']:.2f}"
            )
            rows.append((f"lengths, {what}", text))
    if "fid" in m:
        rows += [
            (f"fid ({m['fid_samples']} samples)", f"{m['fid']:.3f}"),
            ("fid floor (train vs test)", f"{m['fid_floor']:.3f}"),
        ]
        rows += [("sample labels", " ".join(map(str, m["sample_labels"])))]
        rows += [("classifier accuracy", f"{m['classifier_accuracy']:.4f}")]
    rows.append(("params", f"{m['params']:,}"))
    for k, v in rows:
        print(f"{k:<22} {v}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from ..analysis.sampling import sample_grid

    if not args.out.lower().endswith((".png", ".gif")):
        raise ConfigError(f"--out {args.out}: expected a .png file name (or .gif, for clips)")
    refuse_to_replace([Path(args.out)], args.overwrite)
    path = sample_grid(
        args.run, args.n, args.out, seed=args.seed, temperature=args.temperature, top_k=args.top_k, label=args.label
    )
    print(path)
    return 0


def cmd_prior(args: argparse.Namespace) -> int:
    import torch

    from ..config.prior import PriorConfig, PriorTrainConfig
    from ..data import load_run_data
    from ..data.tensors import load_data_tensors
    from ..runs.open import open_run
    from ..runs.prior import CURVES, prior_dir
    from ..training.charts import prior_curves
    from ..training.prior import prior_config_for, train_prior

    base = settings_from(args, PriorConfig, "prior")
    base.classes = 1 if args.conditional else 0
    tcfg = settings_from(args, PriorTrainConfig, "prior")
    run = open_run(args.run, args.device)
    # the flags checked against the run's tokenizer (a one-line error for a Gaussian VAE run) before any work
    prior_config_for(run.tokenizer, base, base.classes)
    ds = load_run_data(run.cfg, quiet=True)
    x_train, _ = load_data_tensors(run.cfg, run.x_test.device, ds, quiet=True)
    y_train = torch.as_tensor(ds.y_train) if ds.y_train is not None else None

    def show(r: dict) -> None:
        if not args.quiet:
            print(f"epoch {r['epoch']}: train {r['train_nll']:.2f}, test {r['test_nll']:.2f} nats per image "
                  f"({r['seconds']:.1f} s)")  # fmt: skip

    result = train_prior(run, x_train, y_train, base, tcfg, args.resume, args.overwrite, not args.quiet, show)
    curves = prior_curves(result.records, prior_dir(run.path) / CURVES)
    seconds = sum(r["seconds"] for r in result.records)
    print(f"token prior: test {result.test_nll:.2f} nats per image, {seconds:.0f} s; curves {curves}")
    print(f"prior directory: {prior_dir(run.path)}")
    if not args.no_report:
        from ..analysis.report import build_report

        print(f"report: {build_report(run)}")
    return 0


def cmd_explore(args: argparse.Namespace) -> int:
    """diagnose / latent / manifold / interpolate / traverse / attribute / recon / report / explorer."""
    from ..runs.open import open_run

    run = open_run(args.run, args.device)
    c = args.command
    if run.cfg.model.kind != "gaussian" and c not in ("recon", "report"):
        raise ConfigError(
            f"`vaekit {c}` looks at a Gaussian latent; this run is a {run.cfg.model.kind} tokenizer "
            "(try vaekit recon, report, tokenize or detokenize)"
        )
    out = Path(args.out) if args.out else run.path
    check_folder(out)
    if out.resolve() != run.path.resolve():  # a folder of the user's: nothing in it is replaced unless told
        refuse_to_replace([out / name for name in explore_outputs(c, args)], args.overwrite)
    from ..runs.lock import writer_lock

    out.mkdir(parents=True, exist_ok=True)
    with writer_lock(out, run.path):
        return _explore(c, run, out, args)


def explore_outputs(verb: str, args: argparse.Namespace) -> list[str]:
    """The files an explore verb writes into its --out folder (the report: every figure a report can have)."""
    from ..analysis.explore import interpolation_stem
    from ..runs.session import RUN_OUTPUTS

    stem = interpolation_stem(args.src, args.dst, args.mode) if verb == "interpolate" else ""
    return {
        "diagnose": ["kl_per_dim.png"],
        "latent": ["latent.csv", "latent.png"],
        "manifold": ["manifold.png"],
        "interpolate": [f"{stem}.png", f"{stem}.gif"],
        "traverse": ["traverse.png"],
        "attribute": ["attribute.png"],
        "recon": ["reconstructions.png", "reconstructions.gif", "samples.png"],
        "explorer": ["explorer.html"],
        "report": [n for n in RUN_OUTPUTS if "*" not in n and n.endswith((".png", ".gif", ".html", ".csv"))],
    }[verb]


def _explore(c: str, run: Any, out: Path, args: argparse.Namespace) -> int:
    EXPLORE_HANDLERS[c](run, out, args)
    return 0


def _diagnose(run: Any, out: Path, args: argparse.Namespace) -> None:
    from ..analysis import explore

    d = explore.diagnose(run, out)
    if args.json:
        print(json.dumps(d))
        return
    collapsed = ", ".join(f"z{i + 1}" for i in d["collapsed"]) or "none"
    print(
        f"KL total {d['kl_total']:.2f} nats over {len(d['kl_per_dim'])} dimensions; active units "
        f"{d['active_units']}; collapsed (KL < {explore.COLLAPSE_THRESHOLD}): {collapsed}"
    )
    for i, v in enumerate(d["kl_per_dim"]):
        print(f"  z{i + 1:<3} {v:8.3f} nats {'#' * min(60, int(v * 10))}")
    print(out / "kl_per_dim.png")


def _latent(run: Any, out: Path, args: argparse.Namespace) -> None:
    from ..analysis.explore import latent_map

    r = latent_map(run, out)
    print(f"{r['rows']} rows -> {r['csv']}\n{r['png']} ({r['method']})")


def _manifold(run: Any, out: Path, args: argparse.Namespace) -> None:
    from ..analysis.explore import manifold

    print(manifold(run, out, args.n))


def _interpolate(run: Any, out: Path, args: argparse.Namespace) -> None:
    from ..analysis.explore import interpolate_run

    png, gif = interpolate_run(run, args.src, args.dst, out, args.steps, args.mode)
    print(f"{png}\n{gif}")


def _traverse(run: Any, out: Path, args: argparse.Namespace) -> None:
    from ..analysis.explore import traverse_run

    print(traverse_run(run, out, args.index, args.steps))


def _attribute(run: Any, out: Path, args: argparse.Namespace) -> None:
    from ..analysis.explore import attribute_run

    res, path = attribute_run(
        run, args.positive, args.negative, list(args.strengths), out, split=args.split, apply_to=args.apply_to
    )
    if args.json:
        fields = ("norm", "strengths", "mean_ink", "n_positive", "n_negative", "probe", "probe_accuracy")
        print(json.dumps({**{k: getattr(res, k) for k in fields}, "png": str(path)}))
        return
    print(f"vector |v| = {res.norm:.3f} (from {res.n_positive} positive, {res.n_negative} negative images)")
    print(f"a probe on the pixels of their reconstructions tells the two apart with accuracy {res.probe_accuracy:.3f}")
    print("strength  mean ink of decoded images  probe's mean P(positive)")
    for s_, m, p in zip(res.strengths, res.mean_ink, res.probe, strict=True):
        print(f"{s_:+8.2f}  {m:.4f}                      {p:.3f}")
    print(path)


def _recon(run: Any, out: Path, args: argparse.Namespace) -> None:
    from ..analysis.explore import reconstructions, samples

    print(reconstructions(run, out, args.n, groups_used=args.groups_used))
    if run.cfg.model.kind == "gaussian":
        print(samples(run, out))


def _report(run: Any, out: Path, args: argparse.Namespace) -> None:
    from ..analysis.report import build_report

    print(build_report(run, out))


def _explorer(run: Any, out: Path, args: argparse.Namespace) -> None:
    from ..analysis.explorer import build_explorer

    print(build_explorer(run, out / "explorer.html"))


EXPLORE_HANDLERS = {
    "diagnose": _diagnose,
    "latent": _latent,
    "manifold": _manifold,
    "interpolate": _interpolate,
    "traverse": _traverse,
    "attribute": _attribute,
    "recon": _recon,
    "report": _report,
    "explorer": _explorer,
}
EXPLORE_VERBS = list(EXPLORE_HANDLERS)


def cmd_tokenize(args: argparse.Namespace) -> int:
    from ..analysis.tokens import detokenize_file, tokenize_run

    refuse_to_replace([Path(args.out)], args.overwrite)
    if args.command == "tokenize":
        path, shape = tokenize_run(args.run, args.out, args.split, args.adaptive, args.target_psnr, args.max_loss_db,
                                   args.mean_loss_db)  # fmt: skip
        print(f"{path}: tokens of shape {shape}")
    else:
        print(detokenize_file(args.run, args.tokens, args.out, args.n, args.groups_used))
    return 0
