"""How fast could the fused step be with PyTorch's kernels? Time, per training step of the classic MNIST VAE
(784-400-20, batch 128), in interleaved rounds on this machine:

- ``naive``: the textbook loop (`vaekit bench`'s baseline), 100 steps as one epoch of 12,800 images;
- ``fp32``, ``bf16``: the fused step (`src/vaekit/training/step.py`);
- ``fp32 products``, ``bf16 products``: the step's 11 matrix products alone, the same calls on the step's own
  buffers in the step's order, nothing between them;
- ``adam``: the step's one fused Adam call; ``casts``: the bf16 step's two casts (gradients in, weights out);
- ``jax``: the JAX peer, 100 steps as one jitted scan (compiled before the rounds).

The bound of a step is its products, Adam and (bf16) the casts, with no element-wise work and no dispatch
between them: no fused step with these kernels can be faster. The script prints it against the issue's targets
(fp32 >= 1.2x JAX: a step of at most JAX's / 1.2; bf16 >= 3x the textbook loop: at most its step / 3).

    python benchmarks/step_bound.py [--rounds 15] [--steps 100] [--json docs/data/step-bound-NAME.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from common import machine

from vaekit.data import load_dataset
from vaekit.data.tensors import to_tensor
from vaekit.measure import jaxpeer
from vaekit.measure.compare import paired_speedup
from vaekit.measure.naive import make_textbook, textbook_epoch, to_gaussian_vae
from vaekit.training.step import FusedVAEStep, adam_flat

BATCH = 128


def products(step: FusedVAEStep, x: torch.Tensor, z: torch.Tensor) -> Callable[[], None]:
    """The fused step's matrix products of one full batch, in its order, into its buffers: x (1, B, P) and z
    (1, B, D) in the products' dtype."""
    W, b, out, gW, grad = step.W, step.b, step.out, step.gW, step.grad
    n_enc, last = step.n_enc, len(W) - 1

    def run() -> None:
        h = x
        for j in range(len(W)):  # forward: encoder, then decoder from z
            h = z if j == n_enc else h
            torch.baddbmm(b[j].unsqueeze(1), h, W[j].transpose(1, 2), out=out[j])
            h = out[j]
        dh = grad[last]
        for j in reversed(range(len(W))):  # backward: each layer's weight gradient, then its input gradient
            prev = x if j == 0 else (z if j == n_enc else out[j - 1])
            torch.bmm(dh.transpose(1, 2), prev, out=gW[j])
            if j not in (0, n_enc):
                torch.bmm(dh, W[j], out=grad[j - 1])
                dh = grad[j - 1]
            elif j == n_enc:
                torch.bmm(dh, W[j])  # dL/dz
                dh = grad[n_enc - 1]

    return run


def per_step(fn: Callable[[], None], steps: int) -> float:
    """Milliseconds per call of ``fn``, over ``steps`` calls."""
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t0) / steps * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--json", type=Path, help="write the medians and every round here")
    args = ap.parse_args()
    torch.set_flush_denormal(True)
    cpu = torch.device("cpu")
    ds = load_dataset("mnist", quiet=True)
    x_all = to_tensor(ds.x_train, cpu).reshape(len(ds.x_train), -1).float()  # (N, 784) in [0, 1]
    g = torch.Generator().manual_seed(0)

    textbook = make_textbook(x_all[: args.steps * BATCH])  # model, loader, optimizer
    steps = {p: FusedVAEStep(to_gaussian_vae(make_textbook(x_all)[0]), 1e-3, BATCH, precision=p)
             for p in ("fp32", "bf16")}  # fmt: skip

    def fused(p: str) -> Callable[[], None]:
        step = steps[p]

        def run() -> None:
            idx = torch.randint(len(x_all), (BATCH,), generator=g)
            step(x_all[idx], 1.0, torch.randn(BATCH, step.latent_dim, generator=g))

        return run

    def operands(p: str) -> tuple[torch.Tensor, torch.Tensor]:
        dt = torch.bfloat16 if p == "bf16" else torch.float32
        return x_all[:BATCH].unsqueeze(0).to(dt), torch.randn(1, BATCH, steps[p].latent_dim).to(dt)

    def naive() -> float:  # one epoch of the textbook loop: args.steps batches
        t0 = time.perf_counter()
        textbook_epoch(*textbook)
        return (time.perf_counter() - t0) / args.steps * 1e3

    bf = steps["bf16"]
    variants: dict[str, Callable[[], float]] = {
        "naive": naive,
        "fp32": lambda: per_step(fused("fp32"), args.steps),
        "bf16": lambda: per_step(fused("bf16"), args.steps),
        "fp32 products": lambda: per_step(products(steps["fp32"], *operands("fp32")), args.steps),
        "bf16 products": lambda: per_step(products(bf, *operands("bf16")), args.steps),
        "adam": lambda: per_step(lambda: adam_flat(bf.optimizer, bf.param), args.steps),
        "casts": lambda: per_step(lambda: (bf.flat_grad.copy_(bf.cgrad), bf.sync_operands()), args.steps),
    }
    if jaxpeer.available():
        import jax

        peer = jaxpeer.JaxVAE(x_all.numpy())
        idx = jax.numpy.asarray(torch.randint(len(x_all), (args.steps, BATCH), generator=g).numpy())

        def jax_steps() -> float:
            t0 = time.perf_counter()
            peer.params, peer.opt_state, peer.key, _ = peer._chunk(peer.params, peer.opt_state, peer.key, peer.x, idx)
            jax.block_until_ready(peer.params)
            return (time.perf_counter() - t0) / args.steps * 1e3

        jax_steps()  # compile
        variants["jax"] = jax_steps
    for fn in variants.values():  # warm up
        fn()
    rounds: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(args.rounds):
        for name, fn in variants.items():
            rounds[name].append(fn())
        print(f"round {r + 1}: " + ", ".join(f"{n} {v[-1]:.3f}" for n, v in rounds.items()), flush=True)
    med = {name: statistics.median(v) for name, v in rounds.items()}
    print(f"\nms per step, medians of {args.rounds} rounds:")
    for name, v in med.items():
        print(f"  {name:14s} {v:7.3f}")
    for t in targets(rounds):
        print(f"{t['target']}: a step of at most {t['allowed_ms']:.3f} ms (median over rounds); the bound "
              f"({t['bound']}) takes {t['bound_share']:.2f} of that, the fused step {t['step_share']:.2f}")  # fmt: skip
    if args.json:
        report = {"machine": machine(), "steps": args.steps, "batch": BATCH, "median_ms": med, "rounds_ms": rounds}
        args.json.write_text(json.dumps(report, indent=1) + "\n")


def targets(rounds: dict[str, list[float]]) -> list[dict[str, Any]]:
    """Issue 23's two speed targets against one run's rounds (ms per step per variant): the step each allows
    (JAX's / 1.2 for fp32, the textbook loop's / 3 for bf16) and the shares of it that the bound and the fused
    step take, each the median over rounds of the same round's ratio (1 or more: the target cannot be met)."""
    out = []
    for p, parts, base, factor, target in (
        ("fp32", ("adam",), "jax", 1.2, "fused fp32 >= 1.2x JAX"),
        ("bf16", ("adam", "casts"), "naive", 3.0, "fused bf16 >= 3x the textbook loop"),
    ):
        if base not in rounds:
            continue
        allowed = [t / factor for t in rounds[base]]
        bound = [sum(rounds[n][i] for n in (f"{p} products", *parts)) for i in range(len(allowed))]
        out.append({
            "target": target,
            "bound": " + ".join(("products", *parts)),
            "allowed_ms": statistics.median(allowed),
            "bound_ms": statistics.median(bound),
            "step_ms": statistics.median(rounds[p]),
            "bound_share": paired_speedup(bound, allowed),
            "step_share": paired_speedup(rounds[p], allowed),
        })  # fmt: skip
    return out


if __name__ == "__main__":
    main()
