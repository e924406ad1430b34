"""The lecture's dual-path encoder (dvae): the mix of paths A and B, the alpha ramp, the mask, path A alone after."""

import json

import pytest
import torch

from vaekit.config import GaussianConfig, RunConfig, load_json_config
from vaekit.errors import ConfigError
from vaekit.models import GaussianVAE
from vaekit.runs.checkpoint import load_model
from vaekit.training.loop import train


def _model(**kw) -> GaussianVAE:
    torch.manual_seed(0)
    return GaussianVAE(GaussianConfig(input_shape=(4, 4), hidden=(8,), latent_dim=3, encoder_paths="dvae", **kw))


def test_paths_mix_linearly_for_mu_and_logvar():
    model = _model()
    x = torch.rand(5, 16)
    keep = (torch.rand(5, 16, generator=torch.Generator().manual_seed(1)) > 0.3).float()
    a = model.encoder(x)  # (B, 2D) path A
    b = model.encoder_masked(x * keep)  # path B on the masked images
    for alpha in (0.0, 0.25, 0.7):
        mu, logvar = model.encode_mixed(x, keep, alpha)
        mix = alpha * a + (1 - alpha) * b
        torch.testing.assert_close(torch.cat([mu, logvar], 1), mix, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(torch.cat(model.encode_mixed(x, keep, 1.0), 1), a)
    torch.testing.assert_close(torch.cat(model.encode(x), 1), a)  # outside training: path A alone
    assert not torch.equal(a, b)  # two networks, not one


def test_training_ramps_alpha_by_epoch_and_masks_at_the_rate(tmp_path, blob_npz, monkeypatch):
    seen: list[tuple[float, float]] = []
    mixed = GaussianVAE.encode_mixed

    def spy(self, x, keep, alpha):
        seen.append((alpha, keep.mean().item()))
        return mixed(self, x, keep, alpha)

    monkeypatch.setattr(GaussianVAE, "encode_mixed", spy)
    cfg = RunConfig(model=GaussianConfig(preset="test", hidden=(16,), latent_dim=3, encoder_paths="dvae", dvae_ramp=2))
    cfg.data.dataset, cfg.train.epochs, cfg.train.batch_size, cfg.train.device = str(blob_npz), 3, 64, "cpu"
    cfg.train.precision = "fp32"
    result = train(cfg, tmp_path / "run", progress=False)
    assert result.summary["engine"]["step"] == "autograd"
    steps = len(seen) // 3
    assert [a for a, _ in seen] == [0.0] * steps + [0.5] * steps + [1.0] * steps  # alpha = min(1, epoch / 2)
    kept = sum(k for _, k in seen) / len(seen)
    assert kept == pytest.approx(0.7, abs=0.02)  # each pixel dropped with probability 0.3

    model, saved = load_model(tmp_path / "run")  # path B is saved (a resumed run needs it)
    assert saved.model.encoder_paths == "dvae" and model.encoder_masked is not None
    x = torch.rand(4, 64)
    torch.testing.assert_close(torch.cat(model.encode(x), 1), model.encoder(x))


def test_dvae_and_renamed_settings_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="dvae_mask"):
        RunConfig(model=GaussianConfig(encoder_paths="dvae", dvae_mask=1.0)).validate()
    with pytest.raises(ConfigError, match="learned posterior sigma"):
        RunConfig(model=GaussianConfig(encoder_paths="dvae", posterior_sigma=0.5)).validate()
    with pytest.raises(ConfigError, match="now called split"):
        RunConfig(model=GaussianConfig(encoder_paths="dual")).validate()
    # a run written when split heads were called dual still opens
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model": {"encoder_paths": "dual", "net": "resnet"}}))
    assert load_json_config(path).model.encoder_paths == "split"
