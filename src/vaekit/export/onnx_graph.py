"""The ONNX graph builder that `vaekit export` writes every model with: nodes and initializers collected by
:class:`Graph`, the layer plans of ``vaekit.arch`` as nodes, the expected image, and the checked, atomic write
of an encoder and a decoder (``onnx.py`` for the VAEs and grid tokenizers, ``onnx_titok.py`` for TiTok)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write_bytes
from ..arch import Plan

OPSET = 17


class Graph:
    """Collects nodes and initializers; ``emit`` returns fresh value names."""

    def __init__(self, params: dict[str, np.ndarray]):
        self.params, self._n = params, 0
        self.nodes: list[Any] = []
        self.inits: list[Any] = []

    def name(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, hint: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self.name(hint)
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], hint: str, **attrs: Any) -> str:
        from onnx import helper

        out = self.name(hint)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def node_multi(self, op: str, inputs: list[str], n: int, hint: str = "part", **attrs: Any) -> list[str]:
        """A node with ``n`` outputs (Split)."""
        from onnx import helper

        outs = [self.name(hint) for _ in range(n)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=outs[0] + "_node", **attrs))
        return outs

    def weight(self, key: str) -> str:
        return self.const(key, self.params[key].astype(np.float32))

    def plan(self, plan: Plan, prefix: str, h: str) -> str:
        for i, layer in enumerate(plan):
            key = f"{prefix}.{i}"
            if isinstance(layer, list):
                h = self.plan(layer, key, h)
                continue
            kind = layer[0]
            if kind == "residual":
                h = self.node("Add", [h, self.plan(layer[1], key, h)], "residual")
            elif kind == "relu":
                h = self.node("Relu", [h], "relu")
            elif kind == "tanh":
                h = self.node("Tanh", [h], "tanh")
            elif kind == "silu":
                h = self.node("Mul", [h, self.node("Sigmoid", [h], "sigmoid")], "silu")
            elif kind == "to_chw":
                shape = self.const("shape", np.array([-1, *layer[1]], dtype=np.int64))
                h = self.node("Transpose", [self.node("Reshape", [h, shape], "hwc")], "to_chw", perm=[0, 3, 1, 2])
            elif kind == "to_hwc":
                h = self.node("Flatten", [self.node("Transpose", [h], "hwc", perm=[0, 2, 3, 1])], "to_hwc", axis=1)
            elif kind == "groupnorm":  # InstanceNormalization over (B, groups, rest), then the per-channel affine
                groups, c = layer[1], layer[2]
                flat = self.node("Reshape", [h, self.const("groups", np.array([0, groups, -1], dtype=np.int64))], "g")
                ones, zeros = np.ones(groups, dtype=np.float32), np.zeros(groups, dtype=np.float32)
                normed = self.node(
                    "InstanceNormalization", [flat, self.const("one", ones), self.const("zero", zeros)], "in",
                    epsilon=1e-5,
                )  # fmt: skip
                h = self.node("Reshape", [normed, self.node("Shape", [h], "shape")], "gn")
                scale = self.const(key + ".weight", self.params[key + ".weight"].reshape(c, 1, 1).astype(np.float32))
                shift = self.const(key + ".bias", self.params[key + ".bias"].reshape(c, 1, 1).astype(np.float32))
                h = self.node("Add", [self.node("Mul", [h, scale], "scale"), shift], "groupnorm")
            elif kind == "flatten":
                h = self.node("Flatten", [h], "flatten", axis=1)
            elif kind == "unflatten":
                shape = self.const("shape", np.array([-1, *layer[1]], dtype=np.int64))
                h = self.node("Reshape", [h, shape], "unflatten")
            elif kind == "linear":
                h = self.node("Gemm", [h, self.weight(key + ".weight"), self.weight(key + ".bias")], "linear", transB=1)
            elif kind == "batchnorm":  # evaluation mode: running statistics, no affine part
                c = self.params[key + ".running_mean"].shape[0]
                one, zero = np.ones(c, dtype=np.float32), np.zeros(c, dtype=np.float32)
                stats = [self.weight(key + ".running_mean"), self.weight(key + ".running_var")]
                args = [h, self.const("one", one), self.const("zero", zero), *stats]
                h = self.node("BatchNormalization", args, "batchnorm", epsilon=1e-5)
            elif kind in ("conv3", "conv1"):
                k = 3 if kind == "conv3" else 1
                args = [h, self.weight(key + ".weight"), self.weight(key + ".bias")]
                h = self.node("Conv", args, kind, kernel_shape=[k, k], pads=[k // 2] * 4)
            else:  # conv / convT: 4x4 kernels, stride 2, padding 1
                op = "Conv" if kind == "conv" else "ConvTranspose"
                args = [h, self.weight(key + ".weight"), self.weight(key + ".bias")]
                h = self.node(op, args, kind, kernel_shape=[4, 4], strides=[2, 2], pads=[1, 1, 1, 1])
        return h

    def model(self, inputs: list[tuple], outputs: list[tuple], doc: str):
        """inputs: (name, shape[, int64]); outputs: (graph value, name, shape[, int64]); batch is symbolic."""
        from onnx import TensorProto, helper

        def info(name: str, shape, integer: bool = False):
            dtype = TensorProto.INT64 if integer else TensorProto.FLOAT
            return helper.make_tensor_value_info(name, dtype, ["batch", *shape])

        for value, name, *_ in outputs:
            self.nodes.append(helper.make_node("Identity", [value], [name], name=f"out_{name}"))
        graph = helper.make_graph(
            self.nodes, "vaekit", [info(*i) for i in inputs], [info(*o[1:]) for o in outputs], self.inits
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="vaekit")
        model.ir_version = 8  # readable by onnxruntime releases from 1.14 on
        model.doc_string = doc
        return model


def _i64(*v: int) -> np.ndarray:
    return np.array(v, dtype=np.int64)


def fsq_tokens(g: Graph, z: str, levels: tuple[int, ...]) -> str:
    """FSQ's tokens from (..., d) encoder outputs: the shifted tanh bound (as ``quantizers/fsq.py``, eps 1e-3),
    round half to even (as torch), mixed-radix digits."""
    lv = np.asarray(levels, dtype=np.float32)
    half = ((lv - 1) * (1 + 1e-3) / 2).astype(np.float32)
    offset = np.where(lv % 2 == 0, 0.5, 0.0).astype(np.float32)
    shift = np.arctanh(offset / half).astype(np.float32)
    basis = np.cumprod([1, *levels[:-1]]).astype(np.int64)
    t = g.node("Tanh", [g.node("Add", [z, g.const("shift", shift)], "s")], "t")
    bounded = g.node("Sub", [g.node("Mul", [t, g.const("half", half)], "m"), g.const("o", offset)], "b")
    digits = g.node("Add", [g.node("Round", [bounded], "r"), g.const("hw", (lv // 2).astype(np.float32))], "d")
    weighted = g.node("Mul", [g.node("Cast", [digits], "di", to=7), g.const("basis", basis)], "w")
    return g.node("ReduceSum", [weighted, g.const("ax", _i64(-1))], "tokens", keepdims=0)


def fsq_codes(g: Graph, tokens: str, levels: tuple[int, ...]) -> str:
    """FSQ's code vectors (..., d) in [-1, 1] from int64 tokens (...)."""
    lv = np.asarray(levels, dtype=np.int64)
    basis = np.cumprod([1, *levels[:-1]]).astype(np.int64)
    div = g.node("Div", [g.node("Unsqueeze", [tokens, g.const("ax", _i64(-1))], "u"), g.const("b", basis)], "q")
    digits = g.node("Cast", [g.node("Mod", [div, g.const("l", lv)], "digits")], "df", to=1)
    half = g.const("hw", (lv // 2).astype(np.float32))
    return g.node("Div", [g.node("Sub", [digits, half], "c"), half], "codes")


def nearest_tokens(g: Graph, z: str, codebook: np.ndarray, grid: tuple[int, ...]) -> str:
    """VQ's tokens: the nearest code (ArgMin over squared distances) of each (..., d) vector, shaped (B, *grid)."""
    d = codebook.shape[1]
    e = codebook.astype(np.float32)
    flat = g.node("Reshape", [z, g.const("flat", _i64(-1, d))], "flat")
    sq = g.node("ReduceSum", [g.node("Mul", [flat, flat], "sq"), g.const("ax", _i64(1))], "n2", keepdims=1)
    cross = g.node("MatMul", [flat, g.const("codebookT", e.T * -2.0)], "cross")
    dist = g.node("Add", [g.node("Add", [sq, cross], "dc"), g.const("e2", (e**2).sum(1))], "dist")
    idx = g.node("ArgMin", [dist], "argmin", axis=1, keepdims=0)
    return g.node("Reshape", [idx, g.const("grid", _i64(-1, *grid))], "idx")


def mean_image(g: Graph, likelihood: str, out: str) -> str:
    """The expected image from the decoder output: sigmoid of Bernoulli logits, or the Gaussian mean clipped."""
    if likelihood == "bernoulli":
        return g.node("Sigmoid", [out], "mean")
    lo, hi = g.const("lo", np.array(0.0, dtype=np.float32)), g.const("hi", np.array(1.0, dtype=np.float32))
    return g.node("Clip", [out, lo, hi], "mean")


def write_models(out_dir: Path, encoder, decoder) -> tuple[Path, Path]:
    import onnx

    paths = []
    for model, name in ((encoder, "encoder.onnx"), (decoder, "decoder.onnx")):
        onnx.checker.check_model(model, full_check=True)
        paths.append(atomic_write_bytes(out_dir / name, model.SerializeToString()))
    return paths[0], paths[1]
