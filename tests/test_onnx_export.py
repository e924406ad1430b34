"""ONNX export: the encoder and decoder graphs reproduce the PyTorch model in onnxruntime, for every variant."""

import numpy as np
import pytest
import torch

from conftest import GAUSSIAN_VARIANTS, saved_run
from vaekit.errors import RunError
from vaekit.export.onnx import export_onnx

ort = pytest.importorskip("onnxruntime")  # installed by the dev extra, so CI runs these


@pytest.mark.parametrize("name", GAUSSIAN_VARIANTS)
def test_onnx_matches_torch(tmp_path, name):
    model = saved_run(tmp_path, **GAUSSIAN_VARIANTS[name]).eval()
    enc_path, dec_path = export_onnx(tmp_path, tmp_path / "onnx")
    enc, dec = (ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (enc_path, dec_path))
    for batch in (1, 5):  # the batch dimension is free
        x = torch.rand(batch, 96, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            mu, logvar = model.encode(x)
            logits = model.decode(mu)
            mean = model.mean_image(logits).reshape(batch, -1)
        got_mu, got_logvar = enc.run(["mu", "logvar"], {"x": x.numpy()})
        np.testing.assert_allclose(got_mu, mu.numpy(), atol=1e-5, rtol=1e-4)
        np.testing.assert_allclose(got_logvar, logvar.numpy(), atol=1e-5, rtol=1e-4)
        got_logits, got_mean = dec.run(["logits", "mean"], {"z": mu.numpy()})
        np.testing.assert_allclose(got_logits, logits.numpy(), atol=1e-4, rtol=1e-4)
        np.testing.assert_allclose(got_mean, mean.numpy(), atol=1e-5, rtol=1e-4)


def test_export_refuses_what_is_not_a_gaussian_run(tmp_path):
    with pytest.raises(RunError, match="no config.json"):
        export_onnx(tmp_path)


@pytest.mark.parametrize("kind", ["vq", "fsq", "mgvq"])
def test_tokenizer_onnx_matches_torch(tmp_path, kind):
    model = saved_run(tmp_path, kind=kind)
    enc_path, dec_path = export_onnx(tmp_path)
    enc, dec = (ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (enc_path, dec_path))
    x = torch.rand(5, 96, generator=torch.Generator().manual_seed(1))
    want = model.eval().tokenize(x)
    (tokens,) = enc.run(["tokens"], {"x": x.numpy()})
    assert tokens.dtype == np.int64 and (tokens == want.numpy()).all()
    _, mean = dec.run(["logits", "mean"], {"tokens": tokens})
    np.testing.assert_allclose(mean.reshape(5, 8, 12), model.detokenize(want).numpy(), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("quantizer", ["vq", "fsq"])
def test_titok_onnx_matches_torch(tmp_path, quantizer):
    """Both ViTs as ONNX graphs (export/onnx_titok.py): the same tokens, the same decoded images."""
    model = saved_run(tmp_path, kind="titok", token_quantizer=quantizer)
    enc_path, dec_path = export_onnx(tmp_path)
    enc, dec = (ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (enc_path, dec_path))
    x = torch.rand(5, 96, generator=torch.Generator().manual_seed(1))
    want = model.eval().tokenize(x)
    (tokens,) = enc.run(["tokens"], {"x": x.numpy()})
    assert tokens.shape == (5, 16) and tokens.dtype == np.int64 and (tokens == want.numpy()).all()
    logits, mean = dec.run(["logits", "mean"], {"tokens": tokens})
    with torch.no_grad():
        ref = model.decode(model.codes(want))
    np.testing.assert_allclose(logits, ref.numpy(), atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(mean.reshape(5, 8, 12), model.detokenize(want).numpy(), atol=1e-5, rtol=1e-4)
