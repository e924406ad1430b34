"""The training loop: the whole dataset resident as one tensor, batches by index, explicit speed switches.

``train(cfg, run_dir)`` is the one function that trains; the CLI only parses flags into a RunConfig.
Speed switches (resolved together in switches.py; all reported in ``summary.json`` under ``engine``, saved
with every checkpoint and every epoch's metrics):
  precision   fp32, or bf16 matrix products with fp32 master weights, fp32 Adam and fp32 loss/KL
  step        fused: forward + hand-derived backward + one Adam kernel on a flat parameter buffer
              (the MLP Gaussian VAE, fp32 or bf16; see step.py), or autograd (+ autocast) for the rest
  optimizer   Adam with the fused kernel where the build has it, else the multi-tensor (foreach) one
  graph       on a GPU, the fused step captured once as a CUDA graph and replayed (see cudagraph.py)
  denormals   flushed to zero on a CPU (see switches.flush_denormals)
No host synchronisation happens inside an epoch except every ``log_every`` steps for the progress bar.
Checkpoints keep Adam's moments per parameter name, whatever the step, so a run resumes under another
resolution (fused <-> autograd, CPU <-> GPU, fp32 <-> bf16).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .. import switches
from ..config import GaussianConfig, RunConfig
from ..data import ImageDataset, load_run_data
from ..data.tensors import load_data_tensors
from ..errors import TrainingDiverged
from ..evaluation.metrics import evaluate_model, test_metrics
from ..losses import iwae_loss, recon_nll, vae_loss
from ..models import GaussianVAE, Tokenizer, build_model, count_params
from ..runs import checkpoint as ckpt
from ..runs.session import RunSession, state_stamp
from ..switches import resolve_device
from . import optim
from .charts import loss_curves
from .cudagraph import GraphedStep
from .distributed import Dist, init_distributed
from .epoch import EpochClock, Stream, iwae_samples, noise_per_image, run_epoch, schedule_steps
from .events import ConsoleSink, Sink
from .schedules import dvae_alpha, lr_at_epoch
from .step import FusedVAEStep, supports


@dataclass
class TrainResult:
    run_dir: Path
    summary: dict[str, Any]  # test metrics + train_seconds + engine switches
    metrics: list[dict[str, Any]]  # one record per epoch
    model: torch.nn.Module  # the trained model, in eval mode

    @property
    def model_device(self) -> torch.device:
        return next(self.model.parameters()).device


class Trainer:
    """Model, optimizer, RNG and the step function of one run; ``run_epoch()`` trains one pass over the data.

    ``train()`` wraps it with checkpoints and logs; ``vaekit bench`` drives several Trainers epoch by epoch.
    Data parallel: every rank draws the same permutation and the same noise for the *global* batch and
    keeps its own shard (every ``world``-th sample), so ranks stay in lockstep and a run on N processes
    follows the single-process run up to the order of floating-point sums.
    ``pinned``: the precision and step a resumed run started with (they replace ``auto``).
    """

    def __init__(
        self,
        cfg: RunConfig,
        x_train: torch.Tensor,
        device: torch.device,
        dist: Dist | None = None,
        pinned: dict[str, str] | None = None,
    ):
        self.cfg, self.x_train, self.device = cfg, x_train, device
        self.dist = dist or Dist()
        self.denormals = "flush" if device.type == "cpu" and switches.flush_denormals() else "keep"
        torch.manual_seed(cfg.train.seed)
        self.model = build_model(cfg.model).to(device)
        self.gen = torch.Generator(device=device).manual_seed(cfg.train.seed)
        self.tokenizer = not isinstance(cfg.model, GaussianConfig)
        # dvae: the probability that path B's input drops a pixel (None: one encoder path)
        m = cfg.model
        self.dvae_mask = m.dvae_mask if isinstance(m, GaussianConfig) and m.encoder_paths == "dvae" else None
        self.aux = "quant" if self.tokenizer else "kl"  # the name of the third loss term
        if self.tokenizer:
            self.model.generator = self.gen
        self.noise_dim = noise_per_image(cfg)
        self.hardware = switches.detect(device)
        t = cfg.train
        fused_ok = supports(self.model, cfg.loss.objective)
        sw = switches.resolve(
            t.precision,
            t.step,
            t.graph,
            self.hardware,
            fused_ok,
            self.dist.world,
            pinned,
            t.lr_schedule,
        )
        self.precision, self.step_kind, self.graph = sw.precision, sw.step, sw.graph
        # Convolutions on a CPU run ~1.3x faster with NHWC weights (measured on the conv VAE and the tokenizers);
        # the saved weights stay in the standard layout.
        convs = any(isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d) for m in self.model.modules())
        self.channels_last = device.type == "cpu" and convs
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

        def all_reduce(g: torch.Tensor) -> None:
            self.dist.all_reduce_(g, average=True)

        hook = all_reduce if self.dist.world > 1 else None
        self.fused_step: FusedVAEStep | None = None
        self.optimizer: torch.optim.Optimizer
        self._net: torch.nn.Module = self.model
        if self.step_kind == "fused":
            assert isinstance(self.model, GaussianVAE)  # resolve() picks fused only where supports(model)
            step = FusedVAEStep(
                self.model,
                t.lr,
                t.batch_size,
                cfg.loss.free_bits,
                self.precision,
                grad_hook=hook,
                adam_eps=t.adam_eps,
                iwae_k=iwae_samples(cfg.loss),
            )
            b = t.batch_size
            self.fused_step = step
            self._fused = GraphedStep(step, (b, x_train.shape[1]), (b, self.noise_dim)) if self.graph else step
            self.optimizer, self.opt_kind = step.optimizer, "adam-fused-flat"
        else:
            self.optimizer, self.opt_kind = optim.make_optimizer(self.model.parameters(), t.lr, t.adam_eps)
            if self.dist.world > 1:
                from torch.nn.parallel import DistributedDataParallel

                # dvae: path B gets no gradient once alpha reaches 1
                self._net = DistributedDataParallel(self.model, find_unused_parameters=self.dvae_mask is not None)
        self._autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")
        self.total_steps = schedule_steps(x_train.shape[0], t.batch_size, t.epochs, t.max_steps)
        self.steps_per_epoch = schedule_steps(x_train.shape[0], t.batch_size, 1)
        self.step_count = 0
        self.alpha = dvae_alpha(0, cfg.model)  # dvae: path A's weight this epoch (run_epoch sets it)

    @property
    def info(self) -> dict[str, Any]:
        """The speed switches this run resolved to."""
        return {
            "device": str(self.device),
            "hardware": self.hardware.name,
            "precision": self.precision,
            "step": self.step_kind,
            "optimizer": self.opt_kind,
            "graph": "on" if self.graph else "off",
            "memory_format": "channels_last" if self.channels_last else "contiguous",
            "denormals": self.denormals,
            "threads": torch.get_num_threads(),
            "processes": self.dist.world,
        }

    def adam_state(self) -> dict[str, torch.Tensor]:
        """Adam's state per parameter name, whatever the step's layout (see optim.py)."""
        return optim.adam_by_name(self.optimizer, self.model, self.fused_step)

    def load_adam_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load ``adam_state()``'s form into this run's optimizer, converting to its layout and device."""
        optim.load_adam_by_name(self.optimizer, self.model, self.fused_step, state, self.device)

    def restore(self, state: ckpt.TrainState) -> None:
        """Continue from a checkpoint: weights, Adam (in this run's layout), RNG and the step count."""
        where = "the checkpoint"
        ckpt.check_fits(state.model, self.model, where)  # every tensor checked before PyTorch touches it
        ckpt.check_rng(state.rng, self.gen, where)
        adam = state.adam_by_name(self.model)
        with torch.no_grad():
            for name, t in self.model.state_dict().items():
                t.copy_(state.model[name])  # in place: the fused step's parameters are views of its buffer
        if self.fused_step is not None:
            self.fused_step.sync_operands()
        self.load_adam_state(adam)
        self.gen.set_state(state.rng)
        self.step_count = state.counters["step"]

    def step(self, xb: torch.Tensor, eps: torch.Tensor, beta: float) -> torch.Tensor:
        """One optimisation step on a global batch: pixels (B, P) and noise (B, D), or (B, K*D) for the iwae
        objective; returns the detached local losses [total, recon, kl]. Each data-parallel rank keeps its shard
        of the global batch.
        """
        rank, world = self.dist.rank, self.dist.world
        mcfg, lcfg = self.cfg.model, self.cfg.loss
        keep = None
        if self.dvae_mask is not None:  # path B's pixel mask for the global batch
            keep = (torch.rand(xb.shape, device=xb.device, generator=self.gen) >= self.dvae_mask).to(xb.dtype)
        if world > 1:
            xb, eps = xb[rank::world], eps[rank::world]
            keep = keep[rank::world] if keep is not None else None
        if self.step_kind == "fused":
            return self._fused(xb, beta, eps)
        if self.tokenizer:
            with self._autocast:
                tout = self._net(xb)
            recon = recon_nll(tout.logits.float(), xb, mcfg.likelihood, mcfg.sigma).mean()
            total = recon + tout.quant_loss
            if tout.prefix_logits is not None:  # mgvq --nested-full: the kept groups' reconstruction too
                total = total + recon_nll(tout.prefix_logits.float(), xb, mcfg.likelihood, mcfg.sigma).mean()
            self.optimizer.zero_grad(set_to_none=True)
            total.backward()
            self.optimizer.step()
            return torch.stack([total, recon, tout.quant_loss]).detach()
        if lcfg.objective == "iwae":  # (n, K*D) noise -> K samples (K, n, D)
            eps = eps.reshape(eps.shape[0], lcfg.iwae_k, -1).transpose(0, 1)
        with self._autocast:
            out = self._net(xb, eps=eps, keep=keep, alpha=self.alpha)
        if lcfg.objective == "iwae":
            terms = iwae_loss(out.logits, xb, out.z, out.mu, out.logvar, mcfg.likelihood, mcfg.sigma)
        else:
            terms = vae_loss(out.logits, xb, out.mu, out.logvar, beta, mcfg.likelihood, mcfg.sigma, lcfg.free_bits)
        self.optimizer.zero_grad(set_to_none=True)
        terms.total.backward()
        self.optimizer.step()
        return torch.stack([terms.total, terms.recon, terms.kl]).detach()

    def run_epoch(
        self,
        desc: str = "",
        progress: bool = False,
        log_every: int = 50,
        on_log: Callable[[int, list[float]], None] | None = None,
    ) -> dict[str, float]:
        """One shuffled pass over the training data; returns mean train loss/recon/kl, last beta and seconds.
        ``on_log(step, [loss, recon, kl])`` hears the running means every ``log_every`` steps.

        Raises TrainingDiverged (before touching any checkpoint) when the loss stops being finite.
        """
        self.model.train()
        epoch = self.step_count // self.steps_per_epoch
        lr = lr_at_epoch(epoch, self.cfg.train)
        optim.set_lr(self.optimizer, lr)
        self.alpha = dvae_alpha(epoch, self.cfg.model)
        if self.tokenizer:
            assert isinstance(self.model, Tokenizer)
            self.model.start_epoch(epoch, self.cfg.train.epochs)
        stats = run_epoch(
            self.x_train,
            [Stream(self.gen, self.cfg.loss)],
            lambda xs, eps, betas: self.step(xs[0], eps[0], betas[0]).unsqueeze(0),
            batch_size=self.cfg.train.batch_size,
            binarize=self.cfg.data.binarize,
            latent_dim=self.noise_dim,
            step_count=self.step_count,
            total_steps=self.total_steps,
            desc=desc,
            progress=progress,
            log_every=log_every,
            world=self.dist.world,
            rank=self.dist.rank,
            reduce=self.dist.all_reduce_,
            stop_at=self.cfg.train.max_steps,
            on_log=on_log,
        )
        self.step_count = stats.step_count
        means = stats.means[0]
        if stats.diverged:
            raise TrainingDiverged(f"loss became {means[0]} in {desc or 'training'}")
        return {
            "train_loss": means[0],
            "train_recon": means[1],
            f"train_{self.aux}": means[2],
            "beta": stats.betas[0],
            "lr": lr,
            "seconds": stats.seconds,
            "images": stats.images,
        }


def train(
    cfg: RunConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    dataset: ImageDataset | None = None,
    log_every: int = 50,
    sinks: Sequence[Sink] = (),
) -> TrainResult:
    """Train ``cfg`` into ``run_dir``; returns the final test metrics and per-epoch records.

    Training builds no report: whoever called it does (the CLI calls ``analysis.report.build_report``).
    ``sinks`` hear every ``log_every`` steps and every committed epoch (see ``events.py``): the console line
    (with ``progress``) is one, TensorBoard (``vaekit train --tensorboard``) another.

    Checkpoints after every epoch. ``resume`` continues from the last one and gives the same weights as an
    uninterrupted run. A non-finite loss raises TrainingDiverged and leaves the last good checkpoint.
    """
    cfg.validate()
    run_dir = Path(run_dir)
    device = resolve_device(cfg.train.device)
    dist = init_distributed(device)
    return _train(cfg, run_dir, device, dist, resume, overwrite, progress and dist.is_main, dataset, log_every, sinks)


def _train(
    cfg: RunConfig,
    run_dir: Path,
    device: torch.device,
    dist: Dist,
    resume: bool,
    overwrite: bool,
    progress: bool,
    dataset: ImageDataset | None,
    log_every: int,
    sinks: Sequence[Sink],
) -> TrainResult:
    main = dist.is_main
    switches.flush_denormals() if device.type == "cpu" else None  # before the first parallel op: threads inherit it
    if dataset is None:  # data first: a bad dataset must not cost an existing run its files
        dataset = load_run_data(cfg, quiet=not progress)
    x_train, x_test = load_data_tensors(cfg, device, dataset, for_training=True)
    stamp = state_stamp(run_dir / ckpt.STATE) if resume else None  # checked again under the run's lock
    state = ckpt.read_train_state(run_dir) if resume and (run_dir / ckpt.STATE).is_file() else None
    # before the run directory: a switch that cannot apply leaves it be
    trainer = Trainer(cfg, x_train, device, dist, pinned=state.engine if state else None)
    if trainer.precision == "bf16" and device.type == "cpu" and not trainer.hardware.fast_bf16 and main:
        print("note: this CPU has no bf16 matrix units; bf16 runs slower than fp32 here", file=sys.stderr)
    # one writer per run directory (rank 0); a new run is staged until its first checkpoint (see runs/session.py)
    session = RunSession(
        run_dir,
        resume=resume,
        overwrite=overwrite,
        resume_command=f"vaekit train --resume --out {run_dir}",
        saved_epochs=state.counters["epoch"] if state else 0,
        read_stamp=stamp,
    )
    with session if main else contextlib.nullcontext(session):
        dist.barrier()
        listeners = [*([ConsoleSink(EpochClock(cfg.train.epochs))] if progress else []), *sinks] if main else []
        try:
            return _epochs(cfg, trainer, session, state, x_test, progress, log_every, dist, listeners)
        finally:
            for sink in listeners:
                sink.close()


def _epochs(
    cfg: RunConfig,
    trainer: Trainer,
    session: RunSession,
    state: ckpt.TrainState | None,
    x_test: torch.Tensor,
    progress: bool,
    log_every: int,
    dist: Dist,
    sinks: Sequence[Sink],
) -> TrainResult:
    main, run_dir = dist.is_main, session.path
    model = trainer.model
    counters: dict[str, Any] = {"epoch": 0, "step": 0, "train_seconds": 0.0}
    records: list[dict[str, Any]] = []
    if state is not None:
        trainer.restore(state)
        counters = state.counters
        records = [r for r in ckpt.read_metrics(run_dir) if r["epoch"] <= counters["epoch"]]
        dist.barrier()
        if main:
            session.trim_metrics(records)
        moved = {k: (state.engine.get(k), v) for k, v in trainer.info.items() if k in ("precision", "step", "device")}
        moved = {k: ab for k, ab in moved.items() if ab[0] is not None and ab[0] != ab[1]}
        if moved and progress:
            change = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in moved.items())
            print(f"resuming at epoch {counters['epoch']} with {change}", file=sys.stderr)
    if main:
        ckpt.save_config(session.dir, cfg)

    test: dict[str, Any] | None = None  # the latest epoch's test metrics: the final ones, unless none ran
    names = ("train_loss", "train_recon", f"train_{trainer.aux}")

    def on_log(step: int, running: list[float]) -> None:
        for sink in sinks:
            sink.on_step(step, dict(zip(names, running, strict=True)))

    for epoch in range(counters["epoch"], cfg.train.epochs):
        if cfg.train.max_steps and trainer.step_count >= cfg.train.max_steps:
            break  # the step limit was reached (in this call or before a resume)
        stats = trainer.run_epoch(f"epoch {epoch + 1}/{cfg.train.epochs}", progress, log_every, on_log)
        counters["epoch"] = epoch + 1
        counters["step"] = trainer.step_count
        counters["train_seconds"] += stats["seconds"]
        if not main:  # rank 0 evaluates and writes; the others go on to the next epoch
            continue
        test = test_metrics(model, x_test)
        model.train()
        record = {
            "epoch": epoch + 1,
            "step": trainer.step_count,
            **stats,
            "precision": trainer.precision,  # the switches this epoch ran with (a resume may change them)
            "step_kind": trainer.step_kind,
            "test_loss": test["loss"],
            "test_recon": test["recon"],
            f"test_{trainer.aux}": test[trainer.aux],
        }
        # train_state is written last: it is the commit point that --resume trusts
        ckpt.append_metrics(session.dir, record)
        ckpt.save_model(session.dir, model, cfg)
        ckpt.save_train_state(session.dir, model, trainer.adam_state(), trainer.gen, counters, trainer.info)
        session.commit(counters["epoch"])
        records.append(record)
        for sink in sinks:
            sink.on_epoch(record, model, x_test)

    dist.barrier()
    if not main:
        return TrainResult(run_dir, {}, records, trainer.model)
    # the last epoch's test metrics are the final ones (same model, same evaluation seed); compute them only
    # when this call trained no epoch (a resume of a finished run)
    summary = dict(test, params=count_params(model)) if test is not None else evaluate_model(model, x_test)
    summary.update(
        train_seconds=counters["train_seconds"],
        epochs=counters["epoch"],
        params=count_params(model),
        engine=trainer.info,
    )
    ckpt.atomic_write_json(run_dir / ckpt.SUMMARY, summary)
    if records:
        loss_curves(records, run_dir / ckpt.CURVES)
    model.eval()
    return TrainResult(run_dir, summary, records, model)
