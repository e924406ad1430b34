"""CUDA-graph replay of the fused training step.

On a GPU the fused step of the classic VAE is bound by kernel launches (~50 small kernels per step), not by
arithmetic. ``GraphedStep`` captures one full-batch step — forward, hand-derived backward and the Adam kernel —
as a CUDA graph once, and from then on replays it: one launch per step instead of ~50.

What a graph needs, and how this file provides it:
  * fixed addresses: the step reads its batch, its noise and beta from static buffers (``x``, ``eps``,
    ``beta``) that are refilled before every replay; the fused step already keeps every activation, gradient,
    parameter and optimizer state in buffers allocated once;
  * no host values baked in: beta is a device tensor, so annealing schedules work under replay (the learning
    rate is baked in: a run with a learning-rate schedule does not use a graph);
  * warm-up before capture: the first ``warmup`` full-batch steps run eagerly on a side stream (they are real
    training steps), which also lets Adam create its state;
  * randomness outside the graph: the engine draws the noise (and dynamic binarization) with its own
    generator before each step, exactly as the eager engine does, so both follow the same random stream.
A short last batch runs the same step eagerly. ``vaekit sweep`` wraps its K-model ``FusedStep`` the same way:
one replay per step for all K models.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .step import FusedStep


class GraphedStep:
    """``step(x, beta, eps)`` like the wrapped fused step, replaying a captured graph for full batches.

    Wraps a ``FusedVAEStep`` (x (B, P), eps (B, D), beta a number) or a K-model ``FusedStep`` (x (K, B, P),
    eps (K, B, D), beta (K,)); ``x_shape``, ``eps_shape`` and ``beta_shape`` are the full-batch shapes.
    The returned tensor of a replayed step is the graph's own output buffer: use it (e.g. add it into a
    running sum on the same stream) before the next step overwrites it.
    """

    def __init__(
        self,
        step: FusedStep,
        x_shape: tuple[int, ...],
        eps_shape: tuple[int, ...],
        beta_shape: tuple[int, ...] = (),
        warmup: int = 3,
    ):
        dev = step.param.device
        self.step, self.warmup_left = step, warmup
        self.x = torch.zeros(x_shape, device=dev)
        self.eps = torch.zeros(eps_shape, device=dev)
        self.beta = torch.zeros(beta_shape, device=dev)
        self._replay: Callable[[], None] | None = None
        self._out: Tensor | None = None
        self.replays = 0  # full-batch steps served by the graph (reported by the engine and the tests)

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self.step.optimizer

    def __call__(self, x: Tensor, beta: float | Tensor, eps: Tensor) -> Tensor:
        if x.shape != self.x.shape:  # the short last batch of an epoch
            return self.step(x, beta, eps)
        self.x.copy_(x)
        self.eps.copy_(eps)
        self.beta.copy_(beta) if isinstance(beta, Tensor) else self.beta.fill_(beta)
        if self._replay is None:
            if self.warmup_left > 0:
                self.warmup_left -= 1
                return self._warm_step()
            self._replay, self._out = self._capture()
        self._replay()
        self.replays += 1
        assert self._out is not None
        return self._out

    def _run_static(self) -> Tensor:
        return self.step(self.x, self.beta, self.eps)

    def _warm_step(self) -> Tensor:
        """One eager step on a side stream, as CUDA requires before capturing work that initialises lazily."""
        if self.x.device.type != "cuda":
            return self._run_static().clone()
        main = torch.cuda.current_stream(self.x.device)
        side = torch.cuda.Stream(self.x.device)
        side.wait_stream(main)
        with torch.cuda.stream(side):
            out = self._run_static()
        main.wait_stream(side)
        out.record_stream(main)  # made on the side stream, read on the main one
        return out

    def _capture(self) -> tuple[Callable[[], None], Tensor]:
        """Record one step into a CUDA graph; returns ``(replay, output buffer)``. Recording runs nothing."""
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = self._run_static()
        self._graph = graph  # keep it (and its memory pool) alive
        return graph.replay, out
