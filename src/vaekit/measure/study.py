"""`vaekit study collapse`: the collapse remedies of the lecture, trained side by side and measured.

A pre-registered grid (``REMEDIES``, each over the same seeds and the same budget) on MNIST with dynamic
binarization, in the setting of Burda et al. 2015 (arXiv 1509.00519): 784-200-200-50, tanh (preset ``iwae``).
The lecture's claims are about this: which remedy keeps latent units active (Burda et al.'s measure,
Cov_x(E[z|x]) > 0.01, over the 50 units) and what it costs in likelihood (IW-NLL with K = 1000).

Batching: remedies that differ from the plain VAE in beta only train together as one sweep (the fused step
for K models, ``training/sweep.py``); each annealing schedule and each free-bits level is a sweep over the
seeds, and so are the seeds of each fixed posterior sigma and of the iwae objective. The dvae encoder trains
as ordinary runs (the autograd step). Every model is an ordinary run directory, so ``evaluate``, ``report``,
``diagnose`` open it.

Resumable: each sweep and run checkpoints every epoch; a resumed study skips what finished, continues what
was interrupted and re-evaluates nothing already evaluated (``study_eval.json`` in each run directory).
"""

from __future__ import annotations

import copy
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._io import atomic_write, atomic_write_json
from ..config import GaussianConfig, RunConfig, update
from ..data import ImageDataset, load_configured
from ..data.tensors import load_data_tensors
from ..errors import ConfigError, RunError
from ..evaluation.metrics import elbo_metrics, iw_nll
from ..models import GaussianVAE, build_model, preset_config
from ..plots import pyplot, save_figure
from ..runs import checkpoint as ckpt
from ..runs.session import RunSession
from ..switches import detect, resolve_device
from ..training.loop import train
from ..training.step import supports
from ..training.sweep import SWEEP_JSON, SWEEP_STATE, point_name, resume_sweep, sweep
from .compare import machine_info

PLAN = "plan.json"
STUDY_JSON = "study.json"
STUDY_MD = "study.md"
STUDY_PNG = "study.png"
EVAL = "study_eval.json"  # in each run directory: its study metrics, with the settings they were computed at


@dataclass(frozen=True)
class Remedy:
    name: str  # short name, also the folder
    label: str  # what the table says
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # {"loss": {...}, "model": {...}}


# The pre-registered grid. DVAE's ramp is set per study to half the epochs (the lecture's 50 epochs exceed
# the study's budget; path A must carry the whole encoding well before the end, as it does in the lecture).
REMEDIES: tuple[Remedy, ...] = (
    Remedy("plain", "plain VAE (beta 1)"),
    Remedy("beta0.5", "beta 0.5", {"loss": {"beta": 0.5}}),
    Remedy("beta2", "beta 2", {"loss": {"beta": 2.0}}),
    Remedy("anneal-linear", "KL annealing, linear", {"loss": {"anneal": "linear"}}),
    Remedy("anneal-sigmoid", "KL annealing, sigmoid", {"loss": {"anneal": "sigmoid"}}),
    Remedy("anneal-cyclical", "KL annealing, cyclical", {"loss": {"anneal": "cyclical"}}),
    Remedy("freebits0.25", "free bits 0.25", {"loss": {"free_bits": 0.25}}),
    Remedy("freebits0.5", "free bits 0.5", {"loss": {"free_bits": 0.5}}),
    Remedy("dvae", "DVAE (mask 0.3)", {"model": {"encoder_paths": "dvae"}}),
    Remedy("sigma0.1", "fixed posterior sigma 0.1", {"model": {"posterior_sigma": 0.1}}),
    Remedy("sigma0.5", "fixed posterior sigma 0.5", {"model": {"posterior_sigma": 0.5}}),
    Remedy("iwae-k5", "IWAE objective, K = 5", {"loss": {"objective": "iwae", "iwae_k": 5}}),
)


@dataclass
class StudyConfig:
    dataset: str = "mnist"  # the data (a name or a path, as for `vaekit train`)
    data_dir: str | None = None  # folder searched first for the dataset's files
    preset: str = "iwae"  # the architecture of every model (784-200-200-50, tanh)
    epochs: int = 40  # the budget of every model
    seeds: tuple[int, ...] = (0, 1, 2)
    batch_size: int = 100
    lr: float = 1e-3
    iw_samples: int = 1000  # K of the IW-NLL
    iw_images: int = 2000  # the IW-NLL is taken on the first N test images (0 = all)
    precision: str = "fp32"  # fp32 everywhere, so that studies on different CPUs compare (bf16 is no faster here)
    device: str = "auto"


# `--quick`: the whole pipeline at a test's size (seconds on synthetic data, a few minutes on MNIST)
QUICK: dict[str, Any] = {"epochs": 2, "seeds": (0,), "iw_samples": 20, "iw_images": 200}


@dataclass
class StudyResult:
    out_dir: Path
    rows: list[dict[str, Any]]  # one per (remedy, seed)
    remedies: list[dict[str, Any]]  # one per remedy: mean and sd over seeds
    table: str  # the markdown table


@dataclass
class _Group:
    """Models trained together: one sweep (betas x seeds of one base config) or one run."""

    name: str
    base: RunConfig
    cells: list[tuple[str, int, float]]  # (remedy, seed, beta) of each model
    batched: bool  # a sweep (fused, K models) or a run (autograd)

    def run_dir(self, out_dir: Path, seed: int, beta: float) -> Path:
        return out_dir / self.name / (point_name(beta, seed) if self.batched else f"seed{seed}")


def remedy_config(cfg: StudyConfig, remedy: Remedy, seed: int) -> RunConfig:
    """The run config of one cell of the grid."""
    run = RunConfig(model=preset_config(cfg.preset))
    run.data.dataset, run.data.data_dir, run.data.binarize = cfg.dataset, cfg.data_dir, "dynamic"
    t = run.train
    t.epochs, t.batch_size, t.lr, t.seed, t.precision, t.device = (
        cfg.epochs, cfg.batch_size, cfg.lr, seed, cfg.precision, cfg.device
    )  # fmt: skip
    update(run, copy.deepcopy(remedy.overrides), f"remedy {remedy.name}")
    if isinstance(run.model, GaussianConfig) and run.model.encoder_paths == "dvae":
        run.model.dvae_ramp = max(1, cfg.epochs // 2)
    return run.validate()


def _groups(cfg: StudyConfig, out_dir: Path | None = None) -> list[_Group]:
    """The grid's cells grouped into sweeps where the fused step can batch them, runs otherwise. A remedy that
    ``out_dir`` already holds as runs (trained by a vaekit whose fused step could not batch it) stays runs."""
    groups: dict[str, _Group] = {}
    for remedy in REMEDIES:
        run = remedy_config(cfg, remedy, cfg.seeds[0])
        as_runs = out_dir is not None and (out_dir / remedy.name / f"seed{cfg.seeds[0]}" / ckpt.CONFIG).is_file()
        if not as_runs and supports(build_model(replace(run.model, input_shape=(4, 4))), run.loss.objective):
            key = copy.deepcopy(run)
            key.loss.beta = 1.0
            ident = json.dumps(key.to_dict(), sort_keys=True)
            group = groups.setdefault(ident, _Group("", key, [], True))
        else:
            group = groups.setdefault(remedy.name, _Group(remedy.name, run, [], False))
        group.cells += [(remedy.name, s, run.loss.beta) for s in cfg.seeds]
    for g in groups.values():
        if g.batched:
            g.name = "+".join(dict.fromkeys(r for r, _, _ in g.cells))
    return list(groups.values())


def study_collapse(
    cfg: StudyConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    dataset: ImageDataset | None = None,
    log: Callable[[str], None] | None = None,
) -> StudyResult:
    """Train and evaluate the grid into ``out_dir``; writes study.json, study.md and study.png.

    ``resume`` continues a study from its plan.json (interrupted sweeps and runs from their last epoch).
    """
    out_dir = Path(out_dir)
    say = log or (lambda s: print(s, file=sys.stderr))
    plan_file = out_dir / PLAN
    session = RunSession(
        out_dir,
        resume=resume,
        overwrite=overwrite,
        marker=PLAN,
        state=PLAN,
        outputs=("*",),  # a study's folder holds nothing but the study
        staged=False,  # its runs and sweeps are staged by their own sessions
        what="study",
        resume_command=f"vaekit study collapse --resume --out {out_dir}",
    )
    with session:
        if resume:
            cfg = _read_plan(plan_file)
        return _study(cfg, out_dir, resume, overwrite, progress, dataset, say)


def _study(
    cfg: StudyConfig,
    out_dir: Path,
    resume: bool,
    overwrite: bool,
    progress: bool,
    dataset: ImageDataset | None,
    say: Callable[[str], None],
) -> StudyResult:
    plan_file = out_dir / PLAN
    if not cfg.seeds or cfg.epochs < 1 or cfg.iw_samples < 1 or cfg.iw_images < 0:
        raise ConfigError("a study needs one seed or more, epochs >= 1, --iw-samples >= 1 and --iw-images >= 0")
    groups = _groups(cfg, out_dir if resume else None)
    if dataset is None:
        dataset = load_configured(groups[0].base.data, quiet=not progress)
    if not resume:  # an earlier study's results stay until this one's replace them
        atomic_write_json(plan_file, {"study": "collapse", **_plan_dict(cfg)})
    for i, g in enumerate(groups, 1):
        kind = "one sweep" if g.batched else "a run each"
        say(f"[{i}/{len(groups)}] {g.name}: {len(g.cells)} model(s), {kind}")
        _train_group(g, out_dir, overwrite and not resume, progress, dataset)
    rows = _evaluate(cfg, groups, out_dir, dataset, progress, overwrite and not resume, say)
    remedies = _aggregate(rows)
    table = markdown_table(cfg, remedies)
    device = resolve_device(cfg.device)
    machine = machine_info(device, detect(device))
    atomic_write_json(
        out_dir / STUDY_JSON, {"plan": _plan_dict(cfg), "remedies": remedies, "models": rows, "machine": machine}
    )
    atomic_write(out_dir / STUDY_MD, lambda tmp: tmp.write_text(table + "\n"))
    study_chart(remedies, rows, out_dir / STUDY_PNG, units=_latent_dim(cfg))
    return StudyResult(out_dir, rows, remedies, table)


def _plan_dict(cfg: StudyConfig) -> dict[str, Any]:
    return {"config": asdict(cfg), "remedies": [asdict(r) for r in REMEDIES]}


def _read_plan(path: Path) -> StudyConfig:
    try:
        plan = json.loads(path.read_text())
        cfg = StudyConfig(**{**plan["config"], "seeds": tuple(plan["config"]["seeds"])})
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise RunError(f"{path}: not a study plan ({e}); start anew with --overwrite") from None
    if plan.get("remedies") != [asdict(r) for r in REMEDIES]:
        raise RunError(f"{path}: planned with another grid of remedies; start anew with --overwrite")
    return cfg


def _latent_dim(cfg: StudyConfig) -> int:
    return preset_config(cfg.preset).latent_dim


def _train_group(g: _Group, out_dir: Path, overwrite: bool, progress: bool, dataset: ImageDataset) -> None:
    """Train one group, or continue it, or (finished) leave it."""
    folder = out_dir / g.name
    if g.batched:
        meta = _read_json(folder / SWEEP_JSON)
        state = folder / SWEEP_STATE
        if not overwrite and meta is not None and "models" in meta and _epochs_done(g, out_dir) >= g.base.train.epochs:
            return
        if not overwrite and state.is_file():
            resume_sweep(folder, g.base.train.epochs, progress=progress, dataset=dataset)
            return
        betas = list(dict.fromkeys(b for _, _, b in g.cells))
        seeds = list(dict.fromkeys(s for _, s, _ in g.cells))
        sweep(copy.deepcopy(g.base), betas, seeds, folder, overwrite=True, progress=progress, dataset=dataset)
        return
    for _, seed, beta in g.cells:
        run_dir = g.run_dir(out_dir, seed, beta)
        cfg = copy.deepcopy(g.base)
        cfg.train.seed = seed
        summary = _read_json(run_dir / ckpt.SUMMARY)
        if not overwrite and summary is not None and summary.get("epochs", 0) >= cfg.train.epochs:
            continue
        resume = not overwrite and (run_dir / ckpt.STATE).is_file()
        train(cfg, run_dir, resume=resume, overwrite=not resume, progress=progress, dataset=dataset)


def _epochs_done(g: _Group, out_dir: Path) -> int:
    done = [_read_json(g.run_dir(out_dir, s, b) / ckpt.SUMMARY) for _, s, b in g.cells]
    return min((d or {}).get("epochs", 0) for d in done)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@torch.no_grad()
def _evaluate(
    cfg: StudyConfig,
    groups: list[_Group],
    out_dir: Path,
    dataset: ImageDataset,
    progress: bool,
    fresh: bool,
    say: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Each model's study metrics: active units (Burda et al.'s criterion, and the lecture's: KL per unit >
    0.01 nats), KL, test -ELBO (seconds per model), and the IW-NLL (minutes: cached in the run directory)."""
    device = resolve_device(cfg.device)
    _, x_test = load_data_tensors(copy.deepcopy(groups[0].base), device, dataset)
    x_iw = x_test[: cfg.iw_images] if cfg.iw_images else x_test
    settings = {"iw_samples": cfg.iw_samples, "iw_images": x_iw.shape[0], "epochs": cfg.epochs}
    labels = {r.name: r.label for r in REMEDIES}
    rows = []
    for g in groups:
        for remedy, seed, beta in g.cells:
            run_dir = g.run_dir(out_dir, seed, beta)
            model, _ = ckpt.load_model(run_dir, device)
            assert isinstance(model, GaussianVAE)
            m = elbo_metrics(model, x_test)
            cached = None if fresh else _read_json(run_dir / EVAL)
            if cached is None or cached.get("settings") != settings or "nll_iw" not in cached:
                t0 = time.perf_counter()
                nll = iw_nll(model, x_iw, cfg.iw_samples, progress=progress)
                cached = {"settings": settings, "nll_iw": nll, "eval_seconds": time.perf_counter() - t0}
                atomic_write_json(run_dir / EVAL, cached)
                say(f"{remedy} seed {seed}: {m['active_units']} active units, IW-NLL {nll:.2f}")
            summary = _read_json(run_dir / ckpt.SUMMARY) or {}
            models = summary.get("engine", {}).get("models", 1)
            rows.append({
                "remedy": remedy,
                "label": labels[remedy],
                "seed": seed,
                "run": str(run_dir),
                "active_units": m["active_units"],  # Cov_x(E[z|x]) > 0.01
                "kl_units": sum(1 for v in m["kl_per_dim"] if v > 0.01),  # the lecture's: KL per unit > 0.01 nats
                "kl": m["kl"],
                "elbo": m["loss"],  # the test negative ELBO (beta = 1), nats
                "nll_iw": cached["nll_iw"],
                "train_seconds": summary.get("train_seconds", math.nan) / models,  # a sweep's time per model
                "batched": models,
                "eval_seconds": cached["eval_seconds"],
            })  # fmt: skip
    order = {r.name: i for i, r in enumerate(REMEDIES)}
    return sorted(rows, key=lambda r: (order[r["remedy"]], r["seed"]))


METRICS = ("active_units", "kl_units", "kl", "elbo", "nll_iw", "train_seconds")


def _aggregate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and sample sd over seeds of every metric, per remedy (sd 0 for one seed)."""
    out = []
    for remedy in REMEDIES:
        mine = [r for r in rows if r["remedy"] == remedy.name]
        agg: dict[str, Any] = {"remedy": remedy.name, "label": remedy.label, "seeds": len(mine)}
        for key in METRICS:
            vals = [float(r[key]) for r in mine]
            agg[key] = statistics.fmean(vals)
            agg[f"{key}_sd"] = statistics.stdev(vals) if len(vals) > 1 else 0.0
        agg["active_units_each"] = [r["active_units"] for r in mine]
        out.append(agg)
    return out


def markdown_table(cfg: StudyConfig, remedies: list[dict[str, Any]]) -> str:
    """The study's table: mean ± sd over seeds (time: per model; a sweep's time is split over its models)."""
    d = _latent_dim(cfg)
    n = "all" if not cfg.iw_images else f"first {cfg.iw_images:,}"
    head = (
        f"| remedy | active units (of {d}) | units with KL > 0.01 | KL (nats) | test -ELBO "
        f"| IW-NLL (K = {cfg.iw_samples}, {n} test images) | train time per model |"
    )
    lines = [head, "|---|---|---|---|---|---|---|"]
    for r in remedies:
        units = " ".join(str(u) for u in r["active_units_each"])
        lines.append(
            f"| {r['label']} | {r['active_units']:.1f} ± {r['active_units_sd']:.1f} ({units}) "
            f"| {r['kl_units']:.1f} ± {r['kl_units_sd']:.1f} "
            f"| {r['kl']:.2f} ± {r['kl_sd']:.2f} | {r['elbo']:.2f} ± {r['elbo_sd']:.2f} "
            f"| {r['nll_iw']:.2f} ± {r['nll_iw_sd']:.2f} | {r['train_seconds']:.0f} s |"
        )
    return "\n".join(lines)


def study_chart(remedies: list[dict], rows: list[dict], path: str | Path, units: int) -> Path:
    """`vaekit study collapse`: active units (of ``units``) and IW-NLL per remedy; bars are the means over
    seeds, dots the seeds."""
    plt = pyplot()
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
    return save_figure(fig, path)


__all__ = [
    "QUICK",
    "REMEDIES",
    "Remedy",
    "StudyConfig",
    "StudyResult",
    "markdown_table",
    "study_chart",
    "study_collapse",
]
