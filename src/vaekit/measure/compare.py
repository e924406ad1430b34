"""`vaekit bench`: the textbook loop, the engine's variants and a JAX peer, side by side, in one process on
the same data, against the machine's own roofline.

Each variant trains the classic VAE (784-400-20, batch 128, Adam 1e-3, targets in [0, 1]) for one warm-up
epoch plus ``epochs`` timed epochs; we report the median seconds per timed epoch, the warm-up epoch, the
test loss after training (one evaluator for all), memory (the process's peak resident set while the variant
ran, and how much it added while it was built and warmed up), the speedup of each variant's median over
the textbook loop's, and its efficiency against the roofline. The timed epochs run round-robin (epoch 1 of
every variant, then epoch 2, ...) so that load changes on a shared machine hit every variant alike.

The roofline (roofline.py) is measured in the same process: the best time of each matrix product of one
training step over the GEMM paths PyTorch offers, plus Adam's memory traffic at the best bandwidth a triad
gets; times the steps of an epoch, that is the floor, and a variant's efficiency is floor / its seconds per
epoch. An efficiency above 1 means the floor missed a faster path: the bench says so (``floor_wrong``) rather
than print it as a result. Every timing's spread is reported beside it: (max - min) / median of the timed
epochs, and (median - best) / best of the roofline's repeats.

``--to-loss L`` races the variants instead: each trains from its initialisation until its test loss (the one
evaluator, run every ``eval_every`` steps and at every epoch's end, outside the timed region) first reaches
L, and reports the training seconds it took (JAX's compilation, done ahead, is reported apart).
"""

from __future__ import annotations

import math
import os
import statistics
import threading
import time
from collections.abc import Callable
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
from .roofline import product_shapes, roofline, sync

__all__ = ["bench", "race", "product_shapes", "markdown_table", "race_table", "bench_chart", "write_json"]

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


Clock = Callable[[], float]


class _Reached(Exception):
    """Raised from inside an engine epoch to end a race once the target loss is reached."""


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
        self.steps = 0
        self.detail = f"device={device}, per-sample Dataset + DataLoader, sigmoid + BCE, torch.optim.Adam"

    def run_epoch(self, clock: Clock = time.perf_counter) -> float:
        from .naive import textbook_epoch

        t0 = clock()
        textbook_epoch(self.model, self.loader, self.optimizer, self.device)
        sync(self.device)
        self.steps += len(self.loader)  # the step count of --to-loss's evaluations
        return clock() - t0

    def train_epoch(self, every: int, check: Callable[[int], bool]) -> bool:
        """One epoch of the textbook loop, calling ``check(steps)`` every ``every`` steps and at the end;
        returns True as soon as a check does."""
        from .naive import textbook_step

        self.model.train()
        i = 0
        for i, data in enumerate(self.loader, 1):
            textbook_step(self.model, data, self.optimizer, self.device)
            self.steps += 1
            if i % every == 0 and check(self.steps):
                return True
        return i % every != 0 and check(self.steps)

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

    def run_epoch(self, clock: Clock = time.perf_counter) -> float:
        t0 = clock()
        self.trainer.run_epoch()
        sync(self.device)
        return clock() - t0

    def train_epoch(self, every: int, check: Callable[[int], bool]) -> bool:
        """One epoch, calling ``check(steps)`` every ``every`` steps and at the end (the trainer's log hook);
        returns True as soon as a check does."""

        def on_log(step: int, _running: list[float]) -> None:
            if check(step):
                raise _Reached

        try:
            self.trainer.run_epoch(log_every=every, on_log=on_log)
        except _Reached:
            return True
        return False

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

    def run_epoch(self, clock: Clock = time.perf_counter) -> float:
        t0 = clock()
        self.peer.run_epoch()  # returns a host float: the epoch has finished
        return clock() - t0

    def compile_chunks(self, every: int) -> float:
        """Compile the chunked epoch ahead (outside any timed region); returns the seconds it took."""
        t0 = time.perf_counter()
        self.peer.compile_chunks(every)
        return time.perf_counter() - t0

    def train_epoch(self, every: int, check: Callable[[int], bool]) -> bool:
        """One epoch as jitted scans of ``every`` steps, calling ``check(steps)`` after each and at the end."""
        return any(check(steps) for steps in self.peer.epoch_in_chunks(every))

    def test_loss(self) -> float:
        from ..models import GaussianVAE

        model = GaussianVAE(preset_config("classic"))
        model.load_state_dict(self.peer.state_dict())
        return elbo_metrics(model, self.x_test)["loss"]


Runner = _Naive | _Engine | _Jax


def _start(variants: tuple[str, ...], device: str, dataset: str, say: Callable[[str], None]):
    """Check the variants, pick the device, drop jax where it is missing; returns (variants, device, data,
    skipped)."""
    unknown = [v for v in variants if v not in ALL_VARIANTS]
    if unknown or not variants:
        raise ConfigError(f"unknown variant(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(ALL_VARIANTS)}")
    dev = resolve_device(device)
    if dev.type == "cpu":  # every variant, the textbook loop included, runs with the same floating-point setup
        switches.flush_denormals()
    skipped = {}
    if "jax" in variants and not jaxpeer.available():
        variants = tuple(v for v in variants if v != "jax")
        skipped["jax"] = "not installed; pip install -e '.[peers]'"
        say(f"jax: skipped ({skipped['jax']})")
    ds = load_dataset(dataset, quiet=True)
    if ds.image_shape != (28, 28):
        raise ConfigError(f"bench runs the classic 784-pixel model; {dataset} has images of {ds.image_shape}")
    return variants, dev, ds, skipped


def _build(name: str, ds: ImageDataset, dev: torch.device, seed: int, epochs: int) -> Runner:
    if name == "naive":
        return _Naive(ds, dev, seed)
    if name == "jax":
        return _Jax(ds, seed)
    return _Engine(ds, dev, seed, ENGINE_VARIANTS[name], epochs)


def paired_speedup(base: list[float], other: list[float]) -> float:
    """The median over rounds of ``base[i] / other[i]``: each round times every variant's epoch back to back, so
    a machine that slows down for a few rounds (a neighbour on a shared host) slows both epochs of a round
    and leaves their ratio, where the ratio of two medians can pair a fast epoch with a slow one. Lists of
    different lengths are a bug of the caller (zip's ValueError)."""
    return statistics.median(b / o for b, o in zip(base, other, strict=True))


def spread(values: list[float]) -> float:
    """(max - min) / median of a variant's timed epochs: how much the machine wandered while it ran."""
    return (max(values) - min(values)) / statistics.median(values) if values else 0.0


def bench(
    epochs: int = 3,
    variants: tuple[str, ...] = ("naive", "fp32", "auto"),
    device: str = "cpu",
    dataset: str = "mnist",
    seed: int = 0,
    log: Callable[[str], None] | None = None,
    clock: Clock = time.perf_counter,
    stream_bytes: int | None = None,
) -> dict[str, Any]:
    """Run the variants; returns ``{"variants": {name: {...}}, "speedup": {name: x}, "paired_speedup": {name:
    x}, "machine": {...}, "roofline": {...}, "floor_wrong": [names]}``: ``speedup`` is the naive loop's median
    epoch over the variant's, ``paired_speedup`` the median of the rounds' ratios (``paired_speedup``).
    ``clock`` times the epochs (a test passes a fake one); ``stream_bytes``: the out-of-cache triad's array
    size (see ``roofline``)."""
    if epochs < 1:
        raise ConfigError("--epochs must be >= 1")
    say = log or (lambda _m: None)
    variants, dev, ds, skipped = _start(variants, device, dataset, say)
    runners: dict[str, Runner] = {}
    warmup: dict[str, float] = {}
    peak: dict[str, float] = {}
    added: dict[str, float] = {}
    seconds: dict[str, list[float]] = {v: [] for v in variants}
    for name in variants:  # build + warm up, one variant at a time (memory is attributed here)
        before = _PeakRSS.rss_bytes()
        with _PeakRSS() as mem:
            runner = _build(name, ds, dev, seed, epochs + 1)
            warmup[name] = runner.run_epoch(clock)
        runners[name] = runner
        peak[name], added[name] = mem.peak / 2**20, (mem.peak - before) / 2**20
        say(f"{name}: warm-up epoch {warmup[name]:.2f} s ({runner.detail})")
    for e in range(epochs):  # timed epochs, round-robin
        for name, runner in runners.items():
            with _PeakRSS() as mem:
                seconds[name].append(runner.run_epoch(clock))
            peak[name] = max(peak[name], mem.peak / 2**20)
        say(f"epoch {e + 1}: " + ", ".join(f"{n} {seconds[n][-1]:.2f} s" for n in runners))
    hw = switches.detect(dev)
    used = {r.precision for r in runners.values()}
    precisions = tuple(p for p in ("fp32", "bf16") if p in used or (p == "bf16" and hw.fast_bf16))
    model = GaussianVAE(preset_config("classic"))
    linears = (linear_layers(model.encoder) or []) + (linear_layers(model.decoder) or [])
    layers = [(m.out_features, m.in_features) for m in linears]
    roof = roofline(layers, 128, math.ceil(len(ds.x_train) / 128), dev, precisions, stream_bytes)
    for p in precisions:
        paths = sorted({f"{r['path']}/{r['threads']}t" for r in roof[p]["products"]})
        say(f"roofline {p}: products at the model's shapes {roof[p]['step_gflops']:.0f} GFLOP/s (best of "
            f"{', '.join(paths)}; spread up to {100 * roof[p]['spread']:.0f}%)")  # fmt: skip
    far, near = roof["stream"]["beyond_cache"]["gb_s"], roof["stream"]["adam_working_set"]["gb_s"]
    say(f"roofline bandwidth {roof['bandwidth_gb_s']:.1f} GB/s (triad beyond the cache {far:.1f} GB/s, "
        f"at Adam's working set {near:.1f} GB/s)")  # fmt: skip
    report: dict[str, Any] = {
        "variants": {},
        "speedup": {},
        "machine": machine_info(dev, hw),
        "epochs": epochs,
        "roofline": roof,
        "skipped": skipped,
        "floor_wrong": [],
    }
    for name, runner in runners.items():
        median = statistics.median(seconds[name])
        floor = roof[runner.precision]["floor_s"]
        report["variants"][name] = {
            "precision": runner.precision,
            "floor_s": floor,
            "efficiency": floor / median,
            "sec_per_epoch": median,
            "spread": spread(seconds[name]),
            "warmup_sec": warmup[name],
            "test_loss": runner.test_loss(),
            "peak_rss_mb": peak[name],
            "rss_added_mb": added[name],
            "epoch_seconds": seconds[name],
            "detail": runner.detail,
        }
        if floor > median:
            report["floor_wrong"].append(name)
            say(f"{name}: {median:.3f} s per epoch is below the {runner.precision} floor of {floor:.3f} s: the floor "
                "is wrong (a faster path than any the roofline timed), so its efficiency is not a result")  # fmt: skip
    if "naive" in report["variants"]:
        base = report["variants"]["naive"]["sec_per_epoch"]
        report["speedup"] = {n: base / v["sec_per_epoch"] for n, v in report["variants"].items()}
        rounds = seconds["naive"]
        report["paired_speedup"] = {n: paired_speedup(rounds, seconds[n]) for n in report["variants"]}
    return report


def race(
    target: float,
    variants: tuple[str, ...] = ("naive", "fp32", "auto", "jax"),
    device: str = "cpu",
    dataset: str = "mnist",
    eval_every: int = 100,
    max_epochs: int = 20,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
    clock: Clock = time.perf_counter,
) -> dict[str, Any]:
    """Time to quality: each variant trains from its initialisation until its test loss first reaches
    ``target`` (nats), evaluated every ``eval_every`` steps and at each epoch's end, outside the timed region;
    at most ``max_epochs`` epochs. Returns ``{"variants": {name: {"seconds": s or None, "steps", "loss",
    "curve": [[steps, seconds, loss], ...]}}, "target", "machine", ...}``."""
    if not math.isfinite(target) or target <= 0:
        raise ConfigError(f"--to-loss {target}: expected a positive loss in nats, for example 110")
    if eval_every < 1 or max_epochs < 1:
        raise ConfigError("--eval-every and --max-epochs must be >= 1")
    say = log or (lambda _m: None)
    variants, dev, ds, skipped = _start(variants, device, dataset, say)
    out: dict[str, Any] = {"target": target, "eval_every": eval_every, "max_epochs": max_epochs, "variants": {},
                           "skipped": skipped, "machine": machine_info(dev, switches.detect(dev))}  # fmt: skip
    for name in variants:  # one after the other: each from its own initialisation, alone on the machine
        runner = _build(name, ds, dev, seed, max_epochs)
        compile_s = runner.compile_chunks(eval_every) if isinstance(runner, _Jax) else 0.0
        curve, reached = _race_one(runner, target, eval_every, max_epochs, clock, dev)
        best = min(c[2] for c in curve)
        out["variants"][name] = {
            "seconds": curve[-1][1] if reached else None,
            "steps": curve[-1][0],
            "loss": curve[-1][2] if reached else best,
            "sec_per_step": curve[-1][1] / max(curve[-1][0], 1),
            "compile_s": compile_s,
            "precision": runner.precision,
            "curve": curve,
            "detail": runner.detail,
        }
        got = f"{curve[-1][1]:.1f} s, {curve[-1][0]} steps" if reached else f"not reached in {max_epochs} epochs"
        say(f"{name}: test loss <= {target:g} nats: {got} (best {best:.2f})")
    return out


def _race_one(runner: Runner, target: float, every: int, max_epochs: int, clock: Clock,
              device: torch.device) -> tuple[list[list[float]], bool]:  # fmt: skip
    """Train ``runner`` until its test loss reaches ``target``; returns the curve [[steps, training seconds,
    test loss], ...] (the seconds exclude the evaluations) and whether the target was reached."""
    curve: list[list[float]] = []
    paused = 0.0
    start = clock()

    def check(steps: int) -> bool:
        nonlocal paused
        sync(device)
        t0 = clock()
        loss = runner.test_loss()
        curve.append([steps, t0 - start - paused, loss])
        paused += clock() - t0
        return loss <= target

    reached = any(runner.train_epoch(every, check) for _ in range(max_epochs))
    return curve, reached


def cpu_identity(cpuinfo: str) -> dict[str, str]:
    """The first CPU's model name and, as ``cpu_id``, its family and model numbers from /proc/cpuinfo's text:
    under a hypervisor the name can be as bare as "AMD EPYC", which the numbers tell apart (family 23 is Zen 1
    and 2, family 25 Zen 3 and 4)."""
    fields = switches.cpu_fields(cpuinfo)
    info = {"cpu": fields["model name"]} if "model name" in fields else {}
    if "cpu family" in fields and "model" in fields:
        info["cpu_id"] = f"family {fields['cpu family']} model {fields['model']}"
    return info


def machine_info(device: torch.device, hw: switches.Hardware | None = None) -> dict[str, Any]:
    import platform

    info = {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpu": platform.processor() or ""}
    if hw is not None:
        info["kind"] = hw.name
        info["bf16_flags"] = sorted(f for f in hw.cpu_flags if f in switches.BF16_CPU_FLAGS)
        info["denormals"] = "flush" if device.type == "cpu" else "device default"
    try:
        info |= cpu_identity(Path("/proc/cpuinfo").read_text())
    except OSError:
        pass
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def markdown_table(report: dict[str, Any]) -> str:
    """The report as a markdown table (an efficiency the bench found above 1 is marked, not printed as a
    result; reports written before the spread was kept show a dash there, and the per-round speedup of a
    report written before it was kept is computed from its epochs)."""
    rows = [
        "| variant | s/epoch (median) | spread | warm-up s | test loss (nats) | peak RSS (MB) | RSS added (MB) "
        "| speedup vs naive | per round | floor s/epoch | efficiency |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    wrong = set(report.get("floor_wrong", []))
    paired = dict(report.get("paired_speedup", {}))  # a copy: the older reports' entries are added below
    naive = report["variants"].get("naive", {}).get("epoch_seconds")
    for name, v in report["variants"].items():
        if name not in paired and naive and len(v.get("epoch_seconds", [])) == len(naive):  # an older report
            paired[name] = paired_speedup(naive, v["epoch_seconds"])
        sp, floor, eff, prec = report["speedup"].get(name), v["floor_s"], v["efficiency"], v["precision"]
        spr = f"{100 * v['spread']:.0f}%" if "spread" in v else "–"
        effs = f"{eff:.2f} (floor wrong)" if name in wrong else f"{eff:.2f}"
        rows.append(
            f"| {name} | {v['sec_per_epoch']:.3f} | {spr} | {v['warmup_sec']:.3f} | {v['test_loss']:.2f} | "
            f"{v['peak_rss_mb']:.0f} | {v['rss_added_mb']:.0f} | {f'{sp:.2f}x' if sp else '–'} | "
            f"{f'{paired[name]:.2f}x' if name in paired else '–'} | {floor:.3f} ({prec}) | {effs} |"
        )
    for name, why in report.get("skipped", {}).items():
        rows.append(f"| {name} | skipped: {why} | | | | | | | | | |")
    return "\n".join(rows)


def race_table(report: dict[str, Any]) -> str:
    """`vaekit bench --to-loss`'s report as a markdown table."""
    target = report["target"]
    rows = [
        f"| variant | seconds to test loss <= {target:g} | steps | test loss then | s/step | speedup vs naive |",
        "|---|---|---|---|---|---|",
    ]
    base = report["variants"].get("naive", {}).get("seconds")
    for name, v in report["variants"].items():
        sec = v["seconds"]
        compiled = f" (+{v['compile_s']:.1f} s compile)" if v.get("compile_s") else ""
        when = f"**{sec:.1f}**{compiled}" if sec is not None else f"not reached in {report['max_epochs']} epochs"
        sp = f"{base / sec:.2f}x" if base and sec else "–"
        loss = f"{v['loss']:.2f}" + ("" if sec is not None else " (best)")
        rows.append(f"| {name} | {when} | {v['steps']} | {loss} | {v['sec_per_step'] * 1e3:.1f} ms | {sp} |")
    for name, why in report.get("skipped", {}).items():
        rows.append(f"| {name} | skipped: {why} | | | | |")
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


def race_chart(report: dict, path: str | Path) -> Path:
    """`vaekit bench --to-loss`: each variant's test loss against its training seconds, with the target."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, v in report["variants"].items():
        curve = v["curve"]
        line = ax.plot([c[1] for c in curve], [c[2] for c in curve], ".-", markersize=3, label=name)[0]
        if v["seconds"] is not None:
            ax.plot([v["seconds"]], [v["loss"]], "o", color=line.get_color(), markersize=8, fillstyle="none")
    ax.axhline(report["target"], color="#c44e52", linewidth=1, linestyle="--")
    losses = [c[2] for v in report["variants"].values() for c in v["curve"]]
    ax.set_ylim(min(losses) - 2, min(max(losses), report["target"] + 40))
    ax.set_xlabel("training seconds (evaluations excluded)")
    ax.set_ylabel("test loss, -ELBO (nats)")
    machine = report.get("machine", {})
    where = machine.get("gpu") or machine.get("cpu", "")
    ax.set_title(f"time to test loss {report['target']:g} on {where}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)
