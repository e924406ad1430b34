"""Command-line interface: parses flags, calls one function of the Python API, prints the result.

Known errors become one line on stderr and exit code 2; an interrupt exits with 130.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from .errors import ConfigError, VaekitError

# train flags -> (config section, field)
TRAIN_FLAGS = {
    "epochs": ("train", "epochs"),
    "batch_size": ("train", "batch_size"),
    "lr": ("train", "lr"),
    "seed": ("train", "seed"),
    "device": ("train", "device"),
    "precision": ("train", "precision"),
    "step": ("train", "step"),
    "graph": ("train", "graph"),
    "latent_dim": ("model", "latent_dim"),
    "likelihood": ("model", "likelihood"),
    "sigma": ("model", "sigma"),
    "arch": ("model", "arch"),
    "hidden": ("model", "hidden"),
    "encoder_paths": ("model", "encoder_paths"),
    "posterior_sigma": ("model", "posterior_sigma"),
    "beta": ("loss", "beta"),
    "anneal": ("loss", "anneal"),
    "free_bits": ("loss", "free_bits"),
    "model": ("model", "kind"),
    "codebook_size": ("model", "codebook_size"),
    "code_dim": ("model", "code_dim"),
    "levels": ("model", "levels"),
    "groups": ("model", "groups"),
    "codebook_update": ("model", "codebook_update"),
    "commitment": ("model", "commitment"),
    "dataset": ("data", "dataset"),
    "data_dir": ("data", "data_dir"),
    "binarize": ("data", "binarize"),
}


# what `train --resume` may change: the length, and switches that change speed but not the model
RESUME_MAY_CHANGE = {
    ("train", "epochs"),
    ("train", "precision"),
    ("train", "step"),
    ("train", "graph"),
    ("train", "device"),
}


def _parser() -> argparse.ArgumentParser:
    from .config import ANNEALS, ARCHS, BINARIZE, DEVICES, ENCODER_PATHS, GRAPHS, LIKELIHOODS, PRECISIONS, STEPS
    from .models import PRESETS

    p = argparse.ArgumentParser(prog="vaekit", description="Variational autoencoders, trained fast.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("data", help="fetch datasets and describe them")
    dsub = d.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    f = dsub.add_parser("fetch", help="download (or find locally) a dataset and cache it")
    f.add_argument("name", choices=["mnist", "fashion-mnist"])
    f.add_argument("--data-dir", help="folder searched first for the dataset's files")
    i = dsub.add_parser("info", help="counts, shape, value range and checksum of a dataset")
    i.add_argument("name", help="mnist, fashion-mnist, or a path to an .npz / IDX file / image folder")
    i.add_argument("--data-dir")
    i.add_argument("--json", action="store_true", help="print one JSON object")

    t = argparse.ArgumentParser(add_help=False)  # the settings of a run, shared by `train` and `sweep`
    t.add_argument("--config", help="TOML file with [model] [loss] [data] [train] tables")
    t.add_argument("--preset", choices=sorted(PRESETS), help="model architecture (default classic)")
    t.add_argument("--model", choices=["gaussian", "vq", "fsq", "mgvq"], help="model family (default gaussian)")
    t.add_argument("--arch", choices=ARCHS, help="gaussian: mlp or conv encoder/decoder (the preset decides)")
    t.add_argument("--hidden", help="gaussian: dense hidden widths, e.g. 512,256 (the decoder mirrors them)")
    t.add_argument("--encoder-paths", choices=ENCODER_PATHS, help="gaussian: shared trunk, or dual mu/logvar nets")
    t.add_argument("--posterior-sigma", type=float, help="gaussian: fix q(z|x)'s std to this (learn mu only)")
    t.add_argument("--codebook-size", type=int, help="vq/mgvq: codes per codebook (default 512); fsq: picks levels")
    t.add_argument("--code-dim", type=int, help="vq/mgvq: channels per token vector (default 64)")
    t.add_argument("--levels", help="fsq: levels per channel, e.g. 8,5,5,5 (default)")
    t.add_argument("--groups", type=int, help="mgvq: codebooks per token (default 2)")
    t.add_argument("--codebook-update", choices=["loss", "ema"], help="vq/mgvq: codebook loss or EMA updates")
    t.add_argument("--commitment", type=float, help="vq/mgvq: commitment weight beta_c (default 0.25)")
    t.add_argument("--dead-code-restart", choices=["on", "off"], help="vq/mgvq: re-seed unused codes (default on)")
    t.add_argument("--dataset", help="mnist, fashion-mnist, or a path (default mnist)")
    t.add_argument("--data-dir", help="folder searched first for the dataset's files")
    t.add_argument("--epochs", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--latent-dim", type=int)
    t.add_argument("--beta", type=float)
    t.add_argument("--anneal", choices=ANNEALS)
    t.add_argument("--free-bits", type=float, help="minimum nats per latent dimension")
    t.add_argument("--likelihood", choices=LIKELIHOODS)
    t.add_argument("--sigma", type=float, help="decoder std for --likelihood gaussian")
    t.add_argument("--binarize", choices=BINARIZE)
    t.add_argument("--seed", type=int)
    t.add_argument("--device", choices=DEVICES)
    t.add_argument("--precision", choices=PRECISIONS)
    t.add_argument("--step", choices=STEPS, help="fused (hand-derived backward) or autograd; auto picks")
    t.add_argument(
        "--graph", choices=GRAPHS, help="replay the fused step as a CUDA graph (GPU); auto: where it applies"
    )
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    tr = sub.add_parser("train", parents=[t], help="train a model into a run directory")
    tr.add_argument("--out", help="run directory (default runs/PRESET-DATASET-TIME)")
    tr.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    tr.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    tr.add_argument("--no-report", action="store_true", help="skip report.html at the end")
    sw = sub.add_parser(
        "sweep", parents=[t], help="train one MLP VAE per beta and seed at once (batched), a run directory each"
    )
    sw.add_argument("--betas", help="comma list of KL weights, e.g. 0.5,1,2,4")
    sw.add_argument("--seeds", default="0", help="comma list of seeds (default 0)")
    sw.add_argument("--out", help="folder for the runs, sweep.json and sweep.png (default runs/sweep-...-TIME)")
    sw.add_argument("--overwrite", action="store_true", help="replace existing runs of the same names in --out")
    sw.add_argument("--resume", action="store_true", help="continue the sweep in --out (only --epochs may change)")

    e = sub.add_parser("evaluate", help="test-set metrics of a run")
    e.add_argument("run", help="run directory")
    e.add_argument("--iw-samples", type=int, default=0, help="K for the importance-weighted NLL (e.g. 1000)")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--device", choices=DEVICES, default="auto")

    s = sub.add_parser("sample", help="a PNG grid of samples from the prior")
    s.add_argument("run", help="run directory")
    s.add_argument("-n", type=int, default=64, help="number of samples")
    s.add_argument("--out", required=True, help="PNG file to write")
    s.add_argument("--seed", type=int, default=0)

    def run_verb(name: str, help: str) -> argparse.ArgumentParser:
        v = sub.add_parser(name, help=help)
        v.add_argument("run", help="run directory")
        v.add_argument("--out", help="folder for the files (default: the run directory)")
        v.add_argument("--device", choices=DEVICES, default="cpu")
        return v

    dg = run_verb("diagnose", "posterior-collapse diagnosis: KL per dimension, active units, collapsed dims")
    dg.add_argument("--json", action="store_true", help="print one JSON object")
    run_verb("latent", "encode the test set: latent.csv and a scatter plot latent.png")
    mf = run_verb("manifold", "decode a grid over the prior (2-D latents): manifold.png")
    mf.add_argument("--n", type=int, default=20, help="grid size per axis")
    ip = run_verb("interpolate", "interpolate between two test images: PNG strip and animated GIF")
    ip.add_argument("--from", dest="src", required=True, help="a label (e.g. 0) or index:N")
    ip.add_argument("--to", dest="dst", required=True, help="a label (e.g. 9) or index:N")
    ip.add_argument("--steps", type=int, default=10)
    ip.add_argument("--mode", choices=["linear", "slerp"], default="linear")
    tv = run_verb("traverse", "vary each latent dimension over [-3, 3]: traverse.png")
    tv.add_argument("--index", type=int, default=0, help="test image whose mean is the centre")
    tv.add_argument("--steps", type=int, default=9)
    at = run_verb("attribute", "attribute vectors: mean z of one selection minus another, added at strengths")
    at.add_argument("--positive", required=True, help="label=K, ink>Q or ink<Q (Q a quantile of stroke mass)")
    at.add_argument("--negative", required=True, help="label=K, ink>Q or ink<Q")
    at.add_argument("--strengths", default="-2,-1,0,1,2", help="comma list of multiples of the vector")
    at.add_argument("--json", action="store_true", help="print one JSON object")
    rc = run_verb("recon", "test images above their reconstructions, and prior samples")
    rc.add_argument("-n", type=int, default=16)
    run_verb("report", "report.html: config, metrics, curves, KL chart, images, latent map, interpolation")
    run_verb("explorer", "explorer.html: sliders and a 2-D pad that decode latents live in the browser")

    ex = sub.add_parser("export", help="a run's encoder and decoder as ONNX models (VAEs and tokenizers)")
    ex.add_argument("run", help="run directory")
    ex.add_argument("--out", help="folder for encoder.onnx and decoder.onnx (default: the run directory)")

    tk = sub.add_parser("tokenize", help="a tokenizer run's tokens for a data split, as an .npy array")
    tk.add_argument("run", help="run directory of a vq / fsq / mgvq model")
    tk.add_argument("--out", required=True, help=".npy file to write: (N, 7, 7) or (N, 7, 7, G) integers")
    tk.add_argument("--split", choices=["test", "train"], default="test")
    dt = sub.add_parser("detokenize", help="decode an .npy array of tokens into a PNG grid")
    dt.add_argument("run", help="run directory of a vq / fsq / mgvq model")
    dt.add_argument("tokens", help=".npy file written by vaekit tokenize")
    dt.add_argument("--out", required=True, help="PNG file to write")
    dt.add_argument("-n", type=int, default=64, help="decode at most this many token grids")

    b = sub.add_parser("bench", help="the textbook loop vs the engine, side by side on the same data")
    b.add_argument("--epochs", type=int, default=3, help="timed epochs per variant (after one warm-up epoch)")
    b.add_argument(
        "--variants",
        default="naive,fp32,auto,jax",
        help="comma list of naive, fp32, fp32-nograph, fp32-dynamic, bf16, bf16-autograd, auto, jax",
    )
    b.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    b.add_argument("--dataset", default="mnist")
    b.add_argument("--json", dest="json_out", help="write the report as JSON to this file")
    b.add_argument("--plot", help="write a bar chart of seconds per epoch against the roofline to this PNG")

    tn = sub.add_parser("tiny", help="the mini-project checklist: tiny VAE, four PASS/FAIL lines")
    tn.add_argument("--out", help="run directory (default runs/tiny-TIME)")
    tn.add_argument("--epochs", type=int, help="training epochs (default from the recipe)")
    tn.add_argument("--data-dir")
    tn.add_argument("--overwrite", action="store_true")
    tn.add_argument("--quiet", action="store_true")
    return p


def _default_run_dir(prefix: str) -> Path:
    return Path("runs") / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"


def build_train_config(args: argparse.Namespace):
    """Defaults <- preset <- config file <- command-line flags. On --resume, the run's own config.json."""
    from .config import ModelConfig, RunConfig, load_toml, update
    from .models import preset_config

    overrides: dict[str, dict[str, Any]] = {}
    for flag, (section, key) in TRAIN_FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            overrides.setdefault(section, {})[key] = value
    if args.resume:
        if not args.out:
            raise ConfigError("--resume needs --out RUN_DIR (the run to continue)")
        from .runs.checkpoint import read_config

        cfg = read_config(Path(args.out))
        changed = [f"{s}.{k}" for s, kv in overrides.items() for k in kv if (s, k) not in RESUME_MAY_CHANGE]
        changed += ["model.dead_code_restart"] if args.dead_code_restart is not None else []
        if changed or args.config or args.preset:
            raise ConfigError(
                "--resume continues a run as configured; only --epochs and the speed switches (--precision, "
                f"--step, --graph, --device) may change (got {changed or 'a config'})"
            )
        return update(cfg, overrides, "command line")
    if args.dead_code_restart is not None:
        overrides.setdefault("model", {})["dead_code_restart"] = args.dead_code_restart == "on"
    file_cfg = load_toml(args.config) if args.config else {}
    kind = args.model or file_cfg.get("model", {}).get("kind", "gaussian")
    if kind == "gaussian":
        cfg = RunConfig(model=preset_config(args.preset or file_cfg.get("model", {}).get("preset", "classic")))
    else:
        if args.preset:
            raise ConfigError(f"--preset names Gaussian VAE architectures; --model {kind} has its own")
        cfg = RunConfig(model=ModelConfig(kind=kind, preset=kind))
    update(cfg, file_cfg, args.config or "config")
    if kind == "fsq" and args.codebook_size and not args.levels:
        from .quantizers import levels_for

        overrides["model"]["levels"] = levels_for(args.codebook_size)
    update(cfg, overrides, "command line")
    return cfg.validate()


def cmd_train(args: argparse.Namespace) -> int:
    from .training.loop import train

    cfg = build_train_config(args)
    dataset_tag = Path(cfg.data.dataset).stem.replace("_", "-")
    run_dir = Path(args.out) if args.out else _default_run_dir(f"{cfg.model.preset}-{dataset_tag}")
    result = train(cfg, run_dir, resume=args.resume, overwrite=args.overwrite, progress=not args.quiet)
    s = result.summary
    if not s:  # a data-parallel worker other than rank 0: rank 0 reports
        return 0
    if not args.no_report:  # training builds no report; the CLI does, from the finished run
        from .analysis.report import build_report
        from .runs.open import open_run

        path = build_report(open_run(run_dir, result.model_device.type))
        if not args.quiet:
            print(f"report: {path}", file=sys.stderr)
    eng = s["engine"]
    timing = f"trained {s['train_seconds']:.1f} s ({eng['precision']}, {eng['optimizer']})"
    if cfg.model.kind == "gaussian":
        print(
            f"test loss {s['loss']:.2f} nats (recon {s['recon']:.2f}, KL {s['kl']:.2f}), "
            f"active units {s['active_units']}/{cfg.model.latent_dim}, {s['params']:,} parameters, {timing}"
        )
    else:
        print(
            f"test recon {s['recon']:.2f} nats, mse {s['mse']:.4f}, codebook usage {s['codebook_usage']:.3f} "
            f"(perplexity {s['perplexity']:.1f}, {s['dead_codes']} dead), {s['params']:,} parameters, {timing}"
        )
    print(f"run directory: {run_dir}")
    return 0


def _numbers(text: str, kind: type, flag: str) -> list:
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{flag} takes a comma list of numbers, got {text!r}") from None
    if not values:
        raise ConfigError(f"{flag} needs at least one value")
    return values


_SWEEP_RESUME_FLAGS = {"command", "resume", "out", "epochs", "quiet", "seeds"}


def cmd_sweep(args: argparse.Namespace) -> int:
    from .training.sweep import markdown_table, resume_sweep, sweep

    if args.beta is not None or args.seed is not None:
        raise ConfigError("a sweep takes --betas and --seeds (comma lists) instead of --beta and --seed")
    if args.resume:
        given = [f for f, v in vars(args).items() if v not in (None, False) and f not in _SWEEP_RESUME_FLAGS]
        if not args.out or args.betas or args.seeds != "0" or given:
            raise ConfigError("--resume continues a sweep as planned: give --out DIR and, at most, --epochs")
        result = resume_sweep(args.out, args.epochs, progress=not args.quiet)
    else:
        if not args.betas:
            raise ConfigError("a sweep needs --betas, e.g. --betas 0.5,1,2,4")
        betas, seeds = _numbers(args.betas, float, "--betas"), _numbers(args.seeds, int, "--seeds")
        cfg = build_train_config(args)
        dataset_tag = Path(cfg.data.dataset).stem.replace("_", "-")
        out = Path(args.out) if args.out else _default_run_dir(f"sweep-{cfg.model.preset}-{dataset_tag}")
        result = sweep(cfg, betas, seeds, out, overwrite=args.overwrite, progress=not args.quiet)
    print(markdown_table(result))
    per_epoch = f"{result.seconds_per_epoch:.2f} s per epoch for all of them"
    print(f"{len(result.rows)} models, {per_epoch}; runs in {result.out_dir}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export.onnx import export_onnx

    with _writer_lock(Path(args.out) if args.out else Path(args.run), Path(args.run)):
        paths = export_onnx(args.run, args.out)
    for path in paths:
        print(path)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .analysis.evaluate import evaluate_run

    if args.iw_samples < 0:
        raise ConfigError("--iw-samples must be >= 0")
    m = evaluate_run(args.run, iw_samples=args.iw_samples, device=args.device, progress=not args.json)
    if args.json:
        print(json.dumps(m))
        return 0
    rows = [
        ("loss (-ELBO)", f"{m['loss']:.3f} nats"),
        ("recon", f"{m['recon']:.3f} nats"),
        ("kl", f"{m['kl']:.3f} nats"),
        ("active units", f"{m['active_units']} / {len(m['kl_per_dim'])}"),
    ]
    if "nll_iw" in m:
        rows.append((f"nll_iw (K={args.iw_samples})", f"{m['nll_iw']:.3f} nats"))
    rows.append(("params", f"{m['params']:,}"))
    for k, v in rows:
        print(f"{k:<22} {v}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from .analysis.sampling import sample_grid

    if args.n < 1:
        raise ConfigError("-n must be >= 1")
    if not args.out.lower().endswith(".png"):
        raise ConfigError(f"--out {args.out}: expected a .png file name")
    print(sample_grid(args.run, args.n, args.out, seed=args.seed))
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from .data import load_dataset

    ds = load_dataset(args.name, args.data_dir)
    info = ds.info()
    if args.data_command == "info" and args.json:
        print(json.dumps(info))
        return 0
    print(
        f"{info['name']}: {info['train']} train + {info['test']} test images of "
        f"{'x'.join(map(str, info['image_shape']))}, {info['dtype']} in [{info['min']:g}, {info['max']:g}]"
    )
    print(f"labels: {info['labels'] if info['labels'] is not None else 'none'}")
    print(f"source: {info['source']}")
    print(f"sha256: {info['sha256']}")
    return 0


def cmd_tiny(args: argparse.Namespace) -> int:
    from .measure.checklist import TINY_EPOCHS, tiny_checklist

    run_dir = Path(args.out) if args.out else _default_run_dir("tiny-mnist")
    checks = tiny_checklist(
        run_dir,
        epochs=args.epochs or TINY_EPOCHS,
        overwrite=args.overwrite,
        progress=not args.quiet,
        data_dir=args.data_dir,
    )
    for c in checks:
        print(c.line())
    print(f"run directory: {run_dir}")
    return 0 if all(c.passed for c in checks) else 1


# verbs that open a finished run and write files into it (cmd_explore)
EXPLORE_VERBS = "diagnose latent manifold interpolate traverse attribute recon report explorer".split()


def cmd_explore(args: argparse.Namespace) -> int:
    """diagnose / latent / manifold / interpolate / traverse / attribute / recon / report / explorer."""
    from .runs.open import open_run

    run = open_run(args.run, args.device)
    c = args.command
    if run.cfg.model.kind != "gaussian" and c not in ("recon", "report"):
        raise ConfigError(
            f"`vaekit {c}` looks at a Gaussian latent; this run is a {run.cfg.model.kind} tokenizer "
            "(try vaekit recon, report, tokenize or detokenize)"
        )
    out = Path(args.out) if args.out else run.path
    out.mkdir(parents=True, exist_ok=True)
    with _writer_lock(out, run.path):
        return _explore(c, run, out, args)


def _writer_lock(out: Path, run_dir: Path) -> contextlib.AbstractContextManager:
    """The run directory's lock when a verb writes into it (nothing to hold for a folder of the user's)."""
    from .runs.lock import RunLock

    writes_into_run = Path(run_dir).is_dir() and out.resolve() == Path(run_dir).resolve()
    return RunLock(run_dir) if writes_into_run else contextlib.nullcontext()


def _explore(c: str, run: Any, out: Path, args: argparse.Namespace) -> int:
    from .analysis import explore
    from .analysis.latent import parse_strengths

    if c == "diagnose":
        d = explore.diagnose(run, out)
        if args.json:
            print(json.dumps(d))
            return 0
        print(
            f"KL total {d['kl_total']:.2f} nats over {len(d['kl_per_dim'])} dimensions; "
            f"active units {d['active_units']}; collapsed (KL < {explore.COLLAPSE_THRESHOLD}): "
            f"{', '.join(f'z{i + 1}' for i in d['collapsed']) or 'none'}"
        )
        for i, v in enumerate(d["kl_per_dim"]):
            print(f"  z{i + 1:<3} {v:8.3f} nats {'#' * min(60, int(v * 10))}")
        print(out / "kl_per_dim.png")
    elif c == "latent":
        r = explore.latent_map(run, out)
        print(f"{r['rows']} rows -> {r['csv']}\n{r['png']} ({r['method']})")
    elif c == "manifold":
        print(explore.manifold(run, out, args.n))
    elif c == "interpolate":
        png, gif = explore.interpolate_run(run, args.src, args.dst, out, args.steps, args.mode)
        print(f"{png}\n{gif}")
    elif c == "traverse":
        print(explore.traverse_run(run, out, args.index, args.steps))
    elif c == "attribute":
        res, path = explore.attribute_run(run, args.positive, args.negative, parse_strengths(args.strengths), out)
        if args.json:
            print(
                json.dumps(
                    {
                        "norm": res.norm,
                        "strengths": res.strengths,
                        "mean_ink": res.mean_ink,
                        "n_positive": res.n_positive,
                        "n_negative": res.n_negative,
                        "png": str(path),
                    }
                )
            )
            return 0
        print(f"vector |v| = {res.norm:.3f} (from {res.n_positive} positive, {res.n_negative} negative images)")
        print("strength  mean ink of decoded images")
        for s_, m in zip(res.strengths, res.mean_ink, strict=True):
            print(f"{s_:+8.2f}  {m:.4f}")
        print(path)
    elif c == "recon":
        print(explore.reconstructions(run, out, args.n))
        if run.cfg.model.kind == "gaussian":
            print(explore.samples(run, out))
    elif c == "report":
        from .analysis.report import build_report

        print(build_report(run, out))
    elif c == "explorer":
        from .analysis.explorer import build_explorer

        print(build_explorer(run, out / "explorer.html"))
    return 0


def cmd_tokenize(args: argparse.Namespace) -> int:
    from .analysis.tokens import detokenize_file, tokenize_run

    if args.command == "tokenize":
        path, shape = tokenize_run(args.run, args.out, args.split)
        print(f"{path}: tokens of shape {shape}")
    else:
        print(detokenize_file(args.run, args.tokens, args.out, args.n))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .measure.compare import bench, markdown_table, write_json

    variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
    if args.plot and not args.plot.lower().endswith(".png"):
        raise ConfigError(f"--plot {args.plot}: expected a .png file name")
    report = bench(
        args.epochs, variants, args.device, args.dataset, log=lambda m: print(m, file=sys.stderr, flush=True)
    )
    print(markdown_table(report))
    if args.json_out:
        print(f"wrote {write_json(report, args.json_out)}", file=sys.stderr)
    if args.plot:
        from .plots import bench_chart

        print(f"wrote {bench_chart(report, args.plot)}", file=sys.stderr)
    return 0


COMMANDS = {
    "bench": cmd_bench,
    "train": cmd_train,
    "sweep": cmd_sweep,
    "export": cmd_export,
    "evaluate": cmd_evaluate,
    "sample": cmd_sample,
    "data": cmd_data,
    "tiny": cmd_tiny,
    "tokenize": cmd_tokenize,
    "detokenize": cmd_tokenize,
    **{v: cmd_explore for v in EXPLORE_VERBS},
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except VaekitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
