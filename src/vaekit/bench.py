"""`vaekit bench`: the textbook loop and the engine's variants, side by side, in one process on the same data.

Each variant trains the classic VAE (784-400-20, batch 128, Adam 1e-3, targets in [0, 1]) for one warm-up
epoch plus ``epochs`` timed epochs; we report the median seconds per timed epoch, the warm-up epoch, the
test loss after training (one evaluator for all), memory (the process's peak resident set while the variant
ran, and how much it added while it was built and warmed up), and the speedup of each variant's median over
the textbook loop's. The timed epochs run round-robin (epoch 1 of every variant, then epoch 2, ...) so that
load changes on a shared machine hit every variant alike.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ._io import atomic_write_json
from .config import RunConfig
from .data import ImageDataset, load_dataset
from .engine import Trainer, load_data_tensors, resolve_device, to_tensor
from .errors import ConfigError
from .evaluate import elbo_metrics
from .models import preset_config

# name -> engine switches (precision, graph); "naive" is the textbook loop. "fp32-nograph" differs from
# "fp32" only on a GPU, where it shows what CUDA-graph replay adds to the fused step.
ENGINE_VARIANTS = {
    "fp32": ("fp32", "auto"),
    "fp32-nograph": ("fp32", "off"),
    "bf16": ("bf16", "auto"),
    "auto": ("auto", "auto"),
}
ALL_VARIANTS = ("naive", *ENGINE_VARIANTS)


class _PeakRSS:
    """Samples this process's resident memory every few milliseconds in a background thread."""

    def __init__(self, interval: float = 0.005):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()

    @staticmethod
    def rss_bytes() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

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


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Naive:
    """The textbook loop as a benchmark variant."""

    def __init__(self, ds: ImageDataset, device: torch.device, seed: int):
        from .naive import make_textbook

        cpu = torch.device("cpu")
        self.device, self.image_shape = device, ds.image_shape
        self.x_test = to_tensor(ds.x_test, cpu)
        self.model, self.loader, self.optimizer = make_textbook(to_tensor(ds.x_train, cpu), seed)
        self.model.to(device)
        self.detail = f"device={device}, per-sample Dataset + DataLoader, sigmoid + BCE, torch.optim.Adam"

    def run_epoch(self) -> float:
        from .naive import textbook_epoch

        t0 = time.perf_counter()
        textbook_epoch(self.model, self.loader, self.optimizer, self.device)
        _sync(self.device)
        return time.perf_counter() - t0

    def test_loss(self) -> float:
        from .naive import to_gaussian_vae

        return elbo_metrics(to_gaussian_vae(self.model.cpu(), self.image_shape), self.x_test)["loss"]


class _Engine:
    """The engine's ``Trainer`` with one precision setting as a benchmark variant."""

    def __init__(self, ds: ImageDataset, device: torch.device, seed: int, switches: tuple[str, str], epochs: int):
        cfg = RunConfig(model=preset_config("classic"))
        cfg.train.seed, cfg.train.device, cfg.train.epochs = seed, device.type, epochs
        cfg.train.precision, cfg.train.graph = switches
        x_train, self.x_test = load_data_tensors(cfg, device, ds, quiet=True, for_training=True)
        self.trainer = Trainer(cfg, x_train, device)
        self.device = device
        self.detail = ", ".join(f"{k}={v}" for k, v in self.trainer.info.items())

    def run_epoch(self) -> float:
        t0 = time.perf_counter()
        self.trainer.run_epoch()
        _sync(self.device)
        return time.perf_counter() - t0

    def test_loss(self) -> float:
        return elbo_metrics(self.trainer.model, self.x_test)["loss"]


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
    if unknown or not variants:
        raise ConfigError(f"unknown variant(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(ALL_VARIANTS)}")
    if epochs < 1:
        raise ConfigError("--epochs must be >= 1")
    dev = resolve_device(device)
    ds = load_dataset(dataset, quiet=True)
    if ds.image_shape != (28, 28):
        raise ConfigError(f"bench runs the classic 784-pixel model; {dataset} has images of {ds.image_shape}")
    say = log or (lambda _m: None)
    runners: dict[str, _Naive | _Engine] = {}
    warmup: dict[str, float] = {}
    peak: dict[str, float] = {}
    added: dict[str, float] = {}
    seconds: dict[str, list[float]] = {v: [] for v in variants}
    for name in variants:  # build + warm up, one variant at a time (memory is attributed here)
        before = _PeakRSS.rss_bytes()
        with _PeakRSS() as mem:
            if name == "naive":
                runner: _Naive | _Engine = _Naive(ds, dev, seed)
            else:
                runner = _Engine(ds, dev, seed, ENGINE_VARIANTS[name], epochs + 1)
            warmup[name] = runner.run_epoch()
        runners[name] = runner
        peak[name], added[name] = mem.peak / 2**20, (mem.peak - before) / 2**20
        say(f"{name}: warm-up epoch {warmup[name]:.2f} s ({runner.detail})")
    for e in range(epochs):  # timed epochs, round-robin
        for name, runner in runners.items():
            with _PeakRSS() as mem:
                seconds[name].append(runner.run_epoch())
            peak[name] = max(peak[name], mem.peak / 2**20)
        say(f"epoch {e + 1}: " + ", ".join(f"{n} {seconds[n][-1]:.2f} s" for n in runners))
    report: dict[str, Any] = {"variants": {}, "speedup": {}, "machine": machine_info(dev), "epochs": epochs}
    for name, runner in runners.items():
        report["variants"][name] = {
            "sec_per_epoch": statistics.median(seconds[name]),
            "warmup_sec": warmup[name],
            "test_loss": runner.test_loss(),
            "peak_rss_mb": peak[name],
            "rss_added_mb": added[name],
            "epoch_seconds": seconds[name],
            "detail": runner.detail,
        }
    if "naive" in report["variants"]:
        base = report["variants"]["naive"]["sec_per_epoch"]
        report["speedup"] = {n: base / v["sec_per_epoch"] for n, v in report["variants"].items()}
    return report


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
        "| variant | s/epoch (median) | warm-up s | test loss (nats) | peak RSS (MB) | RSS added (MB) "
        "| speedup vs naive |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, v in report["variants"].items():
        sp = report["speedup"].get(name)
        rows.append(
            f"| {name} | {v['sec_per_epoch']:.3f} | {v['warmup_sec']:.3f} | {v['test_loss']:.2f} | "
            f"{v['peak_rss_mb']:.0f} | {v['rss_added_mb']:.0f} | {f'{sp:.2f}x' if sp else '–'} |"
        )
    return "\n".join(rows)


def write_json(report: dict[str, Any], path: str | Path) -> Path:
    return atomic_write_json(path, report)
