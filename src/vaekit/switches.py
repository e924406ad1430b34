"""Speed switches resolved together against the hardware: device, precision, step and graph.

A switch left at ``auto`` resolves with what else was asked, so that no ``auto`` ever conflicts with an
explicit switch (``--step fused`` with ``--precision auto`` gives a precision the fused step has). Only two
explicit switches can contradict each other or the model, and each gives a one-line error:
``--step fused`` for a model the fused step cannot train, and ``--graph on`` where no graph applies.

How ``auto`` resolves (each choice measured; see the README's engine section):
  step       fused for the MLP Gaussian VAE (both precisions), else autograd
  precision  CPU: bf16 where the CPU has bf16 matrix units (AMX or AVX512-BF16), else fp32.
             CUDA: fp32 for the fused step (on a GPU that step is bound by kernel launches, which the CUDA
             graph removes; bf16 adds casts and gains nothing there), bf16 for autograd models on GPUs with
             native bf16 (compute capability >= 8.0), else fp32.
  graph      on for the fused step on CUDA in a single process, else off
A resumed run keeps the precision and step it resolved to when it started (``pinned``) unless the user
names other ones; the graph and the device always follow the machine the run is on now.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import ConfigError

BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of CPUs with bf16 matrix instructions


@dataclass(frozen=True)
class Hardware:
    """What the resolution looks at: the device kind, the CPU's flags and the GPU's compute capability."""

    device: str  # cpu | cuda
    cpu_flags: frozenset[str] = frozenset()  # from /proc/cpuinfo
    cuda_capability: tuple[int, int] | None = None  # (major, minor) of the GPU in use

    @property
    def fast_bf16(self) -> bool:
        """True when bf16 matrix products run on dedicated units (not emulated in fp32)."""
        if self.device == "cuda":
            return self.cuda_capability is not None and self.cuda_capability >= (8, 0)
        return any(f in self.cpu_flags for f in BF16_CPU_FLAGS)

    @property
    def name(self) -> str:
        """A short name of the kind of machine: avx2, avx512-bf16, amx, cuda-sm80..."""
        if self.device == "cuda":
            major, minor = self.cuda_capability or (0, 0)
            return f"cuda-sm{major}{minor}"
        if "amx_bf16" in self.cpu_flags:
            return "amx"
        if "avx512_bf16" in self.cpu_flags:
            return "avx512-bf16"
        return "avx512" if "avx512f" in self.cpu_flags else "avx2" if "avx2" in self.cpu_flags else "cpu"


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> cuda when available, else cpu. Asking for cuda without one is a ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda requested but no CUDA device is available; use --device cpu")
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)


def cpu_fields(text: str) -> dict[str, str]:
    """The ``key: value`` fields of the first CPU listed in /proc/cpuinfo's ``text`` (its block ends at the first
    blank line)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if not key and fields:
            break
        fields.setdefault(key, value.strip())
    return fields


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The flags of the first CPU listed in ``cpuinfo`` (empty where the file cannot be read)."""
    try:
        fields = cpu_fields(Path(cpuinfo).read_text())
    except OSError:
        return frozenset()
    return frozenset(fields.get("flags", fields.get("Features", "")).split())  # x86, Arm


def detect(device: torch.device) -> Hardware:
    """The hardware behind ``device``."""
    cap = torch.cuda.get_device_capability(device) if device.type == "cuda" else None
    return Hardware(device.type, cpu_flags(), cap)


@dataclass(frozen=True)
class Switches:
    """The resolved speed switches of one run."""

    precision: str  # fp32 | bf16
    step: str  # fused | autograd
    graph: bool  # replay the fused step as a CUDA graph


def resolve(
    precision: str,
    step: str,
    graph: str,
    hw: Hardware,
    fused_ok: bool,
    world: int = 1,
    pinned: dict[str, str] | None = None,
    lr_schedule: str = "constant",
) -> Switches:
    """Resolve the requested switches (``auto`` or explicit) for a model on ``hw``: every rule about precision,
    step and graph is here, and `train`, `sweep`, the study and the bench all ask this function.

    ``fused_ok``: whether the fused step can train the model. ``world``: data-parallel processes.
    ``pinned``: the precision and step a resumed run (or sweep) started with; they replace ``auto``.
    ``lr_schedule``: a captured CUDA graph keeps the learning rate it saw, so a schedule other than constant
    turns ``graph auto`` off and makes ``graph on`` an error.
    """
    pinned = pinned or {}
    if graph == "on" and lr_schedule != "constant":
        raise ConfigError("--graph on keeps one learning rate; use --graph auto with --lr-schedule")
    if step == "fused" and not fused_ok:
        raise ConfigError("--step fused needs the MLP Gaussian VAE; use --step autograd for this model")
    if step == "autograd" and graph == "on":
        raise ConfigError("--graph on replays the fused step; drop --step autograd or use --graph auto")
    if step == "auto":
        kept = pinned.get("step")
        step = kept if kept == "autograd" or (kept == "fused" and fused_ok) else "fused" if fused_ok else "autograd"
    if precision == "auto":
        precision = pinned.get("precision") or _auto_precision(hw, step)
    applies = hw.device == "cuda" and step == "fused" and world == 1
    if graph == "on" and not applies:
        why = (
            "--device cuda"
            if hw.device != "cuda"
            else "a single process"
            if world > 1
            else "the MLP Gaussian VAE (the fused step)"
        )
        raise ConfigError(f"--graph on needs {why}; use --graph auto or off")
    return Switches(precision, step, graph != "off" and applies and lr_schedule == "constant")


def _auto_precision(hw: Hardware, step: str) -> str:
    if hw.device == "cuda" and step == "fused":
        return "fp32"
    return "bf16" if hw.fast_bf16 else "fp32"


def flush_denormals() -> bool:
    """Flush denormal floats to zero on this thread and the threads it starts (True where supported).

    Adam's first moments of parameters whose gradient is always zero (the weights of MNIST's blank border
    pixels) decay by 0.9 a step into the denormal range after ~800 steps, and every operation on a denormal
    costs ~100 cycles on x86: without this the fused step slows down ~2x from the second epoch on (measured).
    Values below 1.2e-38 become 0, which changes no update Adam makes (its eps is 1e-8). Call it before the
    first parallel operation: the intra-op threads keep the setting they were started with.
    """
    return torch.set_flush_denormal(True)
