"""The fused step computes what autograd + torch.optim.Adam compute: parity on fresh random inputs."""

import copy
from dataclasses import replace

import pytest
import torch

from vaekit.config import GaussianConfig
from vaekit.errors import ConfigError
from vaekit.losses import iwae_loss, vae_loss
from vaekit.models import GaussianVAE, mlp
from vaekit.training.step import FusedStep, FusedVAEStep, supports


def _twins(likelihood, hidden, activation):
    """A reference model with its Adam, and a copy for the fused step; ``activation`` "tanh-sigma0.5" asks for a
    fixed posterior sigma too."""
    torch.manual_seed(0)
    cfg = GaussianConfig(input_shape=(6, 6), hidden=hidden, latent_dim=4, likelihood=likelihood, sigma=0.7)
    activation, _, sigma = activation.partition("-sigma")
    ref = GaussianVAE(replace(cfg, activation=activation, posterior_sigma=float(sigma or 0)))
    return ref, torch.optim.Adam(ref.parameters(), lr=1e-3), copy.deepcopy(ref)


@pytest.mark.parametrize(
    "likelihood, free_bits, hidden, beta, activation",
    [
        ("bernoulli", 0.0, (32,), 1.0, "relu"),
        ("gaussian", 0.3, (24, 16), 0.5, "relu"),
        ("bernoulli", 2.0, (32,), 4.0, "relu"),
        ("bernoulli", 0.0, (24, 16), 1.0, "tanh"),
        ("bernoulli", 0.0, (24, 16), 1.0, "tanh-sigma0.5"),  # a fixed posterior sigma: mu is the head
        ("gaussian", 0.3, (32,), 2.0, "relu-sigma0.2"),
    ],
)
def test_fused_step_matches_autograd_and_adam(likelihood, free_bits, hidden, beta, activation):
    ref, opt, model = _twins(likelihood, hidden, activation)
    g_ref, g_fused = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    step = FusedVAEStep(model, lr=1e-3, batch_size=16, free_bits=free_bits)
    x = torch.rand(40, 36)
    for it in range(6):
        xb = x[:16] if it % 2 == 0 else x[16:27]  # full and short batches
        out = ref(xb, generator=g_ref)
        terms = vae_loss(out.logits, xb, out.mu, out.logvar, beta, likelihood, 0.7, free_bits)
        opt.zero_grad()
        terms.total.backward()
        opt.step()
        total, recon, kl = step(xb, beta, torch.randn(xb.shape[0], 4, generator=g_fused))
        torch.testing.assert_close(total, terms.total.detach(), atol=1e-4, rtol=1e-5)
        torch.testing.assert_close(recon, terms.recon.detach(), atol=1e-4, rtol=1e-5)
        torch.testing.assert_close(kl, terms.kl.detach(), atol=1e-5, rtol=1e-5)
    for (name, a), b in zip(ref.state_dict().items(), model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5, msg=name)


@pytest.mark.parametrize(
    "likelihood, samples, hidden, activation",
    [
        ("bernoulli", 5, (32,), "relu"),
        ("gaussian", 3, (24, 16), "tanh"),
        ("bernoulli", 1, (24, 16), "tanh"),
        ("bernoulli", 4, (24,), "tanh-sigma0.5"),  # a fixed posterior sigma
    ],
)
def test_fused_iwae_step_matches_autograd_and_adam(likelihood, samples, hidden, activation):
    """iwae_k = S: the hand-derived gradient of the IWAE bound equals autograd's through ``iwae_loss``, with
    the noise laid out as the engine draws it, (n, S * D), image i's S vectors side by side."""
    ref, opt, model = _twins(likelihood, hidden, activation)
    step = FusedVAEStep(model, lr=1e-3, batch_size=16, iwae_k=samples)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(40, 36)
    for it in range(6):
        xb = x[:16] if it % 2 == 0 else x[16:27]  # full and short batches
        noise = torch.randn(xb.shape[0], samples * 4, generator=gen)  # (n, S*D)
        out = ref(xb, eps=noise.reshape(-1, samples, 4).transpose(0, 1))  # eps (S, n, D)
        terms = iwae_loss(out.logits, xb, out.z, out.mu, out.logvar, likelihood, 0.7)
        opt.zero_grad()
        terms.total.backward()
        opt.step()
        total, recon, kl = step(xb, 1.0, noise)
        torch.testing.assert_close(total, terms.total.detach(), atol=1e-4, rtol=1e-5)
        torch.testing.assert_close(recon, terms.recon.detach(), atol=1e-4, rtol=1e-5)
        torch.testing.assert_close(kl, terms.kl.detach(), atol=1e-5, rtol=1e-5)
    for (name, a), b in zip(ref.state_dict().items(), model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5, msg=name)


def test_fused_iwae_step_of_two_models_is_two_steps():
    """K models on the IWAE bound in one step give what each model's own step gives."""
    torch.manual_seed(0)
    cfg = GaussianConfig(input_shape=(6, 6), hidden=(16,), latent_dim=3)
    models = [GaussianVAE(cfg) for _ in range(2)]
    alone = [FusedVAEStep(copy.deepcopy(m), 1e-3, 8, iwae_k=4) for m in models]
    both = FusedStep(models, 1e-3, 8, iwae_k=4)
    x, noise = torch.rand(2, 8, 36), torch.randn(2, 8, 12)
    for _ in range(3):
        losses = both(x, 1.0, noise)
        for k, s in enumerate(alone):
            torch.testing.assert_close(losses[k], s(x[k], 1.0, noise[k]), atol=1e-5, rtol=1e-5)
    for k, s in enumerate(alone):
        torch.testing.assert_close(_flat(models[k]), _flat(s.model), atol=1e-6, rtol=1e-5)


def test_parameters_live_in_one_buffer():
    model = GaussianVAE(GaussianConfig(input_shape=(4, 4), hidden=(8,), latent_dim=2))
    step = FusedVAEStep(model, 1e-3, 4)
    ptr = step.param.data_ptr()
    size = step.param.numel() * step.param.element_size()
    for p in model.parameters():
        assert ptr <= p.data_ptr() < ptr + size
    before = [p.detach().clone() for p in model.parameters()]
    step(torch.rand(4, 16), 1.0, torch.randn(4, 2))
    assert all(not torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))


def test_unsupported_models_are_refused():
    cfg = GaussianConfig(input_shape=(4, 4), latent_dim=2)
    odd = GaussianVAE(cfg, encoder=torch.nn.Sequential(torch.nn.Linear(16, 4), torch.nn.Tanh(), torch.nn.Linear(4, 4)))
    assert supports(GaussianVAE(cfg, encoder=mlp([16, 4]), decoder=mlp([2, 16])))
    assert supports(GaussianVAE(replace(cfg, activation="tanh")))
    assert not supports(odd)  # a tanh encoder with a ReLU decoder
    assert not supports(GaussianVAE(replace(cfg, encoder_paths="dvae")))  # path B is trained by autograd
    assert supports(GaussianVAE(replace(cfg, posterior_sigma=0.5)))  # the head is mu alone
    assert supports(GaussianVAE(cfg, encoder=mlp([16, 4]), decoder=mlp([2, 16])), "iwae")
    assert not supports(GaussianVAE(cfg), "other")
    with pytest.raises(ConfigError):
        FusedVAEStep(odd, 1e-3, 4)


def _flat(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


@pytest.mark.parametrize(
    "likelihood, free_bits, samples, sigma",
    [
        ("bernoulli", 0.0, None, 0.0),
        ("gaussian", 0.3, None, 0.0),
        ("bernoulli", 0.0, 3, 0.0),
        ("bernoulli", 0.0, 3, 0.5),  # a fixed posterior sigma: mu is the head
    ],
)
def test_bf16_step_matches_autograd_under_autocast(likelihood, free_bits, samples, sigma):
    """precision="bf16": bf16 products, fp32 master weights / Adam / loss. Against autograd + bf16 autocast the
    losses agree to 1 % and each step's parameter update to cosine >= 0.99 (both round their products to bf16,
    in different places, so bit equality is not expected); the weights stay fp32."""
    torch.manual_seed(0)
    cfg = GaussianConfig(input_shape=(8, 8), hidden=(48,), latent_dim=6, likelihood=likelihood, sigma=0.7)
    ref = GaussianVAE(replace(cfg, posterior_sigma=sigma))
    model = copy.deepcopy(ref)
    opt = torch.optim.Adam(ref.parameters(), lr=1e-3)
    step = FusedVAEStep(model, lr=1e-3, batch_size=32, free_bits=free_bits, precision="bf16", iwae_k=samples)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(96, 64, generator=g)
    for it in range(8):
        xb = x[(it % 3) * 32 : (it % 3) * 32 + (32 if it != 5 else 19)]  # full and short batches
        eps = torch.randn(xb.shape[0], 6 * (samples or 1), generator=g)
        before = _flat(ref)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = ref(xb, eps=eps if samples is None else eps.reshape(-1, samples, 6).transpose(0, 1))
        if samples is None:
            terms = vae_loss(out.logits, xb, out.mu, out.logvar, 1.0, likelihood, 0.7, free_bits)
        else:
            terms = iwae_loss(out.logits, xb, out.z, out.mu, out.logvar, likelihood, 0.7)
        opt.zero_grad()
        terms.total.backward()
        opt.step()
        total, recon, kl = step(xb, 1.0, eps)
        torch.testing.assert_close(total, terms.total.detach(), atol=0.0, rtol=1e-2)
        torch.testing.assert_close(kl, terms.kl.detach(), atol=1e-3, rtol=1e-2)
        d_ref, d_fused = _flat(ref) - before, _flat(model) - before
        assert torch.nn.functional.cosine_similarity(d_ref, d_fused, dim=0) >= 0.99, it
        before = _flat(model)
        with torch.no_grad():  # restart both from the same weights, so the check is per step
            for a, b in zip(ref.parameters(), model.parameters(), strict=True):
                a.copy_(b)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert step.param.dtype == torch.float32 and step.optimizer.state[step.param]["exp_avg"].dtype == torch.float32


def test_bf16_operands_follow_the_fp32_weights():
    """The bf16 operands mirror the fp32 weights: the step refreshes them after every update."""
    torch.manual_seed(0)
    model = GaussianVAE(GaussianConfig(input_shape=(4, 4), hidden=(8,), latent_dim=2))
    step = FusedVAEStep(model, 1e-3, 4, precision="bf16")
    step(torch.rand(4, 16), 1.0, torch.randn(4, 2))
    torch.testing.assert_close(step.cflat.float(), step.param.detach(), atol=0.0, rtol=2**-8)
