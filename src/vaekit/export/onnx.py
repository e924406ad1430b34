"""`vaekit export RUN`: a model's encoder and decoder as two ONNX models (Gaussian VAEs and tokenizers).

The graphs are written from the same layer plans the PyTorch model is built from (``vaekit.arch``): one ONNX
node (or a few) per layer (Gemm, Relu, Conv, ConvTranspose, Reshape, Flatten; SiLU as x * Sigmoid(x), group
norm as InstanceNormalization over the groups and a per-channel scale and shift), the weights from
``model.safetensors`` as initializers, and a free batch dimension. No tracing and no torch exporter is
involved, so the export is the same on every torch version and needs only the ``onnx`` package
(``pip install 'vaekit[onnx]'``).

    Gaussian VAE   encoder.onnx   x (B, P) floats in [0, 1]  ->  mu (B, D), logvar (B, D)
                   decoder.onnx   z (B, D)  ->  logits (B, P) (the decoder's raw output), mean (B, P) in [0, 1]
    tokenizer      encoder.onnx   x (B, P)  ->  tokens (B, h, w) int64 ((B, h, w, G) for mgvq): nearest code
                                  (ArgMin over squared distances) or FSQ's bounded, rounded digits
                   decoder.onnx   tokens    ->  logits (B, P), mean (B, P) in [0, 1]

The tests run both in onnxruntime against the PyTorch model, for every variant.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write_bytes
from ..arch import Plan, downsample_factor
from ..config import TiTokConfig
from ..errors import ConfigError
from .portable import NumpyTokenizer, NumpyVAE, read_run

OPSET = 17


class _Graph:
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


def export_onnx(run_dir: str | Path, out_dir: str | Path | None = None) -> tuple[Path, Path]:
    """Write ``encoder.onnx`` and ``decoder.onnx`` for a run (Gaussian VAE or tokenizer); returns their paths."""
    try:
        import onnx
    except ImportError:
        raise ConfigError("ONNX export needs the onnx package: pip install 'vaekit[onnx]'") from None
    cfg, params = read_run(run_dir)
    if isinstance(cfg, TiTokConfig):
        from .onnx_titok import export_titok

        return export_titok(cfg, params, Path(out_dir) if out_dir is not None else Path(run_dir))
    if cfg.kind != "gaussian":
        return _export_tokenizer(NumpyTokenizer(cfg, params), Path(out_dir) if out_dir is not None else Path(run_dir))
    vae = NumpyVAE(cfg, params)
    cfg, d, p = vae.cfg, vae.cfg.latent_dim, math.prod(vae.cfg.input_shape)
    out_dir = Path(out_dir) if out_dir is not None else Path(run_dir)
    doc = f"vaekit {cfg.preset} VAE ({cfg.arch}, {cfg.likelihood} likelihood), images {tuple(cfg.input_shape)}"

    g = _Graph(vae.params)
    enc = vae.encoder
    if enc.joint is not None:
        h = g.plan(enc.joint, "encoder", "x")
        axes = g.const("axes", np.array([1], dtype=np.int64))
        bounds = [g.const("b", np.array([v], dtype=np.int64)) for v in (0, d, 2 * d)]
        mu = g.node("Slice", [h, bounds[0], bounds[1], axes], "mu")
        logvar = g.node("Slice", [h, bounds[1], bounds[2], axes], "logvar")
    else:
        assert enc.mu is not None  # an encoder plan is joint, or has a mu network
        mu = g.plan(enc.mu, "encoder.mu_net", "x")
        if enc.fixed_logvar is not None:
            shape = g.node("Shape", [mu], "shape")
            fill = onnx.numpy_helper.from_array(np.array([enc.fixed_logvar], dtype=np.float32))
            logvar = g.node("ConstantOfShape", [shape], "logvar", value=fill)
        else:
            assert enc.logvar is not None
            logvar = g.plan(enc.logvar, "encoder.logvar_net", "x")
    encoder = g.model([("x", [p])], [(mu, "mu", [d]), (logvar, "logvar", [d])], doc + ": encoder")

    g = _Graph(vae.params)
    logits = g.plan(vae.decoder, "decoder", "z")
    mean = _mean(g, cfg.likelihood, logits)
    decoder = g.model([("z", [d])], [(logits, "logits", [p]), (mean, "mean", [p])], doc + ": decoder")
    return _write(out_dir, encoder, decoder)


def _mean(g: _Graph, likelihood: str, out: str) -> str:
    """The expected image from the decoder output: sigmoid of Bernoulli logits, or the Gaussian mean clipped."""
    if likelihood == "bernoulli":
        return g.node("Sigmoid", [out], "mean")
    lo, hi = g.const("lo", np.array(0.0, dtype=np.float32)), g.const("hi", np.array(1.0, dtype=np.float32))
    return g.node("Clip", [out, lo, hi], "mean")


def _write(out_dir: Path, encoder, decoder) -> tuple[Path, Path]:
    import onnx

    paths = []
    for model, name in ((encoder, "encoder.onnx"), (decoder, "decoder.onnx")):
        onnx.checker.check_model(model, full_check=True)
        paths.append(atomic_write_bytes(out_dir / name, model.SerializeToString()))
    return paths[0], paths[1]


def _export_tokenizer(tok: NumpyTokenizer, out_dir: Path) -> tuple[Path, Path]:
    """encoder.onnx: x (B, P) -> tokens (B, h, w[, G]) int64; decoder.onnx: tokens -> logits, mean (B, P)."""
    cfg = tok.cfg
    (h, w, c), p = tok.hwc, math.prod(cfg.input_shape)
    f = downsample_factor(cfg)
    hh, ww = h // f, w // f
    grouped = cfg.kind == "mgvq"
    token_shape = [hh, ww, cfg.groups] if grouped else [hh, ww]
    doc = f"vaekit {cfg.kind} tokenizer, images {tuple(cfg.input_shape)}, {tok.codebook_size} codes"
    i64 = lambda *v: np.array(v, dtype=np.int64)  # noqa: E731
    f32 = lambda v: np.asarray(v, dtype=np.float32)  # noqa: E731

    g = _Graph(tok.params)
    hwc = g.node("Reshape", ["x", g.const("shape", i64(-1, h, w, c))], "hwc")
    img = g.node("Transpose", [hwc], "image", perm=[0, 3, 1, 2])  # (B, C, H, W)
    z = g.node("Transpose", [g.plan(tok.encoder, "encoder", img)], "z", perm=[0, 2, 3, 1])  # (B, h, w, d)
    if cfg.kind == "fsq":  # shifted tanh bound, round half to even (as torch), mixed-radix digits
        t = g.node("Tanh", [g.node("Add", [z, g.const("shift", tok.fsq_shift)], "s")], "t")
        bounded = g.node(
            "Sub", [g.node("Mul", [t, g.const("half", tok.fsq_half)], "m"), g.const("o", tok.fsq_offset)], "b"
        )
        digits = g.node("Add", [g.node("Round", [bounded], "r"), g.const("hw", f32(tok.levels // 2))], "d")
        weighted = g.node("Mul", [g.node("Cast", [digits], "di", to=7), g.const("basis", tok.basis)], "w")
        tokens = g.node("ReduceSum", [weighted, g.const("ax", i64(-1))], "tokens", keepdims=0)
    else:
        d = cfg.code_dim // len(tok.codebooks)
        parts = (
            g.node_multi("Split", [z, g.const("sizes", i64(*[d] * len(tok.codebooks)))], len(tok.codebooks), axis=-1)
            if grouped
            else [z]
        )
        picked = []
        for e, part in zip(tok.codebooks, parts, strict=True):
            flat = g.node("Reshape", [part, g.const("flat", i64(-1, d))], "flat")
            sq = g.node("ReduceSum", [g.node("Mul", [flat, flat], "sq"), g.const("ax", i64(1))], "n2", keepdims=1)
            cross = g.node("MatMul", [flat, g.const("codebookT", f32(e.T) * -2.0)], "cross")
            dist = g.node("Add", [g.node("Add", [sq, cross], "dc"), g.const("e2", f32((e**2).sum(1)))], "dist")
            idx = g.node("ArgMin", [dist], "argmin", axis=1, keepdims=0)
            picked.append(g.node("Reshape", [idx, g.const("grid", i64(-1, hh, ww))], "idx"))
        tokens = (
            g.node("Concat", [g.node("Unsqueeze", [t, g.const("ax", i64(-1))], "u") for t in picked], "tokens", axis=-1)
            if grouped
            else picked[0]
        )
    encoder = g.model([("x", [p])], [(tokens, "tokens", token_shape, True)], doc + ": encoder")

    g = _Graph(tok.params)
    if cfg.kind == "fsq":
        levels = tok.levels.astype(np.int64)
        div = g.node(
            "Div", [g.node("Unsqueeze", ["tokens", g.const("ax", i64(-1))], "u"), g.const("b", tok.basis)], "q"
        )
        digits = g.node("Cast", [g.node("Mod", [div, g.const("l", levels)], "digits")], "df", to=1)
        half = g.const("hw", f32(tok.levels // 2))
        codes = g.node("Div", [g.node("Sub", [digits, half], "c"), half], "codes")
    elif grouped:
        cols = [g.node("Gather", ["tokens", g.const("g", np.array(k, dtype=np.int64))], "col", axis=-1)
                for k in range(cfg.groups)]  # fmt: skip
        looks = [
            g.node("Gather", [g.const("codebook", f32(e)), c], "look", axis=0)
            for e, c in zip(tok.codebooks, cols, strict=True)
        ]
        codes = g.node("Concat", looks, "codes", axis=-1)
    else:
        codes = g.node("Gather", [g.const("codebook", f32(tok.codebooks[0])), "tokens"], "codes", axis=0)
    grid = g.node("Transpose", [codes], "grid", perm=[0, 3, 1, 2])  # (B, d, h, w)
    out = g.node("Transpose", [g.plan(tok.decoder, "decoder", grid)], "out", perm=[0, 2, 3, 1])  # (B, H, W, C)
    logits = g.node("Reshape", [out, g.const("shape", i64(-1, p))], "logits")
    mean = _mean(g, cfg.likelihood, logits)
    decoder = g.model(
        [("tokens", token_shape, True)], [(logits, "logits", [p]), (mean, "mean", [p])], doc + ": decoder"
    )
    return _write(out_dir, encoder, decoder)
