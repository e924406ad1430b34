"""The training loop: the whole dataset resident as one tensor, batches by index, explicit speed switches.

``train(cfg, run_dir)`` is the one function that trains; the CLI only parses flags into a RunConfig.
Speed switches (all reported in ``summary.json`` under ``engine``):
  precision   fp32, or bf16 matrix products (autocast) with fp32 master weights and fp32 loss/KL
  optimizer   Adam with the fused kernel where the build has it, else the multi-tensor (foreach) one
No host synchronisation happens inside an epoch except every ``log_every`` steps for the progress bar.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from . import checkpoint as ckpt
from .config import RunConfig
from .data import ImageDataset, load_dataset
from .errors import ConfigError, RunError, TrainingDiverged
from .evaluate import elbo_metrics, evaluate_model
from .losses import vae_loss
from .models import build_model, count_params
from .plots import loss_curves
from .schedules import beta_at

STATIC_BINARIZE_SEED = 1234  # fixed, so a statically binarized dataset is the same in every run
TEST_BINARIZE_SEED = 4321  # the test set of binarized runs is binarized once, identically everywhere


@dataclass
class TrainResult:
    run_dir: Path
    summary: dict[str, Any]  # test metrics + train_seconds + engine switches
    metrics: list[dict[str, Any]]  # one record per epoch


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> cuda when available, else cpu. Asking for cuda without one is a ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda requested but no CUDA device is available; use --device cpu")
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)


def cpu_has_fast_bf16() -> bool:
    """True when the CPU has bf16 matrix instructions (AMX or AVX512-BF16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> bf16 where the hardware is fast at it (AMX / AVX512-BF16 CPUs, bf16-capable GPUs), else fp32."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_fast_bf16() else "fp32"


def make_optimizer(params, lr: float, device: torch.device) -> tuple[torch.optim.Optimizer, str]:
    """Adam with the fused kernel when available; returns ``(optimizer, kind)``."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True), "adam-fused"
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=lr, foreach=True), "adam-foreach"


def to_tensor(x, device: torch.device) -> torch.Tensor:
    """(N, H, W) uint8 or float array -> (N, H*W) float32 tensor in [0, 1] on ``device``."""
    t = torch.from_numpy(x.reshape(len(x), -1))
    t = t.to(device=device, dtype=torch.float32)
    return t / 255.0 if x.dtype.name == "uint8" else t


def binarize(x: torch.Tensor, seed: int) -> torch.Tensor:
    """Bernoulli-sample pixels with a fixed seed (static binarization)."""
    g = torch.Generator(device=x.device).manual_seed(seed)
    return torch.bernoulli(x, generator=g)


def load_data_tensors(
    cfg: RunConfig, device: torch.device, dataset: ImageDataset | None = None, quiet: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and test images as (N, P) float tensors on ``device``, binarized as ``cfg.data.binarize`` says.

    Fills ``cfg.model.input_shape`` from the data on first use; afterwards a mismatch is an error.
    """
    ds = dataset if dataset is not None else load_dataset(cfg.data.dataset, cfg.data.data_dir, quiet=quiet)
    shape = tuple(ds.image_shape)
    if tuple(cfg.model.input_shape) != shape:
        cfg.model.input_shape = shape
    x_train, x_test = to_tensor(ds.x_train, device), to_tensor(ds.x_test, device)
    if cfg.data.binarize == "static":
        x_train = binarize(x_train, STATIC_BINARIZE_SEED)
    if cfg.data.binarize != "none":
        x_test = binarize(x_test, TEST_BINARIZE_SEED)
    return x_train, x_test


def prepare_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to overwrite a run unless told; with ``overwrite`` remove only the files a run writes."""
    existing = [f for f in ckpt.RUN_FILES if (run_dir / f).exists()]
    if resume:
        if not (run_dir / ckpt.STATE).is_file():
            raise RunError(f"{run_dir}: nothing to resume (no {ckpt.STATE}); start a new run without --resume")
        return
    if existing and not overwrite:
        raise RunError(f"{run_dir} already holds a run; pass --overwrite to replace it or --resume to continue it")
    for f in existing:
        p = run_dir / f
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    run_dir.mkdir(parents=True, exist_ok=True)


def train(
    cfg: RunConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    dataset: ImageDataset | None = None,
    log_every: int = 50,
) -> TrainResult:
    """Train ``cfg`` into ``run_dir``; returns the final test metrics and per-epoch records.

    Checkpoints after every epoch. ``resume`` continues from the last one and gives the same weights as an
    uninterrupted run. A non-finite loss raises TrainingDiverged and leaves the last good checkpoint.
    """
    cfg.validate()
    run_dir = Path(run_dir)
    prepare_run_dir(run_dir, resume, overwrite)
    device = resolve_device(cfg.train.device)
    precision = resolve_precision(cfg.train.precision, device)
    if precision == "bf16" and device.type == "cpu" and cfg.train.precision == "bf16" and not cpu_has_fast_bf16():
        print("note: this CPU has no bf16 matrix units; bf16 will be slower than fp32", file=sys.stderr)

    torch.manual_seed(cfg.train.seed)
    x_train, x_test = load_data_tensors(cfg, device, dataset, quiet=not progress)
    model = build_model(cfg.model).to(device)
    optimizer, opt_kind = make_optimizer(model.parameters(), cfg.train.lr, device)
    gen = torch.Generator(device=device).manual_seed(cfg.train.seed)

    n, bs = x_train.shape[0], cfg.train.batch_size
    steps_per_epoch = math.ceil(n / bs)
    total_steps = steps_per_epoch * cfg.train.epochs
    counters: dict[str, Any] = {"epoch": 0, "step": 0, "train_seconds": 0.0}
    records: list[dict[str, Any]] = []
    if resume:
        counters = ckpt.load_train_state(run_dir, model, optimizer, gen).counters
        records = [r for r in ckpt.read_metrics(run_dir) if r["epoch"] <= counters["epoch"]]
        ckpt.write_metrics(run_dir, records)
    ckpt.save_config(run_dir, cfg)

    engine_info = {
        "device": str(device),
        "precision": precision,
        "optimizer": opt_kind,
        "threads": torch.get_num_threads(),
    }
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    dynamic = cfg.data.binarize == "dynamic"
    lcfg, mcfg = cfg.loss, cfg.model

    def step(xb: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if dynamic:
            xb = torch.bernoulli(xb, generator=gen)
        with autocast:
            out = model(xb, generator=gen)
        terms = vae_loss(out.logits, xb, out.mu, out.logvar, beta, mcfg.likelihood, mcfg.sigma, lcfg.free_bits)
        optimizer.zero_grad(set_to_none=True)
        terms.total.backward()
        optimizer.step()
        return terms.total.detach(), terms.recon.detach(), terms.kl.detach()

    saved_epoch = counters["epoch"]
    try:
        for epoch in range(counters["epoch"], cfg.train.epochs):
            model.train()
            t0 = time.perf_counter()
            perm = torch.randperm(n, device=device, generator=gen)
            sums = torch.zeros(3, dtype=torch.float64, device=device)  # total, recon, kl (sum over images)
            bar = tqdm(
                range(steps_per_epoch),
                desc=f"epoch {epoch + 1}/{cfg.train.epochs}",
                disable=None if progress else True,  # None: off when stderr is not a terminal
                leave=True,
                dynamic_ncols=True,
                file=sys.stderr,
            )
            beta = lcfg.beta
            for i in bar:
                idx = perm[i * bs : (i + 1) * bs]
                beta = beta_at(counters["step"], total_steps, lcfg)
                total, recon, kl = step(x_train[idx], beta)
                sums += torch.stack([total, recon, kl]).double() * idx.shape[0]
                counters["step"] += 1
                if (i + 1) % log_every == 0:
                    seen = min((i + 1) * bs, n)
                    running = sums[0].item() / seen
                    _check_finite(running, epoch, run_dir)
                    bar.set_postfix(loss=f"{running:.2f}", beta=f"{beta:.3g}", refresh=False)
            bar.close()
            means = (sums / n).tolist()
            _check_finite(means[0], epoch, run_dir)
            seconds = time.perf_counter() - t0
            counters["epoch"] = epoch + 1
            counters["train_seconds"] += seconds
            test = elbo_metrics(model, x_test)
            record = {
                "epoch": epoch + 1,
                "step": counters["step"],
                "beta": beta,
                "train_loss": means[0],
                "train_recon": means[1],
                "train_kl": means[2],
                "test_loss": test["loss"],
                "test_recon": test["recon"],
                "test_kl": test["kl"],
                "seconds": seconds,
            }
            # train_state is written last: it is the commit point that --resume trusts
            ckpt.append_metrics(run_dir, record)
            ckpt.save_model(run_dir, model, cfg)
            ckpt.save_train_state(run_dir, model, optimizer, gen, counters)
            saved_epoch = counters["epoch"]
            records.append(record)
            if progress:
                print(
                    f"epoch {epoch + 1}: train {means[0]:.2f}  test {test['loss']:.2f} nats  ({seconds:.2f} s)",
                    file=sys.stderr,
                )
    except KeyboardInterrupt:
        print(
            f"\ninterrupted; {saved_epoch} epoch(s) are checkpointed in {run_dir}; continue with "
            f"`vaekit train --resume --out {run_dir}`",
            file=sys.stderr,
        )
        raise

    summary = evaluate_model(model, x_test)
    summary.update(
        train_seconds=counters["train_seconds"],
        epochs=counters["epoch"],
        params=count_params(model),
        engine=engine_info,
    )
    ckpt.atomic_write_json(run_dir / ckpt.SUMMARY, summary)
    if records:
        loss_curves(records, run_dir / ckpt.CURVES)
    return TrainResult(run_dir, summary, records)


def _check_finite(value: float, epoch: int, run_dir: Path) -> None:
    if not math.isfinite(value):
        raise TrainingDiverged(
            f"loss became {value} in epoch {epoch + 1}; the last good checkpoint (epoch {epoch}) is kept in "
            f"{run_dir}; lower --lr or check the data"
        )
