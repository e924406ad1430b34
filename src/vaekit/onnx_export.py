"""`vaekit export RUN`: a Gaussian VAE's encoder and decoder as two ONNX models.

The graphs are written from the same layer plans the PyTorch model is built from (``vaekit.arch``): one ONNX
node per layer (Gemm, Relu, Conv, ConvTranspose, Reshape, Flatten), the weights from ``model.safetensors`` as
initializers, and a free batch dimension. No tracing and no torch exporter is involved, so the export is
the same on every torch version and needs only the ``onnx`` package (``pip install 'vaekit[onnx]'``).

    encoder.onnx   x (B, P) floats in [0, 1]  ->  mu (B, D), logvar (B, D)
    decoder.onnx   z (B, D)                   ->  logits (B, P) (the decoder's raw output), mean (B, P) in [0, 1]

The tests run both in onnxruntime against the PyTorch model, for every variant.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ._io import atomic_write_bytes
from .arch import Plan
from .errors import ConfigError
from .portable import NumpyVAE, _load_run

OPSET = 17


class _Graph:
    """Collects nodes and initializers; ``emit`` returns fresh value names."""

    def __init__(self, params: dict[str, np.ndarray]):
        self.params, self.nodes, self.inits, self._n = params, [], [], 0

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

    def weight(self, key: str) -> str:
        return self.const(key, self.params[key].astype(np.float32))

    def plan(self, plan: Plan, prefix: str, h: str) -> str:
        for i, layer in enumerate(plan):
            key = f"{prefix}.{i}"
            if isinstance(layer, list):
                h = self.plan(layer, key, h)
                continue
            kind = layer[0]
            if kind == "relu":
                h = self.node("Relu", [h], "relu")
            elif kind == "flatten":
                h = self.node("Flatten", [h], "flatten", axis=1)
            elif kind == "unflatten":
                shape = self.const("shape", np.array([-1, *layer[1]], dtype=np.int64))
                h = self.node("Reshape", [h, shape], "unflatten")
            elif kind == "linear":
                h = self.node("Gemm", [h, self.weight(key + ".weight"), self.weight(key + ".bias")], "linear", transB=1)
            else:  # conv / convT: 4x4 kernels, stride 2, padding 1
                op = "Conv" if kind == "conv" else "ConvTranspose"
                args = [h, self.weight(key + ".weight"), self.weight(key + ".bias")]
                h = self.node(op, args, kind, kernel_shape=[4, 4], strides=[2, 2], pads=[1, 1, 1, 1])
        return h

    def model(self, inputs: list[tuple[str, int]], outputs: list[tuple[str, str, int]], doc: str):
        """inputs: (name, width); outputs: (graph value, output name, width); batch is symbolic."""
        from onnx import TensorProto, helper

        for value, name, _ in outputs:
            self.nodes.append(helper.make_node("Identity", [value], [name], name=f"out_{name}"))
        graph = helper.make_graph(
            self.nodes,
            "vaekit",
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", w]) for n, w in inputs],
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", w]) for _, n, w in outputs],
            self.inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="vaekit")
        model.ir_version = 8  # readable by onnxruntime releases from 1.14 on
        model.doc_string = doc
        return model


def export_onnx(run_dir: str | Path, out_dir: str | Path | None = None) -> tuple[Path, Path]:
    """Write ``encoder.onnx`` and ``decoder.onnx`` for a Gaussian-VAE run; returns their paths."""
    try:
        import onnx
    except ImportError:
        raise ConfigError("ONNX export needs the onnx package: pip install 'vaekit[onnx]'") from None
    cfg, params = _load_run(run_dir)
    if cfg.kind != "gaussian":
        raise ConfigError(f"ONNX export covers Gaussian VAEs; this run is a {cfg.kind} tokenizer")
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
        mu = g.plan(enc.mu, "encoder.mu_net", "x")
        if enc.fixed_logvar is not None:
            shape = g.node("Shape", [mu], "shape")
            fill = onnx.numpy_helper.from_array(np.array([enc.fixed_logvar], dtype=np.float32))
            logvar = g.node("ConstantOfShape", [shape], "logvar", value=fill)
        else:
            logvar = g.plan(enc.logvar, "encoder.logvar_net", "x")
    encoder = g.model([("x", p)], [(mu, "mu", d), (logvar, "logvar", d)], doc + ": encoder")

    g = _Graph(vae.params)
    logits = g.plan(vae.decoder, "decoder", "z")
    if cfg.likelihood == "bernoulli":
        mean = g.node("Sigmoid", [logits], "mean")
    else:
        lo, hi = g.const("lo", np.array(0.0, dtype=np.float32)), g.const("hi", np.array(1.0, dtype=np.float32))
        mean = g.node("Clip", [logits, lo, hi], "mean")
    decoder = g.model([("z", d)], [(logits, "logits", p), (mean, "mean", p)], doc + ": decoder")

    paths = []
    for model, name in ((encoder, "encoder.onnx"), (decoder, "decoder.onnx")):
        onnx.checker.check_model(model, full_check=True)
        paths.append(atomic_write_bytes(out_dir / name, model.SerializeToString()))
    return paths[0], paths[1]
