"""`vaekit bench`: the textbook loop, the engine's variants and a JAX peer, side by side, in one process on
the same data, against the machine's own roofline.

Each variant trains the classic VAE (784-400-20, batch 128, Adam 1e-3, targets in [0, 1]) for one warm-up
epoch plus ``epochs`` timed epochs; we report the median seconds per timed epoch, the warm-up epoch, the
test loss after training (one evaluator for all), memory (the process's peak resident set while the variant
ran, and how much it added while it was built and warmed up), the speedup of each variant's median over
the textbook loop's, and its efficiency against the roofline. The timed epochs run round-robin (epoch 1 of
every variant, then epoch 2, ...) so that load changes on a shared machine hit every variant alike.

The roofline is measured in the same process: the time of each matrix product of one training step at the
model's own shapes (forward, weight gradients, input gradients; fp32, and bf16 where the hardware has bf16
units), timed alone, and the time Adam's unavoidable memory traffic takes at the bandwidth the machine gives
a working set of that size (measured with a = b + c over buffers of the parameter count; Adam reads the
parameter, gradient and both moments and writes the parameter and both moments: 28 bytes per parameter).
Their sum per step, times the steps of an epoch, is the floor; a variant's efficiency is floor / its seconds
per epoch (1.0 = nothing but the products and Adam's traffic, at the speed they run alone).
"""

from __future__ import annotations

import math
import os
import statistics
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch

from .. import switches
from .._io import atomic_write_json
from ..config import RunConfig
from ..data import ImageDataset, load_dataset
from ..data.tensors import load_data_tensors, to_tensor
from ..errors import ConfigError
from ..evaluation.metrics import elbo_metrics
from ..models import GaussianVAE, preset_config
from ..plots import pyplot, save_figure
from ..switches import resolve_device
from ..training.loop import Trainer
from ..training.step import linear_layers
from . import jaxpeer

# name -> engine switches (precision, step, graph, binarize); "naive" is the textbook loop, "jax" the JAX peer.
# "fp32-nograph" differs from "fp32" only on a GPU, where it shows what CUDA-graph replay adds to the fused
# step; "fp32-dynamic" draws a dynamically binarized batch every step; "bf16-autograd" is bf16 autocast.
ENGINE_VARIANTS = {
    "fp32": ("fp32", "auto", "auto", "none"),
    "fp32-nograph": ("fp32", "auto", "off", "none"),
    "fp32-dynamic": ("fp32", "auto", "auto", "dynamic"),
    "bf16": ("bf16", "auto", "auto", "none"),
    "bf16-autograd": ("bf16", "autograd", "auto", "none"),
    "auto": ("auto", "auto", "auto", "none"),
}
ALL_VARIANTS = ("naive", *ENGINE_VARIANTS, "jax")


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

    precision = "fp32"

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

    def __init__(self, ds: ImageDataset, device: torch.device, seed: int, switches: tuple[str, ...], epochs: int):
        cfg = RunConfig(model=preset_config("classic"))
        cfg.train.seed, cfg.train.device, cfg.train.epochs = seed, device.type, epochs
        cfg.train.precision, cfg.train.step, cfg.train.graph, cfg.data.binarize = switches
        x_train, self.x_test = load_data_tensors(cfg, device, ds, quiet=True, for_training=True)
        if cfg.data.binarize != "none":  # one evaluator for all: the test loss on the [0, 1] targets
            self.x_test = to_tensor(ds.x_test, device)
        self.trainer = Trainer(cfg, x_train, device)
        self.device, self.precision = device, self.trainer.precision
        self.detail = ", ".join(f"{k}={v}" for k, v in self.trainer.info.items())

    def run_epoch(self) -> float:
        t0 = time.perf_counter()
        self.trainer.run_epoch()
        _sync(self.device)
        return time.perf_counter() - t0

    def test_loss(self) -> float:
        model = self.trainer.model
        assert isinstance(model, GaussianVAE)  # the bench trains the classic VAE
        return elbo_metrics(model, self.x_test)["loss"]


class _Jax:
    """The JAX peer (jaxpeer.py) as a benchmark variant."""

    precision = "fp32"

    def __init__(self, ds: ImageDataset, seed: int):
        import jax

        from .jaxpeer import JaxVAE

        cpu = torch.device("cpu")
        self.x_test = to_tensor(ds.x_test, cpu)
        self.image_shape = ds.image_shape
        self.peer = JaxVAE(to_tensor(ds.x_train, cpu).numpy(), seed=seed)
        self.detail = f"jax {jax.__version__} on {jax.devices()[0].platform}, whole epoch in one jit(lax.scan), optax"

    def run_epoch(self) -> float:
        t0 = time.perf_counter()
        self.peer.run_epoch()  # returns a host float: the epoch has finished
        return time.perf_counter() - t0

    def test_loss(self) -> float:
        from ..models import GaussianVAE

        model = GaussianVAE(preset_config("classic"))
        model.load_state_dict(self.peer.state_dict())
        return elbo_metrics(model, self.x_test)["loss"]


def _median_time(fn: Callable[[], Any], device: torch.device, repeats: int = 7, inner: int = 20) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        _sync(device)
        times.append((time.perf_counter() - t0) / inner)
    return statistics.median(times)


def product_shapes(layer_shapes: list[tuple[int, int]], batch: int) -> list[tuple[int, int, int]]:
    """The (m, k, n) matrix products of one training step of an MLP with Linear layers (out, in): per layer
    the forward product, the weight gradient and, but for the first layer, the input gradient."""
    shapes = []
    for j, (o, i) in enumerate(layer_shapes):
        shapes.append((batch, i, o))  # forward: (B, in) @ (in, out)
        shapes.append((o, batch, i))  # weight gradient: (out, B) @ (B, in)
        if j > 0:
            shapes.append((batch, o, i))  # input gradient: (B, out) @ (out, in)
    return shapes


def roofline(layer_shapes: list[tuple[int, int]], batch: int, steps: int, device: torch.device,
             precisions: tuple[str, ...] = ("fp32",)) -> dict[str, Any]:  # fmt: skip
    """The machine's floor for one epoch of the fused step (see the module docstring), per precision."""
    from ..training.step import DTYPES

    params = sum(o * i + o for o, i in layer_shapes)
    # bandwidth at Adam's working-set size: a = b + c over buffers of the model's parameter count
    a, b, c = (torch.rand(params, device=device) for _ in range(3))
    add_s = _median_time(lambda: torch.add(b, c, out=a), device)
    bandwidth = 3 * params * 4 / add_s  # bytes read + written per second
    adam_s = 28 * params / bandwidth
    out: dict[str, Any] = {"bandwidth_gb_s": bandwidth / 1e9, "adam_step_s": adam_s, "params": params}
    for precision in precisions:
        dt = DTYPES[precision]
        rows, step_s = [], 0.0
        for m, k, n in product_shapes(layer_shapes, batch):
            a, b = torch.randn(m, k, device=device, dtype=dt), torch.randn(k, n, device=device, dtype=dt)
            c = torch.empty(m, n, device=device, dtype=dt)
            t = _median_time(partial(torch.mm, a, b, out=c), device)
            rows.append({"shape": [m, k, n], "seconds": t, "gflops": 2 * m * k * n / t / 1e9})
            step_s += t
        flops = sum(2 * m * k * n for m, k, n in product_shapes(layer_shapes, batch))
        out[precision] = {
            "products": rows,
            "step_gflops": flops / step_s / 1e9,
            "floor_products_s": step_s * steps,
            "floor_s": (step_s + adam_s) * steps,
        }
    return out


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
    if dev.type == "cpu":  # every variant, the textbook loop included, runs with the same floating-point setup
        switches.flush_denormals()
    say = log or (lambda _m: None)
    skipped = {}
    if "jax" in variants and not jaxpeer.available():
        variants = tuple(v for v in variants if v != "jax")
        skipped["jax"] = "not installed; pip install -e '.[peers]'"
        say(f"jax: skipped ({skipped['jax']})")
    ds = load_dataset(dataset, quiet=True)
    if ds.image_shape != (28, 28):
        raise ConfigError(f"bench runs the classic 784-pixel model; {dataset} has images of {ds.image_shape}")
    runners: dict[str, _Naive | _Engine | _Jax] = {}
    warmup: dict[str, float] = {}
    peak: dict[str, float] = {}
    added: dict[str, float] = {}
    seconds: dict[str, list[float]] = {v: [] for v in variants}
    for name in variants:  # build + warm up, one variant at a time (memory is attributed here)
        before = _PeakRSS.rss_bytes()
        with _PeakRSS() as mem:
            if name == "naive":
                runner: _Naive | _Engine | _Jax = _Naive(ds, dev, seed)
            elif name == "jax":
                runner = _Jax(ds, seed)
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
    hw = switches.detect(dev)
    used = {getattr(r, "precision", "fp32") for r in runners.values()}
    precisions = tuple(p for p in ("fp32", "bf16") if p in used or (p == "bf16" and hw.fast_bf16))
    model = GaussianVAE(preset_config("classic"))
    linears = (linear_layers(model.encoder) or []) + (linear_layers(model.decoder) or [])
    layers = [(m.out_features, m.in_features) for m in linears]
    roof = roofline(layers, 128, math.ceil(len(ds.x_train) / 128), dev, precisions)
    rates = ", ".join(f"{p} {roof[p]['step_gflops']:.0f} GFLOP/s" for p in precisions)
    say(f"roofline: products at the model's shapes {rates}; bandwidth {roof['bandwidth_gb_s']:.1f} GB/s")
    report: dict[str, Any] = {
        "variants": {},
        "speedup": {},
        "machine": machine_info(dev, hw),
        "epochs": epochs,
        "roofline": roof,
        "skipped": skipped,
    }
    for name, runner in runners.items():
        precision = getattr(runner, "precision", "fp32")
        median = statistics.median(seconds[name])
        report["variants"][name] = {
            "precision": precision,
            "floor_s": roof[precision]["floor_s"],
            "efficiency": roof[precision]["floor_s"] / median,
            "sec_per_epoch": median,
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


def machine_info(device: torch.device, hw: switches.Hardware | None = None) -> dict[str, Any]:
    import platform

    info = {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpu": platform.processor() or ""}
    if hw is not None:
        info["kind"] = hw.name
        info["bf16_flags"] = sorted(f for f in hw.cpu_flags if f in switches.BF16_CPU_FLAGS)
        info["denormals"] = "flush" if device.type == "cpu" else "device default"
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
        "| speedup vs naive | floor s/epoch | efficiency |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, v in report["variants"].items():
        sp, floor, eff, prec = report["speedup"].get(name), v["floor_s"], v["efficiency"], v["precision"]
        rows.append(
            f"| {name} | {v['sec_per_epoch']:.3f} | {v['warmup_sec']:.3f} | {v['test_loss']:.2f} | "
            f"{v['peak_rss_mb']:.0f} | {v['rss_added_mb']:.0f} | {f'{sp:.2f}x' if sp else '–'} | "
            f"{floor:.3f} ({prec}) | {eff:.2f} |"
        )
    for name, why in report.get("skipped", {}).items():
        rows.append(f"| {name} | skipped: {why} | | | | | | | |")
    return "\n".join(rows)


def write_json(report: dict[str, Any], path: str | Path) -> Path:
    return atomic_write_json(path, report)


def bench_chart(report: dict, path: str | Path) -> Path:
    """`vaekit bench`: seconds per epoch of each variant (bars, median of the timed epochs; dots: every epoch)
    with the roofline floor of its precision (a tick), and the speedup over the textbook loop as a label."""
    plt = pyplot()
    names = list(report["variants"])
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(names) + 1.4))
    for y, name in enumerate(names):
        v = report["variants"][name]
        ax.barh(y, v["sec_per_epoch"], color="#4c72b0" if name != "naive" else "#999999")
        ax.plot(v["epoch_seconds"], [y] * len(v["epoch_seconds"]), "k.", markersize=4)
        ax.plot([v["floor_s"]] * 2, [y - 0.4, y + 0.4], color="#c44e52", linewidth=2)
        sp = report["speedup"].get(name)
        label = f" {v['sec_per_epoch']:.2f} s" + (f"  {sp:.2f}x" if sp else "") + f"  eff {v['efficiency']:.2f}"
        ax.text(max(v["sec_per_epoch"], max(v["epoch_seconds"])), y, label, va="center", fontsize=8)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel("seconds per epoch (red: the roofline floor of the variant's precision)")
    ax.set_xlim(0, 1.35 * max(max(v["epoch_seconds"]) for v in report["variants"].values()))
    machine = report.get("machine", {})
    ax.set_title(f"{machine.get('gpu') or machine.get('cpu', '')} ({machine.get('kind', '')})", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)
