"""The video tokenizer (``models/video.py``) as two ONNX graphs, written by walking the model's own modules, so
that the graph is the model and nothing is described twice:

    encoder.onnx   x (B, P) clips of the run's frame count, channel-last, in [0, 1]  ->  tokens (B, t', h, w)
    decoder.onnx   tokens (B, t', h, w) int64  ->  logits (B, P), mean (B, P) in [0, 1]

Causal time padding is an edge Pad (copies of frame 0) on the left of the time axis; the per-frame group norm is
InstanceNormalization over (B T, groups, rest); Cosmos' up-sampling repeats a frame as Concat + Reshape and
drops the first copy with a Slice; the Haar transform is a MatMul with its 8 x 8 matrix. Shapes are static but
for the batch (the graph takes the run's frame count). The tests compare both graphs with PyTorch in
onnxruntime.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..models.video import HAAR3, CausalConv3d, Down, FactorisedBlock, FrameNorm, Up, VideoTokenizer
from ..quantizers import FSQ, GaussianLatent, VectorQuantizer
from .onnx_graph import Graph, fsq_codes, fsq_tokens, mean_image, nearest_tokens, write_models


def _i64(*v: int) -> np.ndarray:
    return np.array(v, dtype=np.int64)


def _f32(t: torch.Tensor | np.ndarray) -> np.ndarray:
    return (t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)).astype(np.float32)


class _Walker:
    """Emits one module after another; ``shape`` is the current (C, T, H, W) (the batch is free)."""

    def __init__(self, g: Graph, shape: tuple[int, int, int, int]):
        self.g, self.shape = g, shape

    def prepend_first(self, h: str, n: int) -> str:
        """Frame 0 repeated ``n`` more times in front: an edge Pad on the left of the time axis."""
        if n <= 0:
            return h
        c, t, hh, ww = self.shape
        self.shape = (c, t + n, hh, ww)
        return self.g.node("Pad", [h, self.g.const("pads", _i64(0, 0, n, 0, 0, 0, 0, 0, 0, 0))], "causal", mode="edge")

    def conv(self, m: nn.Conv3d, h: str) -> str:
        args = [h, self.g.const("w", _f32(m.weight))]
        args += [self.g.const("b", _f32(m.bias))] if m.bias is not None else []
        pt, ph, pw = (int(v) for v in m.padding)
        st, sh, sw = (int(v) for v in m.stride)
        kt, kh, kw = (int(v) for v in m.kernel_size)
        c, t, hh, ww = self.shape
        self.shape = (
            m.out_channels,
            (t + 2 * pt - kt) // st + 1,
            (hh + 2 * ph - kh) // sh + 1,
            (ww + 2 * pw - kw) // sw + 1,
        )
        return self.g.node("Conv", args, "conv", kernel_shape=[kt, kh, kw], strides=[st, sh, sw],
                           pads=[pt, ph, pw, pt, ph, pw])  # fmt: skip

    def avgpool(self, h: str, kernel: tuple[int, int, int]) -> str:
        c, t, hh, ww = self.shape
        self.shape = (c, t // kernel[0], hh // kernel[1], ww // kernel[2])
        return self.g.node("AveragePool", [h], "pool", kernel_shape=list(kernel), strides=list(kernel))

    def silu(self, h: str) -> str:
        return self.g.node("Mul", [h, self.g.node("Sigmoid", [h], "sigmoid")], "silu")

    def framenorm(self, m: FrameNorm, h: str) -> str:
        g, (c, t, hh, ww), groups = self.g, self.shape, m.num_groups
        frames = g.node("Transpose", [h], "frames", perm=[0, 2, 1, 3, 4])  # (B, T, C, H, W)
        flat = g.node("Reshape", [frames, g.const("s", _i64(-1, groups, c // groups * hh * ww))], "flat")
        ones, zeros = np.ones(groups, dtype=np.float32), np.zeros(groups, dtype=np.float32)
        normed = g.node("InstanceNormalization", [flat, g.const("one", ones), g.const("zero", zeros)], "in",
                        epsilon=m.eps)  # fmt: skip
        back = g.node("Reshape", [normed, g.const("s", _i64(-1, t, c, hh, ww))], "back")
        h = g.node("Transpose", [back], "clip", perm=[0, 2, 1, 3, 4])
        scale, shift = _f32(m.weight).reshape(c, 1, 1, 1), _f32(m.bias).reshape(c, 1, 1, 1)
        return g.node("Add", [g.node("Mul", [h, g.const("scale", scale)], "scale"), g.const("shift", shift)], "norm")

    def module(self, m: nn.Module, h: str) -> str:
        g = self.g
        if isinstance(m, nn.Sequential):
            for child in m:
                h = self.module(child, h)
        elif isinstance(m, CausalConv3d):
            h = self.conv(m.conv, self.prepend_first(h, m.time_pad))
        elif isinstance(m, FrameNorm):
            h = self.framenorm(m, h)
        elif isinstance(m, nn.SiLU):
            h = self.silu(h)
        elif isinstance(m, nn.Conv3d):
            h = self.conv(m, h)
        elif isinstance(m, nn.BatchNorm3d):  # evaluation mode: running statistics, no affine part
            c = self.shape[0]
            one, zero = np.ones(c, dtype=np.float32), np.zeros(c, dtype=np.float32)
            stats = [g.const("mean", _f32(m.running_mean)), g.const("var", _f32(m.running_var))]  # type: ignore[arg-type]
            h = g.node("BatchNormalization", [h, g.const("one", one), g.const("zero", zero), *stats], "bn",
                       epsilon=m.eps)  # fmt: skip
        elif isinstance(m, FactorisedBlock):
            shape = self.shape
            inner = self.module(m.conv1, self.silu(self.framenorm(m.norm1, h)))
            inner = self.module(m.conv2, self.silu(self.framenorm(m.norm2, inner)))
            out_shape, self.shape = self.shape, shape
            skip = self.module(m.skip, h) if isinstance(m.skip, nn.Conv3d) else h
            self.shape = out_shape
            h = g.node("Add", [skip, inner], "residual")
        elif isinstance(m, Down):
            if m.conv_s is not None:
                c, t, hh, ww = self.shape
                h = g.node("Pad", [h, g.const("pads", _i64(0, 0, 0, 0, 0, 0, 0, 0, 1, 1))], "pad")
                self.shape = (c, t, hh + 1, ww + 1)
                padded = self.shape
                a = self.conv(m.conv_s, h)
                self.shape = padded
                h = g.node("Add", [a, self.avgpool(h, (1, 2, 2))], "down_s")
            if m.conv_t is not None:
                h = self.prepend_first(h, 1)
                padded = self.shape
                a = self.module(m.conv_t, h)
                self.shape = padded
                h = g.node("Add", [a, self.avgpool(h, (2, 1, 1))], "down_t")
            h = self.conv(m.mix, h)
        elif isinstance(m, Up):
            if m.conv_t is not None:  # repeat each frame twice, drop the first copy
                c, t, hh, ww = self.shape
                u = g.node("Unsqueeze", [h, g.const("ax", _i64(3))], "u")
                twice = g.node("Reshape", [g.node("Concat", [u, u], "cat", axis=3), g.const("s", _i64(-1, c, 2 * t, hh,
                               ww))], "twice")  # fmt: skip
                h = g.node("Slice", [twice, g.const("s", _i64(1)), g.const("e", _i64(2 * t)), g.const("ax", _i64(2))],
                           "drop")  # fmt: skip
                self.shape = (c, 2 * t - 1, hh, ww)
                shape = self.shape
                a = self.module(m.conv_t, h)
                self.shape = shape
                h = g.node("Add", [h, a], "up_t")
            if m.conv_s is not None:
                c, t, hh, ww = self.shape
                scales = g.const("scales", np.array([1, 1, 1, 2, 2], dtype=np.float32))
                h = g.node("Resize", [h, g.const("roi", np.zeros(0, dtype=np.float32)), scales], "up", mode="nearest",
                           coordinate_transformation_mode="asymmetric", nearest_mode="floor")  # fmt: skip
                self.shape = (c, t, 2 * hh, 2 * ww)
                shape = self.shape
                a = self.module(m.conv_s, h)
                self.shape = shape
                h = g.node("Add", [h, a], "up_s")
            h = self.conv(m.mix, h)
        else:
            assert isinstance(m, nn.Identity), f"no ONNX form for {type(m).__name__}"  # a new layer needs one here
        return h

    def haar(self, h: str) -> str:
        """``haar3d``: frame 0 repeated, 2x2x2 blocks, the 8 x 8 Haar matrix, the subbands as channels."""
        g = self.g
        h = self.prepend_first(h, 1)
        c, t, hh, ww = self.shape
        blocks = g.node("Reshape", [h, g.const("s", _i64(-1, c, t // 2, 2, hh // 2, 2, ww // 2, 2))], "blocks")
        blocks = g.node("Transpose", [blocks], "bt", perm=[0, 1, 3, 5, 7, 2, 4, 6])
        flat = g.node("Reshape", [blocks, g.const("s", _i64(-1, c, 8, t // 2 * hh // 2 * ww // 2))], "bf")
        y = g.node("MatMul", [g.const("haar", _f32(HAAR3)), flat], "haar")
        self.shape = (8 * c, t // 2, hh // 2, ww // 2)
        return g.node("Reshape", [y, g.const("s", _i64(-1, *self.shape))], "subbands")

    def inverse_haar(self, h: str) -> str:
        g = self.g
        c8, t2, h2, w2 = self.shape
        c = c8 // 8
        flat = g.node("Reshape", [h, g.const("s", _i64(-1, c, 8, t2 * h2 * w2))], "sf")
        x = g.node("MatMul", [g.const("haar", _f32(HAAR3)), flat], "ihaar")
        x = g.node("Reshape", [x, g.const("s", _i64(-1, c, 2, 2, 2, t2, h2, w2))], "blocks")
        x = g.node("Transpose", [x], "bt", perm=[0, 1, 5, 2, 6, 3, 7, 4])
        x = g.node("Reshape", [x, g.const("s", _i64(-1, c, 2 * t2, 2 * h2, 2 * w2))], "clip")
        self.shape = (c, 2 * t2 - 1, 2 * h2, 2 * w2)
        return g.node("Slice", [x, g.const("s", _i64(1)), g.const("e", _i64(2 * t2)), g.const("ax", _i64(2))], "drop")


@torch.no_grad()
def export_video(model: VideoTokenizer, out_dir: Path) -> tuple[Path, Path]:
    """Write ``encoder.onnx`` and ``decoder.onnx`` for a video tokenizer in evaluation mode: tokens in and out,
    or, for a Gaussian latent, the encoder gives ``mu`` and ``logvar`` and the decoder reads ``z``."""
    model.eval()
    cfg = model.cfg
    frames, h, w, c = model.clip
    p = math.prod(model.clip)
    grid = model.token_shape
    doc = f"vaekit video tokenizer, clips {tuple(model.clip)}, tokens {tuple(grid)}"
    q = model.quantizer

    g = Graph({})
    walk = _Walker(g, (c, frames, h, w))
    clip = g.node("Transpose", [g.node("Reshape", ["x", g.const("s", _i64(-1, frames, h, w, c))], "thwc")], "clip",
                  perm=[0, 4, 1, 2, 3])  # fmt: skip
    z = walk.module(model.encoder, walk.haar(clip) if cfg.wavelet else clip)
    z = g.node("Transpose", [z], "z", perm=[0, 2, 3, 4, 1])  # (B, t', h, w, D), or (..., 2D) = [mu, logvar]
    d = model.code_dim
    outputs: list[tuple]  # (graph value, name, shape[, int64])
    inputs: list[tuple]  # (name, shape[, int64])
    if isinstance(q, GaussianLatent):
        mu, logvar = g.node_multi("Split", [z, g.const("halves", _i64(d, d))], 2, "half", axis=-1)
        outputs = [(mu, "mu", [*grid, d]), (logvar, "logvar", [*grid, d])]
    elif isinstance(q, FSQ):
        outputs = [(fsq_tokens(g, z, tuple(cfg.levels)), "tokens", list(grid), True)]
    else:
        assert isinstance(q, VectorQuantizer)
        outputs = [(nearest_tokens(g, z, _f32(q.vectors()), tuple(grid)), "tokens", list(grid), True)]
    encoder = g.model([("x", [p])], outputs, doc + ": encoder")

    g = Graph({})
    walk = _Walker(g, (d, grid[0], grid[1], grid[2]))
    if isinstance(q, GaussianLatent):
        codes, inputs = "z", [("z", [*grid, d])]
    elif isinstance(q, FSQ):
        codes, inputs = fsq_codes(g, "tokens", tuple(cfg.levels)), [("tokens", list(grid), True)]
    else:
        codes = g.node("Gather", [g.const("codebook", _f32(q.vectors())), "tokens"], "codes", axis=0)
        inputs = [("tokens", list(grid), True)]
    out = walk.module(model.decoder, g.node("Transpose", [codes], "grid", perm=[0, 4, 1, 2, 3]))
    if cfg.wavelet:
        out = walk.inverse_haar(out)
    out = g.node("Transpose", [out], "thwc", perm=[0, 2, 3, 4, 1])
    logits = g.node("Reshape", [out, g.const("s", _i64(-1, p))], "logits")
    mean = mean_image(g, cfg.likelihood, logits)
    decoder = g.model(inputs, [(logits, "logits", [p]), (mean, "mean", [p])], doc + ": decoder")
    return write_models(out_dir, encoder, decoder)
