import torch

from vaekit.config import GaussianConfig
from vaekit.models import GaussianVAE, build_model, count_params, mlp, preset_config


def test_classic_preset_is_784_400_20():
    model = build_model(preset_config("classic"))
    assert count_params(model) == (784 * 400 + 400) + (400 * 40 + 40) + (20 * 400 + 400) + (400 * 784 + 784)


def test_tiny_preset_is_under_300k():
    assert count_params(build_model(preset_config("tiny"))) < 300_000


def test_shapes_and_named_output():
    model = GaussianVAE(GaussianConfig(input_shape=(6, 5), hidden=(16, 8), latent_dim=3))
    out = model(torch.rand(4, 30))
    assert out.logits.shape == (4, 30) and out.mu.shape == (4, 3) and out.logvar.shape == (4, 3)
    assert out.z.shape == (4, 3)
    s = model.sample(7, generator=torch.Generator().manual_seed(0))
    assert s.shape == (7, 6, 5) and 0 <= s.min() and s.max() <= 1
    assert model.reconstruct(torch.rand(2, 30)).shape == (2, 6, 5)


def test_reparameterisation_moments():
    mu, logvar = torch.full((200_000, 1), 1.5), torch.full((200_000, 1), -1.0)
    z = GaussianVAE.reparameterize(mu, logvar, torch.Generator().manual_seed(0))
    assert abs(z.mean().item() - 1.5) < 0.01 and abs(z.var().item() - torch.exp(torch.tensor(-1.0)).item()) < 0.01


def test_encoder_and_decoder_are_swappable():
    cfg = GaussianConfig(input_shape=(4, 4), latent_dim=2)
    enc, dec = mlp([16, 4]), mlp([2, 16])
    model = GaussianVAE(cfg, encoder=enc, decoder=dec)
    assert model.encoder is enc and model(torch.rand(3, 16)).logits.shape == (3, 16)


def test_public_api_is_reexported():
    import vaekit

    for name in vaekit.__all__:
        assert getattr(vaekit, name) is not None


def test_the_checklist_model_is_under_300k_and_says_at_most_for_the_loss(tmp_path, blob_npz):
    import json

    from vaekit.measure.checklist import MAX_PARAMS, Check, tiny_checklist, tiny_config
    from vaekit.measure.checklist import checks as checks_of

    cfg = tiny_config()
    assert cfg.train.lr_schedule == "cosine" and cfg.model.arch == "conv" and cfg.model.net == "plain"
    checks = tiny_checklist(tmp_path / "tiny", epochs=1, progress=False, dataset=str(blob_npz))
    assert [c.name for c in checks][0] == "parameters" and checks[0].value < MAX_PARAMS
    # the checks read back from the finished run's summary.json (as benchmarks/tiny.py does) are the same
    summary = json.loads((tmp_path / "tiny" / "summary.json").read_text())
    assert [c.line() for c in checks_of(summary)] == [c.line() for c in checks]
    assert Check("loss", 100.0, 100.0, "nats", strict=False).passed and not Check("t", 300.0, 300.0, "s").passed
    assert "<= 100" in checks[-1].line()
