"""Gaussian VAE variants: conv encoder/decoder, split mu/logvar networks, the dvae encoder, tanh, fixed sigma."""

import math

import pytest
import torch

from vaekit.config import GaussianConfig, RunConfig
from vaekit.errors import ConfigError
from vaekit.losses import vae_loss
from vaekit.models import GaussianVAE, build_model, count_params, preset_config
from vaekit.runs.checkpoint import load_model
from vaekit.training.loop import Trainer, train
from vaekit.training.step import supports


def test_plain_conv_layout_shapes_and_size():
    model = build_model(preset_config("conv", net="plain"))
    out = model(torch.rand(5, 784))
    assert out.logits.shape == (5, 784) and out.mu.shape == (5, 20) and out.logvar.shape == (5, 20)
    convs = (1 * 32 * 16 + 32) + (32 * 64 * 16 + 64) + (64 * 32 * 16 + 32) + (32 * 1 * 16 + 1)
    dense = (64 * 7 * 7 * 40 + 40) + (20 * 64 * 7 * 7 + 64 * 7 * 7)
    assert count_params(model) == convs + dense
    assert not supports(model)  # the fused step is MLP-only; training falls back to autograd


def test_conv_needs_sides_divisible_by_the_downsampling():
    with pytest.raises(ConfigError, match="divisible by 4"):
        GaussianVAE(GaussianConfig(arch="conv", input_shape=(10, 10), hidden=()))
    with pytest.raises(ConfigError, match=r"divisible by 8, got 28x28; pass --downsample 4"):
        GaussianVAE(GaussianConfig(arch="conv", input_shape=(28, 28), downsample=8))
    with pytest.raises(ConfigError, match="plain conv layout reads greyscale"):
        GaussianVAE(GaussianConfig(arch="conv", net="plain", input_shape=(8, 8, 3)))


def test_split_heads_keep_mu_and_logvar_networks_apart():
    torch.manual_seed(0)
    model = GaussianVAE(GaussianConfig(input_shape=(4, 4), hidden=(8,), latent_dim=3, encoder_paths="split"))
    assert count_params(model.encoder) == 2 * ((16 * 8 + 8) + (8 * 3 + 3))
    mu, logvar = model.encode(torch.rand(6, 16))
    logvar.sum().backward()
    assert all(p.grad is None or not p.grad.any() for p in model.encoder.mu_net.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.logvar_net.parameters())
    assert mu.shape == logvar.shape == (6, 3)


def test_fixed_posterior_sigma_learns_the_mean_only():
    torch.manual_seed(0)
    model = GaussianVAE(GaussianConfig(input_shape=(4, 4), hidden=(8,), latent_dim=3, posterior_sigma=0.5))
    x = torch.rand(6, 16)
    out = model(x, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(out.logvar, torch.full((6, 3), 2 * math.log(0.5)))
    assert torch.allclose(out.z.sub(out.mu).std(), torch.tensor(0.5), atol=0.2)  # noise at the fixed scale
    terms = vae_loss(out.logits, x, out.mu, out.logvar, 1.0, "bernoulli", 1.0, 0.0)
    const = 0.5 * 3 * (0.25 - 1 - 2 * math.log(0.5))  # KL's part that no parameter can change
    assert terms.kl.item() == pytest.approx(0.5 * out.mu.pow(2).sum(1).mean().item() + const, rel=1e-5)
    assert count_params(model.encoder) == (16 * 8 + 8) + (8 * 3 + 3)


def test_variant_configs_are_checked():
    cfg = RunConfig(model=GaussianConfig(encoder_paths="split", posterior_sigma=0.5))
    with pytest.raises(ConfigError, match="fixed posterior sigma"):
        cfg.validate()
    for field, value in [("arch", "rnn"), ("posterior_sigma", -1.0), ("channels", (8,))]:
        bad = RunConfig(model=GaussianConfig(**{field: value}))
        with pytest.raises(ConfigError, match=f"model.{field}"):
            bad.validate()


@pytest.mark.parametrize(
    "variant",
    [dict(arch="conv", channels=(4, 8), hidden=(16,)), dict(encoder_paths="split"), dict(posterior_sigma=0.3)],
)
def test_variants_train_save_and_reload(tmp_path, blob_npz, variant):
    cfg = RunConfig(model=GaussianConfig(preset="test", hidden=variant.pop("hidden", (32,)), latent_dim=4, **variant))
    cfg.data.dataset, cfg.train.epochs, cfg.train.batch_size, cfg.train.device = str(blob_npz), 3, 32, "cpu"
    result = train(cfg, tmp_path / "run", progress=False)
    losses = [m["train_loss"] for m in result.metrics]
    assert losses[-1] < losses[0]
    # the fused step trains MLP heads, a fixed sigma's mu-only head included; conv and split use autograd
    assert result.summary["engine"]["step"] == ("fused" if "posterior_sigma" in variant else "autograd")
    model, saved = load_model(tmp_path / "run")
    assert saved.model == cfg.model
    x = torch.rand(3, 64)
    assert torch.equal(model.reconstruct(x), load_model(tmp_path / "run")[0].reconstruct(x))


def test_fused_step_is_refused_for_variants(blob_npz):
    cfg = RunConfig(model=GaussianConfig(hidden=(8,), latent_dim=2, input_shape=(8, 8), encoder_paths="split"))
    cfg.train.step, cfg.train.device = "fused", "cpu"
    with pytest.raises(ConfigError, match="--step autograd"):
        Trainer(cfg, torch.rand(10, 64), torch.device("cpu"))
