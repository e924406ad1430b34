"""`vaekit export` for a TiTok run (models/titok.py): the two ViTs as ONNX graphs, written node by node like the
rest of ``onnx.py`` (no tracing, no torch exporter).

    encoder.onnx   x (B, P) floats in [0, 1]  ->  tokens (B, K) int64 (cosine-nearest code, or FSQ digits)
    decoder.onnx   tokens (B, K) int64        ->  logits (B, P), mean (B, P) in [0, 1]

A transformer block (models/titok.py's ``Block``, PyTorch's ``TransformerEncoderLayer`` with ``norm_first``):
x + SelfAttention(LN1(x)), then x + Linear(GELU(Linear(LN2(x)))); attention is softmax(q k^T / sqrt(d_head)) v
per head, GELU the exact (erf) form. The tests run both graphs in onnxruntime against the PyTorch model.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..config import TiTokConfig
from .onnx_graph import Graph, fsq_codes, fsq_tokens, mean_image, write_models


def _i64(*v: int) -> np.ndarray:
    return np.array(v, dtype=np.int64)


def _f32(v) -> np.ndarray:
    return np.asarray(v, dtype=np.float32)


def _linear(g: Graph, h: str, key: str) -> str:
    """(..., in) @ W^T + b for the Linear ``key``."""
    w = g.const(key + ".weightT", _f32(g.params[key + ".weight"].T))
    return g.node("Add", [g.node("MatMul", [h, w], "mm"), g.weight(key + ".bias")], "linear")


def _layer_norm(g: Graph, h: str, key: str) -> str:
    return g.node("LayerNormalization", [h, g.weight(key + ".weight"), g.weight(key + ".bias")], "ln", axis=-1,
                  epsilon=1e-5)  # fmt: skip


def _block(g: Graph, h: str, key: str, width: int, heads: int) -> str:
    """One pre-norm transformer block on (B, S, width)."""
    dh = width // heads
    x = _layer_norm(g, h, key + ".norm1")
    w_in = g.params[key + ".self_attn.in_proj_weight"]  # (3 width, width): q, k, v stacked
    b_in = g.params[key + ".self_attn.in_proj_bias"]
    split = []
    for i in range(3):
        part = g.node("MatMul", [x, g.const("w", _f32(w_in[i * width : (i + 1) * width].T))], "proj")
        part = g.node("Add", [part, g.const("b", _f32(b_in[i * width : (i + 1) * width]))], "proj_b")
        heads_view = g.node("Reshape", [part, g.const("heads", _i64(0, 0, heads, dh))], "split")
        split.append(g.node("Transpose", [heads_view], "bhsd", perm=[0, 2, 1, 3]))  # (B, H, S, dh)
    q, k, v = split
    kt = g.node("Transpose", [k], "kt", perm=[0, 1, 3, 2])
    scores = g.node("Mul", [g.node("MatMul", [q, kt], "qk"), g.const("scale", _f32(1 / math.sqrt(dh)))], "scores")
    ctx = g.node("MatMul", [g.node("Softmax", [scores], "attn", axis=-1), v], "ctx")  # (B, H, S, dh)
    ctx = g.node("Reshape", [g.node("Transpose", [ctx], "bshd", perm=[0, 2, 1, 3]), g.const("m", _i64(0, 0, width))],
                 "merge")  # fmt: skip
    h = g.node("Add", [h, _linear(g, ctx, key + ".self_attn.out_proj")], "res1")
    f = _linear(g, _layer_norm(g, h, key + ".norm2"), key + ".linear1")
    erf = g.node("Erf", [g.node("Mul", [f, g.const("r2", _f32(1 / math.sqrt(2)))], "s")], "erf")
    gelu = g.node("Mul", [g.node("Mul", [f, g.const("half", _f32(0.5))], "hf"),
                          g.node("Add", [erf, g.const("one", _f32(1.0))], "e1")], "gelu")  # fmt: skip
    return g.node("Add", [h, _linear(g, gelu, key + ".linear2")], "res2")


def _vit(g: Graph, h: str, prefix: str, cfg: TiTokConfig) -> str:
    for i in range(cfg.depth):
        h = _block(g, h, f"{prefix}.blocks.layers.{i}", cfg.width, cfg.heads)
    return _layer_norm(g, h, prefix + ".norm")


def _batch_of(g: Graph, like: str, rows: np.ndarray) -> str:
    """The constant (S, width) ``rows`` repeated for every image of ``like``'s batch: (B, S, width)."""
    batch = g.node("Slice", [g.node("Shape", [like], "shape"), g.const("s", _i64(0)), g.const("e", _i64(1))], "b")
    shape = g.node("Concat", [batch, g.const("rest", _i64(*rows.shape))], "bshape", axis=0)
    return g.node("Expand", [g.const("rows", _f32(rows)), shape], "expand")


def export_titok(cfg: TiTokConfig, params: dict[str, np.ndarray], out_dir: Path) -> tuple[Path, Path]:
    (h, w), p = cfg.input_shape[:2], math.prod(cfg.input_shape)
    c = cfg.input_shape[2] if len(cfg.input_shape) == 3 else 1
    ps, k = cfg.patch, cfg.tokens
    hp, wp = h // ps, w // ps
    n = hp * wp
    doc = f"vaekit titok, {k} tokens, images {tuple(cfg.input_shape)}"
    fsq = cfg.token_quantizer == "fsq"
    if not fsq:
        e = params["quantizer.codebook"]
        codebook = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)  # F.normalize

    g = Graph(params)
    img = g.node("Reshape", ["x", g.const("shape", _i64(-1, hp, ps, wp, ps, c))], "img")
    patches = g.node("Transpose", [img], "patches", perm=[0, 1, 3, 2, 4, 5])
    patches = g.node("Reshape", [patches, g.const("flat", _i64(-1, n, ps * ps * c))], "rows")  # (B, N, p*p*C)
    emb = g.node("Add", [_linear(g, patches, "patch_embed"), g.weight("patch_pos")], "emb")
    latents = _batch_of(g, "x", params["latent_tokens"] + params["latent_pos"])  # (B, K, width)
    out = _vit(g, g.node("Concat", [emb, latents], "seq", axis=1), "encoder", cfg)
    last = g.node("Slice", [out, g.const("s", _i64(n)), g.const("e", _i64(n + k)), g.const("ax", _i64(1))], "lat")
    z = _linear(g, last, "to_code")  # (B, K, D)
    if fsq:
        tokens = fsq_tokens(g, z, cfg.levels)
    else:  # unit vectors: the nearest code is the one of largest cosine
        sims = g.node("MatMul", [z, g.const("codebookT", _f32(codebook.T))], "sims")
        tokens = g.node("ArgMax", [sims], "tokens", axis=-1, keepdims=0)
    encoder = g.model([("x", [p])], [(tokens, "tokens", [k], True)], doc + ": encoder")

    g = Graph(params)
    if fsq:
        codes = fsq_codes(g, "tokens", cfg.levels)
    else:
        codes = g.node("Gather", [g.const("codebook", _f32(codebook)), "tokens"], "codes", axis=0)  # (B, K, D)
    toks = g.node("Add", [_linear(g, codes, "from_code"), g.weight("decoder_latent_pos")], "toks")
    masks = _batch_of(g, "tokens", params["mask_token"][None] + params["decoder_patch_pos"])  # (B, N, width)
    out = _vit(g, g.node("Concat", [masks, toks], "seq", axis=1), "decoder", cfg)
    first = g.node("Slice", [out, g.const("s", _i64(0)), g.const("e", _i64(n)), g.const("ax", _i64(1))], "masks")
    pix = _linear(g, first, "to_pixels")  # (B, N, p*p*C)
    pix = g.node("Reshape", [pix, g.const("shape", _i64(-1, hp, wp, ps, ps, c))], "pix")
    img = g.node("Transpose", [pix], "img", perm=[0, 1, 3, 2, 4, 5])
    logits = g.node("Reshape", [img, g.const("flat", _i64(-1, p))], "logits")
    mean = mean_image(g, cfg.likelihood, logits)
    decoder = g.model([("tokens", [k], True)], [(logits, "logits", [p]), (mean, "mean", [p])], doc + ": decoder")
    return write_models(out_dir, encoder, decoder)
