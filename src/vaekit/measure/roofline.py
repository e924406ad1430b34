"""The machine's floor for one epoch of the classic VAE's training step: the least time its matrix products and
Adam's memory traffic can take on this machine, measured in the running process.

A floor has to be optimistic, or a variant can beat it (an efficiency above 1 says the floor was wrong, not
that the variant is magic). So every number here is the best the machine gave:

* **Products.** Each (m, k, n) product of one step (forward, weight gradient, input gradient per layer, at
  the model's shapes) is timed on every path PyTorch offers for it, and the fastest counts:
    - BLAS (``torch.mm``: MKL on x86 builds) in the three operand layouts a step uses (A @ B, A @ B^T with B
      stored transposed, A^T @ B),
    - the batched product (``torch.bmm`` with one matrix, the fused step's own call),
    - oneDNN's matmul (``mkldnn._linear_pointwise``, where this PyTorch and CPU run it in the dtype),
  each with all threads and with one thread (a small product can lose more to the thread handoff than it
  gains), and each path's time is its best of several repeats.
* **Memory.** Adam's unavoidable traffic (it reads the parameter, its gradient and both moments and writes
  the parameter and both moments: 28 bytes per fp32 parameter) at the faster of two STREAM-style triads
  (a = b + s * c): one over arrays larger than the last-level cache (the DRAM bandwidth), one at Adam's own
  working-set size (which may fit in a cache).

The floor leaves out every element-wise operation of the step but Adam's, so no real step reaches it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..training.step import DTYPES

ADAM_BYTES_PER_PARAM = 28  # reads p, g, m, v and writes p, m, v: 7 fp32 numbers
MAX_STREAM_BYTES = 1 << 30  # one triad array at most 1 GiB


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


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on a CPU, where every call returns finished)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_repeats(fn: Callable[[], Any], device: torch.device, repeats: int = 7, inner: int | None = None,
                 target_s: float = 0.004) -> list[float]:  # fmt: skip
    """Seconds per call of ``fn``, once per repeat, after a warm-up. Each repeat is the mean of ``inner`` calls
    (default: as many as take about ``target_s``, 1 to 50)."""
    for _ in range(2):
        fn()
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    once = time.perf_counter() - t0
    inner = inner or max(1, min(50, round(target_s / max(once, 1e-7))))
    times = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        sync(device)
        times.append((time.perf_counter() - t0) / inner)
    return times


def onednn_matmul(dtype: torch.dtype = torch.float32) -> bool:
    """True when this PyTorch has oneDNN's matmul as an operator (``mkldnn._linear_pointwise``) and this CPU
    runs it in ``dtype`` (oneDNN has no bf16 product on a CPU without bf16 units, such as an AVX2-only one)."""
    try:
        a = torch.ones(2, 3, dtype=dtype)
        torch.ops.mkldnn._linear_pointwise(a, torch.ones(4, 3, dtype=dtype), None, "none", [], "")
    except (AttributeError, RuntimeError, NotImplementedError):
        return False
    return True


def gemm_paths(m: int, k: int, n: int, dtype: torch.dtype, device: torch.device) -> dict[str, Callable[[], Any]]:
    """name -> a call computing one (m, k) @ (k, n) product on that path, operands allocated once."""
    a, b = torch.randn(m, k, device=device, dtype=dtype), torch.randn(k, n, device=device, dtype=dtype)
    c = torch.empty(m, n, device=device, dtype=dtype)
    b_t = b.t().contiguous()  # (n, k): B stored transposed, as nn.Linear stores a weight
    a_t = a.t().contiguous()  # (k, m)
    paths: dict[str, Callable[[], Any]] = {
        "blas": lambda: torch.mm(a, b, out=c),
        "blas-bt": lambda: torch.mm(a, b_t.t(), out=c),
        "blas-at": lambda: torch.mm(a_t.t(), b, out=c),
        "bmm": lambda: torch.bmm(a.unsqueeze(0), b.unsqueeze(0), out=c.unsqueeze(0)),
    }
    if device.type == "cpu" and onednn_matmul(dtype):
        paths["onednn"] = lambda: torch.ops.mkldnn._linear_pointwise(a, b_t, None, "none", [], "")
    return paths


def best_product(m: int, k: int, n: int, dtype: torch.dtype, device: torch.device, repeats: int = 7) -> dict[str, Any]:
    """The fastest path for one product: ``{"seconds", "path", "threads", "spread", "paths": {name: s}}``.
    ``spread``: the winning path's median repeat over its best, minus 1."""
    thread_counts = [torch.get_num_threads()]
    if device.type == "cpu" and thread_counts[0] > 1:
        thread_counts.append(1)
    per_path: dict[str, float] = {}
    best: dict[str, Any] = {"seconds": float("inf")}
    before = torch.get_num_threads()
    try:
        for threads in thread_counts:
            torch.set_num_threads(threads)
            for name, fn in gemm_paths(m, k, n, dtype, device).items():
                times = time_repeats(fn, device, repeats)
                key = f"{name}/{threads}t" if device.type == "cpu" else name
                per_path[key] = min(times)
                if min(times) < best["seconds"]:
                    spread = statistics.median(times) / min(times) - 1.0
                    best = {"seconds": min(times), "path": name, "threads": threads, "spread": spread}
    finally:
        torch.set_num_threads(before)
    return {**best, "paths": per_path}


def last_level_cache_bytes(root: str | Path = "/sys/devices/system/cpu/cpu0/cache") -> int | None:
    """The size of the CPU's largest cache level, from sysfs (None where it cannot be read)."""
    best: tuple[int, int] | None = None
    for index in sorted(Path(root).glob("index*")):
        try:
            level = int((index / "level").read_text())
            size = (index / "size").read_text().strip()
        except (OSError, ValueError):
            continue
        units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
        num = int(size.rstrip("KMG")) * units.get(size[-1], 1)
        if best is None or level > best[0]:
            best = (level, num)
    return best[1] if best else None


def triad(numel: int, device: torch.device, repeats: int = 5) -> dict[str, float]:
    """A STREAM-style triad a = b + 3 c over fp32 arrays of ``numel``: the best bandwidth (bytes read and written
    per second) and the spread (median over best, minus 1)."""
    a, b, c = (torch.rand(numel, device=device) for _ in range(3))
    times = time_repeats(lambda: torch.add(b, c, alpha=3.0, out=a), device, repeats, target_s=0.02)
    return {"gb_s": 3 * numel * 4 / min(times) / 1e9, "spread": statistics.median(times) / min(times) - 1.0,
            "bytes": 3 * numel * 4}  # fmt: skip


def roofline(layer_shapes: list[tuple[int, int]], batch: int, steps: int, device: torch.device,
             precisions: tuple[str, ...] = ("fp32",), stream_bytes: int | None = None,
             repeats: int = 7) -> dict[str, Any]:  # fmt: skip
    """The floor for ``steps`` steps of the MLP with ``layer_shapes`` (out, in) at ``batch``, per precision.

    ``stream_bytes``: the size of one array of the out-of-cache triad (default 4x the last-level cache, at most
    1 GiB; 256 MiB where the cache size is unknown)."""
    params = sum(o * i + o for o, i in layer_shapes)
    if stream_bytes is None:
        llc = last_level_cache_bytes() if device.type == "cpu" else None
        stream_bytes = min(4 * llc, MAX_STREAM_BYTES) if llc else 256 << 20
    dram = triad(stream_bytes // 4, device)
    working = triad(params, device)
    bandwidth = max(dram["gb_s"], working["gb_s"]) * 1e9
    adam_s = ADAM_BYTES_PER_PARAM * params / bandwidth
    out: dict[str, Any] = {
        "bandwidth_gb_s": bandwidth / 1e9,
        "stream": {"beyond_cache": dram, "adam_working_set": working},
        "adam_step_s": adam_s,
        "params": params,
    }
    shapes = product_shapes(layer_shapes, batch)
    flops = sum(2 * m * k * n for m, k, n in shapes)
    for precision in precisions:
        rows = []
        for m, k, n in shapes:
            best = best_product(m, k, n, DTYPES[precision], device, repeats)
            rows.append({"shape": [m, k, n], **best, "gflops": 2 * m * k * n / best["seconds"] / 1e9})
        step_s = sum(r["seconds"] for r in rows)
        out[precision] = {
            "products": rows,
            "step_gflops": flops / step_s / 1e9,
            "floor_products_s": step_s * steps,
            "floor_s": (step_s + adam_s) * steps,
            "spread": max(r["spread"] for r in rows),
        }
    return out
