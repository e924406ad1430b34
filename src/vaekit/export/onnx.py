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
    TiTok          the same with tokens (B, K) (``onnx_titok.py``)
    video          the same with clips (B, P) and tokens (B, t', h, w) (``onnx_video.py``)

The tests run both in onnxruntime against the PyTorch model, for every variant.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..arch import downsample_factor
from ..config import TiTokConfig, TokenizerConfig, VideoConfig
from ..errors import ConfigError
from .onnx_graph import Graph, fsq_codes, fsq_tokens, mean_image, nearest_tokens, write_models
from .portable import NumpyTokenizer, NumpyVAE, read_run


def export_onnx(run_dir: str | Path, out_dir: str | Path | None = None) -> tuple[Path, Path]:
    """Write ``encoder.onnx`` and ``decoder.onnx`` for a run (Gaussian VAE or tokenizer); returns their paths."""
    try:
        import onnx
    except ImportError:
        raise ConfigError("ONNX export needs the onnx package: pip install 'vaekit[onnx]'") from None
    cfg, params = read_run(run_dir)
    if isinstance(cfg, TokenizerConfig) and cfg.mgvq_paper:
        raise ConfigError("vaekit export does not write nested / unequal multi-group VQ yet; these runs open, "
                          "evaluate and decode in vaekit")  # fmt: skip
    if isinstance(cfg, VideoConfig):
        import torch

        from ..models.video import VideoTokenizer
        from ..runs.checkpoint import load_model
        from .onnx_video import export_video

        model, _ = load_model(run_dir, torch.device("cpu"))
        assert isinstance(model, VideoTokenizer)
        return export_video(model, Path(out_dir) if out_dir is not None else Path(run_dir))
    if isinstance(cfg, TiTokConfig):
        from .onnx_titok import export_titok

        return export_titok(cfg, params, Path(out_dir) if out_dir is not None else Path(run_dir))
    if cfg.kind != "gaussian":
        return _export_tokenizer(NumpyTokenizer(cfg, params), Path(out_dir) if out_dir is not None else Path(run_dir))
    vae = NumpyVAE(cfg, params)
    cfg, d, p = vae.cfg, vae.cfg.latent_dim, math.prod(vae.cfg.input_shape)
    out_dir = Path(out_dir) if out_dir is not None else Path(run_dir)
    doc = f"vaekit {cfg.preset} VAE ({cfg.arch}, {cfg.likelihood} likelihood), images {tuple(cfg.input_shape)}"

    g = Graph(vae.params)
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

    g = Graph(vae.params)
    logits = g.plan(vae.decoder, "decoder", "z")
    mean = mean_image(g, cfg.likelihood, logits)
    decoder = g.model([("z", [d])], [(logits, "logits", [p]), (mean, "mean", [p])], doc + ": decoder")
    return write_models(out_dir, encoder, decoder)


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

    g = Graph(tok.params)
    hwc = g.node("Reshape", ["x", g.const("shape", i64(-1, h, w, c))], "hwc")
    img = g.node("Transpose", [hwc], "image", perm=[0, 3, 1, 2])  # (B, C, H, W)
    z = g.node("Transpose", [g.plan(tok.encoder, "encoder", img)], "z", perm=[0, 2, 3, 1])  # (B, h, w, d)
    if cfg.kind == "fsq":
        tokens = fsq_tokens(g, z, cfg.levels)
    else:
        d = cfg.code_dim // len(tok.codebooks)
        parts = (
            g.node_multi("Split", [z, g.const("sizes", i64(*[d] * len(tok.codebooks)))], len(tok.codebooks), axis=-1)
            if grouped
            else [z]
        )
        picked = [nearest_tokens(g, part, e, (hh, ww)) for e, part in zip(tok.codebooks, parts, strict=True)]
        tokens = (
            g.node("Concat", [g.node("Unsqueeze", [t, g.const("ax", i64(-1))], "u") for t in picked], "tokens", axis=-1)
            if grouped
            else picked[0]
        )
    encoder = g.model([("x", [p])], [(tokens, "tokens", token_shape, True)], doc + ": encoder")

    g = Graph(tok.params)
    if cfg.kind == "fsq":
        codes = fsq_codes(g, "tokens", cfg.levels)
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
    mean = mean_image(g, cfg.likelihood, logits)
    decoder = g.model(
        [("tokens", token_shape, True)], [(logits, "logits", [p]), (mean, "mean", [p])], doc + ": decoder"
    )
    return write_models(out_dir, encoder, decoder)
