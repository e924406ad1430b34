"""ONNX export: the encoder and decoder graphs reproduce the PyTorch model in onnxruntime, for every variant."""

import numpy as np
import pytest
import torch

from conftest import GAUSSIAN_VARIANTS, saved_gaussian_run
from vaekit.checkpoint import save_config, save_model
from vaekit.config import ModelConfig, RunConfig
from vaekit.errors import ConfigError, RunError
from vaekit.models import build_model
from vaekit.onnx_export import export_onnx

ort = pytest.importorskip("onnxruntime")  # installed by the dev extra, so CI runs these


@pytest.mark.parametrize("name", GAUSSIAN_VARIANTS)
def test_onnx_matches_torch(tmp_path, name):
    model = saved_gaussian_run(tmp_path, **GAUSSIAN_VARIANTS[name]).eval()
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
    cfg = RunConfig(model=ModelConfig(kind="fsq", preset="fsq"))
    save_model(tmp_path, build_model(cfg.model), cfg)
    save_config(tmp_path, cfg)
    with pytest.raises(ConfigError, match="Gaussian VAEs"):
        export_onnx(tmp_path)
