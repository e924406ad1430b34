"""`vaekit bench`: the textbook loop and the engine's variants, side by side, in one process on the same data.

Each variant trains the classic VAE (784-400-20, batch 128, Adam 1e-3, targets in [0, 1]) for one warm-up
epoch plus ``epochs`` timed epochs; we report the median seconds per timed epoch, the warm-up epoch, the
test loss after training (one evaluator for all), the peak resident memory while the variant ran, and the
speedup of each variant's median over the textbook loop's.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ._io import atomic_write_json
from .config import RunConfig
from .data import ImageDataset, load_dataset
from .engine import resolve_device, to_tensor, train
from .errors import ConfigError
from .evaluate import elbo_metrics
from .models import preset_config

# name -> engine precision; "naive" is the textbook loop
ENGINE_VARIANTS = {"fp32": "fp32", "bf16": "bf16", "auto": "auto"}
ALL_VARIANTS = ("naive", *ENGINE_VARIANTS)


@dataclass
class VariantResult:
    sec_per_epoch: float  # median over timed epochs
    warmup_sec: float  # the first epoch, reported separately
    test_loss: float  # negative ELBO per test image after training (nats)
    peak_rss_mb: float  # peak resident set size of the process while the variant ran
    epoch_seconds: list[float]  # every timed epoch
    detail: str  # what the variant resolved to (precision, optimizer, device)


class _PeakRSS:
    """Samples this process's resident memory every few milliseconds in a background thread."""

    def __init__(self, interval: float = 0.005):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()

    @staticmethod
    def rss_bytes() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss_bytes())
            time.sleep(self.interval)

    def __enter__(self) -> _PeakRSS:
        self.peak = self.rss_bytes()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss_bytes())


def run_naive(ds: ImageDataset, epochs: int, seed: int, device: torch.device) -> tuple[list[float], float]:
    """Train the textbook loop (on the CPU data path it was written for); returns epoch seconds and test loss."""
    from .naive import make_textbook, textbook_epoch, to_gaussian_vae

    x_train, x_test = to_tensor(ds.x_train, device), to_tensor(ds.x_test, device)
    model, loader, opt = make_textbook(x_train.cpu(), seed=seed)
    model.to(device)
    seconds = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        if device.type == "cpu":
            textbook_epoch(model, loader, opt)
        else:  # the textbook moves each batch to the GPU inside the loop
            _textbook_epoch_to(model, loader, opt, device)
        seconds.append(time.perf_counter() - t0)
    vae = to_gaussian_vae(model.cpu(), ds.image_shape)
    return seconds, elbo_metrics(vae, x_test.cpu())["loss"]


def _textbook_epoch_to(model, loader, optimizer, device) -> None:
    from .naive import textbook_loss

    model.train()
    for data in loader:
        data = data.to(device)
        optimizer.zero_grad()
        recon, mu, logvar = model(data)
        loss = textbook_loss(recon, data, mu, logvar)
        loss.backward()
        optimizer.step()
        loss.item()


def run_engine(ds: ImageDataset, epochs: int, seed: int, device: str, precision: str) -> tuple[list[float], float, str]:
    """Train with the engine into a temporary run directory; returns epoch seconds, test loss, resolved switches."""
    cfg = RunConfig(model=preset_config("classic"))
    cfg.train.epochs, cfg.train.seed, cfg.train.device, cfg.train.precision = epochs, seed, device, precision
    with tempfile.TemporaryDirectory(prefix="vaekit-bench-") as tmp:
        result = train(cfg, Path(tmp) / "run", progress=False, dataset=ds)
    eng = result.summary["engine"]
    detail = ", ".join(f"{k}={v}" for k, v in eng.items())
    return [r["seconds"] for r in result.metrics], result.summary["loss"], detail


def bench(
    epochs: int = 3,
    variants: tuple[str, ...] = ("naive", "fp32", "auto"),
    device: str = "cpu",
    dataset: str = "mnist",
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the variants; returns ``{"variants": {name: {...}}, "speedup": {name: x}, "machine": {...}}``."""
    unknown = [v for v in variants if v not in ALL_VARIANTS]
    if unknown:
        raise ConfigError(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(ALL_VARIANTS)}")
    if epochs < 1:
        raise ConfigError("--epochs must be >= 1")
    dev = resolve_device(device)
    ds = load_dataset(dataset, quiet=True)
    if ds.image_shape != (28, 28):
        raise ConfigError(f"bench runs the classic 784-pixel model; {dataset} has images of {ds.image_shape}")
    results: dict[str, VariantResult] = {}
    for name in variants:
        if log:
            log(f"{name}: {epochs + 1} epochs ...")
        with _PeakRSS() as mem:
            if name == "naive":
                seconds, loss = run_naive(ds, epochs + 1, seed, dev)
                detail = f"device={dev}, textbook DataLoader loop, torch.optim.Adam"
            else:
                seconds, loss, detail = run_engine(ds, epochs + 1, seed, str(dev), ENGINE_VARIANTS[name])
        timed = seconds[1:]
        results[name] = VariantResult(statistics.median(timed), seconds[0], loss, mem.peak / 2**20, timed, detail)
        if log:
            log(f"{name}: {results[name].sec_per_epoch:.3f} s/epoch (median), test loss {loss:.2f}")
    base = results["naive"].sec_per_epoch if "naive" in results else None
    return {
        "variants": {
            n: {
                "sec_per_epoch": r.sec_per_epoch,
                "warmup_sec": r.warmup_sec,
                "test_loss": r.test_loss,
                "peak_rss_mb": r.peak_rss_mb,
                "epoch_seconds": r.epoch_seconds,
                "detail": r.detail,
            }
            for n, r in results.items()
        },
        "speedup": {n: base / r.sec_per_epoch for n, r in results.items()} if base else {},
        "machine": machine_info(dev),
        "epochs": epochs,
    }


def machine_info(device: torch.device) -> dict[str, Any]:
    import platform

    info = {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpu": platform.processor() or ""}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def markdown_table(report: dict[str, Any]) -> str:
    """The report as a markdown table."""
    rows = [
        "| variant | s/epoch (median) | warm-up s | test loss (nats) | peak RSS (MB) | speedup vs naive |",
        "|---|---|---|---|---|---|",
    ]
    for name, v in report["variants"].items():
        sp = report["speedup"].get(name)
        rows.append(
            f"| {name} | {v['sec_per_epoch']:.3f} | {v['warmup_sec']:.3f} | {v['test_loss']:.2f} | "
            f"{v['peak_rss_mb']:.0f} | {f'{sp:.2f}x' if sp else '–'} |"
        )
    return "\n".join(rows)


def write_json(report: dict[str, Any], path: str | Path) -> Path:
    return atomic_write_json(path, report)


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
