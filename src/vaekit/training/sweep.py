"""`vaekit sweep`: a grid of MLP VAEs (betas x seeds) trained at once, as one batched computation.

Each model of a sweep is the model `vaekit train` gives with that beta and seed: the same initialisation
(``torch.manual_seed(seed)`` before building it), the same data order and the same noise (each model keeps its
own generator and draws from it in the engine's order, with the engine's ``batch_pixels``), and the same
precision (resolved as for a run). Only the arithmetic is shared: the fused step (fused.py) trains K models
at once, the parameters stacked (K, out, in) in one flat buffer, every matrix product one batched product,
and one fused Adam kernel for all of them (Adam is element-wise, so this is K independent Adams).
On a GPU, where one model's step is bound by kernel launches, K models cost about what one does; on a CPU
the gain is the batched products' (see the README).

Every model is written as an ordinary run directory (config.json, model.safetensors, metrics.jsonl,
summary.json, loss_curves.png) that `evaluate`, `report`, `explorer`, `diagnose`... open as usual; the sweep
adds ``sweep.json`` and ``sweep.png`` (test loss, reconstruction and KL against beta) beside them.
"""

from __future__ import annotations

import contextlib
import copy
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .. import switches
from .._io import atomic_write_json
from ..config import RunConfig
from ..data import ImageDataset, load_configured
from ..data.tensors import load_data_tensors
from ..errors import ConfigError, RunError, TrainingDiverged
from ..evaluation.metrics import elbo_metrics, evaluate_model
from ..models import GaussianVAE, count_params
from ..plots import loss_curves, sweep_chart
from ..runs import checkpoint as ckpt
from ..runs.checkpoint import prepare_run_dir
from ..runs.lock import RunLock
from ..switches import resolve_device
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
    if min(betas) < 0 or min(seeds) < 0:
        raise ConfigError("betas and seeds must be >= 0")
    points = [(float(b), int(s)) for s in seeds for b in betas]
    if len(set(points)) != len(points):
        raise ConfigError("betas and seeds must not repeat")
    if base.loss.objective == "iwae" and any(b != 1 for b, _ in points):
        raise ConfigError("the iwae objective has no beta; sweep seeds with --betas 1")
    with contextlib.ExitStack() as held:  # the locks of the sweep's folder and runs, once taken
        return _sweep(base, points, Path(out_dir), None, overwrite, progress, dataset, log_every, held)


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
    state = ckpt.read_tensors(out_dir / SWEEP_STATE)
    base = RunConfig.from_dict(json.loads(state[1]["base"]), str(out_dir / SWEEP_STATE))
    if epochs is not None:
        base.train.epochs = epochs
    points = [(float(b), int(s)) for b, s in json.loads(state[1]["points"])]
    with contextlib.ExitStack() as held:
        return _sweep(base.validate(), points, out_dir, state, False, progress, dataset, log_every, held)


def _sweep(
    base: RunConfig,
    points: list[tuple[float, int]],
    out_dir: Path,
    state: tuple[dict[str, Tensor], dict[str, str]] | None,
    overwrite: bool,
    progress: bool,
    dataset: ImageDataset | None,
    log_every: int,
    held: contextlib.ExitStack,
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
        models.append(GaussianVAE(cfg.model).to(device))
        gens.append(torch.Generator(device=device).manual_seed(seed))
        cfgs.append(cfg)
    hw = switches.detect(device)
    sw = switches.resolve(base.train.precision, "fused", base.train.graph, hw, fused_ok=True)
    if state is not None and base.train.precision == "auto":  # a resumed sweep keeps the precision it started with
        sw = switches.Switches(state[1].get("precision", "fp32"), sw.step, sw.graph)  # older sweeps: fp32
    t, iwae_k = base.train, iwae_samples(base.loss)
    step = FusedStep(models, t.lr, t.batch_size, base.loss.free_bits, sw.precision, adam_eps=t.adam_eps, iwae_k=iwae_k)
    if t.graph == "on" and t.lr_schedule != "constant":  # a captured graph keeps the learning rate it saw
        raise ConfigError("--graph on keeps one learning rate; use --graph auto with --lr-schedule")
    graph = sw.graph and t.lr_schedule == "constant"  # on a GPU: one graph replay for all K models
    k, bs = len(points), base.train.batch_size
    noise_dim = noise_per_image(base)
    shapes = ((k, bs, x_train.shape[1]), (k, bs, noise_dim), (k,))
    run_step = GraphedStep(step, *shapes) if graph else step
    runs = [out_dir / point_name(b, s) for b, s in points]
    records: list[list[dict[str, Any]]] = [[] for _ in points]
    tests: list[dict[str, Any] | None] = [None for _ in points]  # each model's latest test metrics
    counters: dict[str, Any] = {"epoch": 0, "step": 0, "train_seconds": 0.0}
    held.enter_context(RunLock(out_dir))  # one writer per sweep folder and per run directory in it
    if state is None:
        own = [out_dir / f for f in (SWEEP_STATE, SWEEP_JSON, "sweep.png")]
        if own[0].exists() and not overwrite:
            raise RunError(f"{out_dir} already holds a sweep; pass --overwrite to replace it or --resume to go on")
        for run in runs:  # all checks first, then write
            held.enter_context(RunLock(run))
            prepare_run_dir(run, resume=False, overwrite=overwrite)
        for f in own:
            f.unlink(missing_ok=True)
        for run, cfg in zip(runs, cfgs, strict=True):
            ckpt.save_config(run, cfg)
        atomic_write_json(out_dir / SWEEP_JSON, {"base": base.to_dict(), "points": points})
    else:
        for run in runs:
            held.enter_context(RunLock(run))
        counters = _restore(step, gens, state)
        for run, cfg, recs in zip(runs, cfgs, records, strict=True):
            recs.extend(r for r in ckpt.read_metrics(run) if r["epoch"] <= counters["epoch"])  # drop later ones
            ckpt.write_metrics(run, recs)
            ckpt.save_config(run, cfg)  # --epochs may have changed

    total_steps = schedule_steps(x_train.shape[0], bs, base.train.epochs, base.train.max_steps)
    step_count = counters["step"]
    streams = [Stream(g, c.loss) for g, c in zip(gens, cfgs, strict=True)]
    moved: dict[str, Any] = {"betas": None, "on_device": torch.empty(0)}

    def step_all(xs: list[Tensor], eps: list[Tensor], betas: list[float]) -> Tensor:
        if betas != moved["betas"]:  # a copy to the device only when a schedule moves (never for constant betas)
            moved.update(betas=betas, on_device=torch.tensor(betas, device=device))
        return run_step(torch.stack(xs), moved["on_device"], torch.stack(eps))  # (K, 3)

    clock = EpochClock(base.train.epochs)
    try:
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
                latent_dim=noise_dim,
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
                raise TrainingDiverged(
                    f"loss became non-finite for {bad} in epoch {epoch + 1}; the last checkpoint "
                    f"(epoch {counters['epoch']}) is kept in {out_dir}; lower --lr or drop those betas"
                )
            for j, (model, run) in enumerate(zip(models, runs, strict=True)):
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
                ckpt.append_metrics(run, rec)
                ckpt.save_model(run, model, cfgs[j])
                records[j].append(rec)
            counters = {"epoch": epoch + 1, "step": step_count, "train_seconds": counters["train_seconds"] + seconds}
            _checkpoint(out_dir / SWEEP_STATE, step, gens, counters, base, points)  # the commit point
            if progress:
                print(
                    f"sweep epoch {epoch + 1}: {seconds:.2f} s for {k} models{clock.tick(epoch + 1)}", file=sys.stderr
                )
    except KeyboardInterrupt:
        print(
            f"\ninterrupted; {counters['epoch']} epoch(s) of every model are checkpointed in {out_dir}; continue "
            f"with `vaekit sweep --resume --out {out_dir}`",
            file=sys.stderr,
        )
        raise

    engine = {"device": str(device), "hardware": hw.name, "precision": sw.precision, "step": "fused-sweep",
              "graph": "on" if graph else "off", "models": k, "threads": torch.get_num_threads()}  # fmt: skip
    rows = []
    epochs_run = max(counters["epoch"], 1)
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
