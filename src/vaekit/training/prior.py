"""`vaekit prior RUN`: fit a token prior (``models/transformer.py``) to a tokenizer run's training-set token grids.

The run's tokenizer turns the training and test images into token sequences once (raster order; multi-group
VQ with each position's G indices next to each other), then the transformer is trained with AdamW on the
next-token cross-entropy (``precision`` bf16: the products under bf16 autocast, the attention and the loss in
fp32; the test NLL always in fp32). Each epoch writes the weights, the training state and a metrics line
atomically into ``RUN/prior/``, so an interrupted fit resumes (``resume=True``) where it stopped, bit for bit.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .. import switches
from ..errors import ConfigError, TrainingDiverged
from ..models.group_prior import build_prior
from ..models.tokenizer import Tokenizer
from ..models.transformer import PriorBase, PriorConfig
from ..runs import prior as files
from ..runs.checkpoint import read_metrics, write_metrics
from ..runs.open import Run
from ..runs.prior import PRIOR_OUTPUTS, PriorTrainConfig
from ..runs.session import RunSession

WARMUP_STEPS = 200


@dataclass
class PriorResult:
    prior: PriorBase
    records: list[dict]  # one per epoch: epoch, train_nll, test_nll (nats per image), seconds
    test_nll: float  # nats per image on the test split, after the last epoch


@torch.no_grad()
def token_sequences(tokenizer: Tokenizer, x: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """Images (N, P) -> (N, T) int64 token sequences: raster order, a position's groups together (mgvq)."""
    # one preallocated result: batches' small outputs kept between their large temporaries fragment the heap
    # (seen: 4.8 GB of resident memory for MNIST's 60,000 images when collected in a list)
    length = math.prod(tokenizer.token_shape)
    out = torch.empty(len(x), length, dtype=torch.long, device=x.device)
    for i in range(0, len(x), batch):
        out[i : i + batch] = tokenizer.tokenize(x[i : i + batch]).reshape(-1, length)
    return out


def sequences_to_grids(tokenizer: Tokenizer, seq: torch.Tensor) -> torch.Tensor:
    """(N, T) sequences -> (N, h, w) tokens, or (N, h, w, G) for mgvq: what ``detokenize`` takes."""
    return seq.reshape(len(seq), *tokenizer.token_shape)


def prior_config_for(tokenizer: Tokenizer, base: PriorConfig, classes: int) -> PriorConfig:
    """``base`` with the vocabulary, sequence length and class count the tokenizer and its data fix."""
    sizes = tokenizer.codebook_sizes
    return PriorConfig(
        vocab=tokenizer.codebook_size,
        length=math.prod(tokenizer.token_shape),
        group_vocab=sizes if len(set(sizes)) > 1 or base.group_layers else (),
        layers=base.layers,
        heads=base.heads,
        dim=base.dim,
        classes=classes,
        dropout=base.dropout,
        group_layers=base.group_layers,
    ).validate()


@torch.no_grad()
def token_nll(prior: PriorBase, seq: torch.Tensor, labels: torch.Tensor | None, batch: int = 512) -> torch.Tensor:
    """(T,) float64: mean -log p_prior(t_i | t_<i) over ``seq`` (N, T) at each position i, nats per image."""
    prior.eval()
    total = torch.zeros(seq.shape[1], dtype=torch.float64, device=seq.device)
    for i in range(0, len(seq), batch):
        lab = None if labels is None else labels[i : i + batch]
        total -= prior.token_log_probs(seq[i : i + batch], lab).double().sum(0)
    return total / len(seq)


def sequence_nll(prior: PriorBase, seq: torch.Tensor, labels: torch.Tensor | None, batch: int = 512) -> float:
    """Mean -log p_prior(sequence) over ``seq`` (N, T), nats per image."""
    return token_nll(prior, seq, labels, batch).sum().item()


def train_prior(
    run: Run,
    x_train: torch.Tensor,
    y_train: torch.Tensor | None,
    base: PriorConfig,
    tcfg: PriorTrainConfig,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = False,
    on_epoch: Callable[[dict], None] | None = None,
) -> PriorResult:
    """Fit (or continue fitting) ``run``'s token prior on the images ``x_train`` (N, P) (labels ``y_train``
    for a class-conditional prior: ``base.classes`` > 0). Writes ``RUN/prior/`` after every epoch."""
    tokenizer = run.tokenizer
    tcfg.validate()
    out = files.prior_dir(run.path)
    device = run.x_test.device
    if resume:
        cfg, saved = files.read_prior_config(run.path)
        tcfg = replace(saved, epochs=max(tcfg.epochs, saved.epochs))  # only the length may change
    else:  # checked before anything is written: an old prior is replaced only by one that trains
        sw = switches.resolve(tcfg.precision, "autograd", "off", switches.detect(device), fused_ok=False)
        tcfg = replace(tcfg, precision=sw.precision)  # saved resolved: a resume keeps it on any machine
        classes = 0
        if base.classes:
            if y_train is None or run.y_test is None:
                raise ConfigError("--conditional needs labels; this dataset has none")
            classes = int(y_train.max()) + 1
        cfg = prior_config_for(tokenizer, base, classes)
    session = RunSession(
        out,
        resume=resume,
        overwrite=overwrite,
        outputs=PRIOR_OUTPUTS,
        what="token prior",
        resume_command=f"vaekit prior {run.path} --resume",
        diverged_hint="lower --lr",
    )
    with session:
        files.save_prior_config(session.dir, cfg, tcfg)
        bf16 = tcfg.precision == "bf16"
        gen = torch.Generator(device="cpu").manual_seed(tcfg.seed)
        torch.manual_seed(tcfg.seed)
        prior = build_prior(cfg).to(device)
        decay = [p for p in prior.parameters() if p.dim() >= 2]
        other = [p for p in prior.parameters() if p.dim() < 2]
        optim = torch.optim.AdamW(
            [{"params": decay, "weight_decay": tcfg.weight_decay}, {"params": other, "weight_decay": 0.0}],
            lr=tcfg.lr,
            betas=(0.9, 0.95),
        )
        counters: dict[str, Any] = {"epoch": 0, "step": 0, "train_seconds": 0.0}
        records: list[dict] = []
        if resume:
            counters = files.load_prior_state(run.path, prior, optim, gen)
            session.saved_epochs = counters["epoch"]
            records = session.trim_metrics(read_metrics(out) if (out / files.METRICS).is_file() else [])

        seq = token_sequences(tokenizer, x_train).to(device)
        test_seq = token_sequences(tokenizer, run.x_test).to(device)
        conditional = cfg.classes > 0
        labels = y_train.to(device) if conditional and y_train is not None else None
        test_labels = torch.as_tensor(run.y_test, device=device) if conditional and run.y_test is not None else None

        n, bs = len(seq), min(tcfg.batch_size, len(seq))
        steps = n // bs
        for epoch in range(counters["epoch"] + 1, tcfg.epochs + 1):
            prior.train()
            t0 = time.perf_counter()
            order = torch.randperm(n, generator=gen).to(device)
            total = 0.0
            bar = tqdm(range(steps), desc=f"prior epoch {epoch}/{tcfg.epochs}", disable=None if progress else True,
                       leave=False, dynamic_ncols=True, file=sys.stderr)  # fmt: skip
            for i in bar:
                idx = order[i * bs : (i + 1) * bs]
                xb = seq[idx]
                lb = None if labels is None else labels[idx]
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    logits = prior(xb, lb)
                loss = F.cross_entropy(logits.reshape(-1, cfg.vocab).float(), xb.reshape(-1))
                for g in optim.param_groups:
                    g["lr"] = tcfg.lr * min(1.0, (counters["step"] + 1) / WARMUP_STEPS)
                optim.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(prior.parameters(), 1.0)
                optim.step()
                counters["step"] += 1
                value = loss.item()
                if not math.isfinite(value):
                    raise TrainingDiverged(f"the prior's loss became {value} at step {counters['step']}")
                total += value
                if i % 20 == 0:
                    bar.set_postfix(nll=f"{value * cfg.length:.1f}")
            seconds = time.perf_counter() - t0
            counters["epoch"] = epoch
            counters["train_seconds"] += seconds
            record = {
                "epoch": epoch,
                "step": counters["step"],
                "train_nll": total / max(steps, 1) * cfg.length,  # nats per image
                "test_nll": sequence_nll(prior, test_seq, test_labels),
                "seconds": seconds,
                "precision": tcfg.precision,
            }
            records.append(record)
            files.save_prior(session.dir, prior)
            write_metrics(session.dir, records)  # before the state: a resume drops lines past the state's epoch
            files.save_prior_state(session.dir, prior, optim, gen, counters)
            session.commit(epoch)
            if on_epoch is not None:
                on_epoch(record)
    test_nll = records[-1]["test_nll"] if records else sequence_nll(prior, test_seq, test_labels)
    return PriorResult(prior.eval(), records, test_nll)
