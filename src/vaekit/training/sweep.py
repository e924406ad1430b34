"""`vaekit sweep`: a grid of MLP VAEs (betas x seeds) trained at once, as one batched computation.

Each model of a sweep is the model `vaekit train` gives with that beta and seed: the same initialisation
(``torch.manual_seed(seed)`` before building it), the same data order and the same noise (each model keeps its
own generator and draws from it in the engine's order, with the engine's ``batch_pixels``), and the same
precision (resolved as for a run). Only the arithmetic is shared: the fused step (step.py) trains K models
at once, the parameters stacked (K, out, in) in one flat buffer, every matrix product one batched product,
and one fused Adam kernel for all of them (Adam is element-wise, so this is K independent Adams).
On a GPU, where one model's step is bound by kernel launches, K models cost about what one does; on a CPU
the gain is the batched products' (see the README).

Every model is written as an ordinary run directory (config.json, model.safetensors, metrics.jsonl,
summary.json, loss_curves.png) that `evaluate`, `report`, `explorer`, `diagnose`... open as usual; the sweep
adds ``sweep.json`` and ``sweep.png`` (test loss, reconstruction and KL against beta) beside them.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .. import switches
from .._io import atomic_write_json
from ..config import GaussianConfig, RunConfig
from ..data import ImageDataset, load_configured
from ..data.tensors import load_data_tensors
from ..errors import ConfigError, RunError, TrainingDiverged
from ..evaluation.metrics import elbo_metrics, evaluate_model
from ..models import GaussianVAE, count_params
from ..plots import pyplot, save_figure
from ..runs import checkpoint as ckpt
from ..runs.session import RUN_OUTPUTS, RunSession, state_stamp
from ..switches import resolve_device
from .charts import loss_curves
from .cudagraph import GraphedStep
from .epoch import EpochClock, Stream, iwae_samples, noise_per_image, run_epoch, schedule_steps
from .optim import set_lr
from .schedules import lr_at_epoch
from .step import FusedStep


@dataclass
class SweepResult:
    out_dir: Path
    rows: list[dict[str, Any]]  # one per model: beta, seed, run, test metrics
    seconds_per_epoch: float


def point_name(beta: float, seed: int) -> str:
    return f"beta{beta:g}-seed{seed}"


SWEEP_STATE = "sweep_state.safetensors"  # the commit point: stacked weights, Adam moments, generators, counters
SWEEP_JSON = "sweep.json"
SWEEP_OUTPUTS = (SWEEP_STATE, SWEEP_JSON, "sweep.png", "beta*-seed*", *RUN_OUTPUTS)  # what a sweep's folder holds


def sweep(
    base: RunConfig,
    betas: list[float],
    seeds: list[int],
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    progress: bool = True,
    dataset: ImageDataset | None = None,
    log_every: int = 50,
) -> SweepResult:
    """Train one model per (beta, seed) of ``base`` together; write a run directory for each into ``out_dir``."""
    base.validate()
    if not betas or not seeds:
        raise ConfigError("a sweep needs at least one beta and one seed")
    points = [(float(b), int(s)) for s in seeds for b in betas]
    if len(set(points)) != len(points):
        raise ConfigError("betas and seeds must not repeat")
    if base.loss.objective == "iwae" and any(b != 1 for b, _ in points):
        raise ConfigError("the iwae objective has no beta; sweep seeds with --betas 1")
    for beta, seed in points:  # each model's config, checked as `vaekit train` checks it (NaN, inf, < 0 refused)
        cfg = copy.deepcopy(base)
        cfg.loss.beta, cfg.train.seed = beta, seed
        cfg.validate()
    return _sweep(base, points, Path(out_dir), None, overwrite, progress, dataset, log_every)


def resume_sweep(
    out_dir: str | Path,
    epochs: int | None = None,
    *,
    progress: bool = True,
    dataset: ImageDataset | None = None,
    log_every: int = 50,
) -> SweepResult:
    """Continue an interrupted (or finished, with more ``epochs``) sweep from its last checkpoint."""
    out_dir = Path(out_dir)
    stamp = state_stamp(out_dir / SWEEP_STATE)  # checked again under the sweep's lock
    state = ckpt.read_tensors(out_dir / SWEEP_STATE)
    base = RunConfig.from_dict(json.loads(state[1]["base"]), str(out_dir / SWEEP_STATE))
    if epochs is not None:
        base.train.epochs = epochs
    points = [(float(b), int(s)) for b, s in json.loads(state[1]["points"])]
    return _sweep(base.validate(), points, out_dir, state, False, progress, dataset, log_every, stamp)


def _sweep(
    base: RunConfig,
    points: list[tuple[float, int]],
    out_dir: Path,
    state: tuple[dict[str, Tensor], dict[str, str]] | None,
    overwrite: bool,
    progress: bool,
    dataset: ImageDataset | None,
    log_every: int,
    stamp: tuple[int, int, int] | None = None,
) -> SweepResult:
    if base.model.kind != "gaussian" or base.train.step == "autograd":
        raise ConfigError("a sweep trains MLP Gaussian VAEs with the fused step; drop --step autograd")
    device = resolve_device(base.train.device)
    if device.type == "cpu":
        switches.flush_denormals()
    if dataset is None:
        dataset = load_configured(base.data, quiet=not progress)
    x_train, x_test = load_data_tensors(base, device, dataset, for_training=True)
    cfgs, models, gens = [], [], []
    for beta, seed in points:
        cfg = copy.deepcopy(base)
        cfg.loss.beta, cfg.train.seed = beta, seed
        torch.manual_seed(seed)  # as the engine does: the same initial weights as `vaekit train --seed`
        assert isinstance(cfg.model, GaussianConfig)  # sweep() refuses other kinds before this
        models.append(GaussianVAE(cfg.model).to(device))
        gens.append(torch.Generator(device=device).manual_seed(seed))
        cfgs.append(cfg)
    hw = switches.detect(device)
    t, iwae_k = base.train, iwae_samples(base.loss)
    # a resumed sweep keeps the precision it started with (sweeps written before it was kept: fp32)
    pinned = {"precision": state[1].get("precision", "fp32")} if state is not None else None
    sw = switches.resolve(t.precision, "fused", t.graph, hw, fused_ok=True, pinned=pinned, lr_schedule=t.lr_schedule)
    step = FusedStep(models, t.lr, t.batch_size, base.loss.free_bits, sw.precision, adam_eps=t.adam_eps, iwae_k=iwae_k)
    graph = sw.graph  # on a GPU: one graph replay for all K models
    k, bs = len(points), base.train.batch_size
    noise_dim = noise_per_image(base)
    shapes = ((k, bs, x_train.shape[1]), (k, bs, noise_dim), (k,))
    run_step = GraphedStep(step, *shapes) if graph else step
    names = [point_name(b, s) for b, s in points]
    records: list[list[dict[str, Any]]] = [[] for _ in points]
    tests: list[dict[str, Any] | None] = [None for _ in points]  # each model's latest test metrics
    counters: dict[str, Any] = {"epoch": 0, "step": 0, "train_seconds": 0.0}
    if state is not None:
        counters = _restore(step, gens, state)
    # one writer per sweep folder and per run in it; a new sweep is staged until its first checkpoint
    session = RunSession(
        out_dir,
        resume=state is not None,
        overwrite=overwrite,
        marker=SWEEP_STATE,
        state=SWEEP_STATE,
        outputs=SWEEP_OUTPUTS,
        members=names,
        what="sweep",
        resume_command=f"vaekit sweep --resume --out {out_dir}",
        diverged_hint="lower --lr or drop those betas",
        saved_epochs=counters["epoch"],
        read_stamp=stamp,
    )
    with session:
        if state is None:
            for name, cfg in zip(names, cfgs, strict=True):
                ckpt.save_config(session.dir / name, cfg)
            atomic_write_json(session.dir / SWEEP_JSON, {"base": base.to_dict(), "points": points})
        else:
            for name, cfg, recs in zip(names, cfgs, records, strict=True):
                recs.extend(session.trim_metrics(ckpt.read_metrics(out_dir / name), f"{name}/{ckpt.METRICS}"))
                ckpt.save_config(out_dir / name, cfg)  # --epochs may have changed
        counters = _epochs(base, points, names, session, step, run_step, gens, cfgs, models, records, tests,
                           counters, x_train, x_test, progress, log_every)  # fmt: skip

    engine = {"device": str(device), "hardware": hw.name, "precision": sw.precision, "step": "fused-sweep",
              "graph": "on" if graph else "off", "models": k, "threads": torch.get_num_threads()}  # fmt: skip
    rows = []
    epochs_run = max(counters["epoch"], 1)
    runs = [out_dir / name for name in names]
    for (beta, seed), model, run, recs, last_test in zip(points, models, runs, records, tests, strict=True):
        model.eval()
        # the last epoch's test metrics are the final ones (as in train()); evaluate only when no epoch ran
        summary = dict(last_test) if last_test is not None else evaluate_model(model, x_test)
        summary.update(
            train_seconds=counters["train_seconds"], epochs=counters["epoch"], params=count_params(model), engine=engine
        )
        atomic_write_json(run / ckpt.SUMMARY, summary)
        if recs:
            loss_curves(recs, run / ckpt.CURVES)
        rows.append({"beta": beta, "seed": seed, "run": run.name, **{m: summary[m] for m in _COLUMNS}})
    result = SweepResult(out_dir, rows, counters["train_seconds"] / epochs_run)
    plan = {"base": base.to_dict(), "points": points}
    atomic_write_json(out_dir / SWEEP_JSON, {**plan, "seconds_per_epoch": result.seconds_per_epoch, "models": rows})
    sweep_chart(rows, out_dir / "sweep.png")
    return result


def _epochs(
    base: RunConfig,
    points: list[tuple[float, int]],
    names: list[str],
    session: RunSession,
    step: FusedStep,
    run_step: Callable[[Tensor, Tensor, Tensor], Tensor],
    gens: list[torch.Generator],
    cfgs: list[RunConfig],
    models: list[GaussianVAE],
    records: list[list[dict[str, Any]]],
    tests: list[dict[str, Any] | None],
    counters: dict[str, Any],
    x_train: Tensor,
    x_test: Tensor,
    progress: bool,
    log_every: int,
) -> dict[str, Any]:
    """The sweep's epochs, each committed as one checkpoint of every model; returns the counters."""
    k, bs, device = len(points), base.train.batch_size, x_train.device
    total_steps = schedule_steps(x_train.shape[0], bs, base.train.epochs, base.train.max_steps)
    step_count = counters["step"]
    streams = [Stream(g, c.loss) for g, c in zip(gens, cfgs, strict=True)]
    moved: dict[str, Any] = {"betas": None, "on_device": torch.empty(0)}

    def step_all(xs: list[Tensor], eps: list[Tensor], betas: list[float]) -> Tensor:
        if betas != moved["betas"]:  # a copy to the device only when a schedule moves (never for constant betas)
            moved.update(betas=betas, on_device=torch.tensor(betas, device=device))
        return run_step(torch.stack(xs), moved["on_device"], torch.stack(eps))  # (K, 3)

    clock = EpochClock(base.train.epochs)
    for epoch in range(counters["epoch"], base.train.epochs):
        if base.train.max_steps and step_count >= base.train.max_steps:
            break
        set_lr(step.optimizer, lr_at_epoch(epoch, base.train))
        stats = run_epoch(
            x_train,
            streams,
            step_all,
            batch_size=bs,
            binarize=base.data.binarize,
            latent_dim=noise_per_image(base),
            step_count=step_count,
            total_steps=total_steps,
            desc=f"sweep epoch {epoch + 1}/{base.train.epochs}",
            progress=progress,
            log_every=log_every,
            stop_at=base.train.max_steps,
        )
        step_count, seconds, means = stats.step_count, stats.seconds, stats.means
        if stats.diverged:
            bad = ", ".join(point_name(*points[j]) for j in stats.diverged)
            raise TrainingDiverged(f"loss became non-finite for {bad} in epoch {epoch + 1}")
        for j, (model, name) in enumerate(zip(models, names, strict=True)):
            test = elbo_metrics(model, x_test)
            tests[j] = test
            model.train()
            rec = {
                "epoch": epoch + 1,
                "step": step_count,
                "train_loss": means[j][0],
                "train_recon": means[j][1],
                "train_kl": means[j][2],
                "beta": stats.betas[j],
                "seconds": seconds,
                "test_loss": test["loss"],
                "test_recon": test["recon"],
                "test_kl": test["kl"],
            }
            ckpt.append_metrics(session.dir / name, rec)
            ckpt.save_model(session.dir / name, model, cfgs[j])
            records[j].append(rec)
        counters = {"epoch": epoch + 1, "step": step_count, "train_seconds": counters["train_seconds"] + seconds}
        _checkpoint(session.dir / SWEEP_STATE, step, gens, counters, base, points)  # the commit point
        session.commit(counters["epoch"])
        if progress:
            print(f"sweep epoch {epoch + 1}: {seconds:.2f} s for {k} models{clock.tick(epoch + 1)}", file=sys.stderr)
    return counters


def _checkpoint(path: Path, step: FusedStep, gens: list[torch.Generator], counters: dict[str, Any],
                base: RunConfig, points: list[tuple[float, int]]) -> None:  # fmt: skip
    adam = step.optimizer.state[step.param]
    tensors = {"param": step.param.detach(), "exp_avg": adam["exp_avg"], "exp_avg_sq": adam["exp_avg_sq"],
               "adam_step": adam["step"]}  # fmt: skip
    tensors.update({f"rng.{k}": g.get_state() for k, g in enumerate(gens)})
    meta = {"counters": json.dumps(counters), "base": json.dumps(base.to_dict()), "points": json.dumps(points),
            "precision": step.precision}  # fmt: skip
    ckpt.write_tensors(path, tensors, meta)


def _restore(step: FusedStep, gens: list[torch.Generator], state: tuple[dict[str, Tensor], dict[str, str]]) -> dict:
    tensors, meta = state
    dev = step.param.device
    if tensors["param"].shape != step.param.shape or len(gens) != sum(k.startswith("rng.") for k in tensors):
        raise RunError("the sweep checkpoint does not match its own plan; start a new sweep with --overwrite")
    with torch.no_grad():
        step.param.copy_(tensors["param"])  # every model's parameters are views of this buffer
    step.sync_operands()
    step.optimizer.state[step.param] = {
        "step": tensors["adam_step"].to(dev),
        "exp_avg": tensors["exp_avg"].to(dev),
        "exp_avg_sq": tensors["exp_avg_sq"].to(dev),
    }
    for k, g in enumerate(gens):
        g.set_state(tensors[f"rng.{k}"])
    return json.loads(meta["counters"])


_COLUMNS = ("loss", "recon", "kl", "active_units")


def markdown_table(result: SweepResult) -> str:
    lines = ["| beta | seed | test loss | recon | KL | active units | run |", "|---|---|---|---|---|---|---|"]
    for r in result.rows:
        lines.append(
            f"| {r['beta']:g} | {r['seed']} | {r['loss']:.2f} | {r['recon']:.2f} | {r['kl']:.2f} | "
            f"{r['active_units']} | {r['run']} |"
        )
    return "\n".join(lines)


def sweep_chart(rows: list[dict], path: str | Path) -> Path:
    """Test loss, reconstruction and KL against beta for a sweep's models, one line per seed."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(11.5, 3.4))
    betas = sorted({r["beta"] for r in rows})
    panels = (("loss", "test -ELBO (nats)"), ("recon", "reconstruction (nats)"), ("kl", "KL (nats)"))
    for seed in sorted({r["seed"] for r in rows}):
        pts = sorted((r for r in rows if r["seed"] == seed), key=lambda r: r["beta"])
        for ax, (key, title) in zip(axes, panels, strict=True):
            ax.plot([r["beta"] for r in pts], [r[key] for r in pts], marker="o", label=f"seed {seed}")
            ax.set_title(title)
    for ax in axes:
        ax.set_xlabel("beta")
        if len(betas) > 2 and betas[0] > 0:
            ax.set_xscale("log")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    return save_figure(fig, path)
