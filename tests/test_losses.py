import math

import torch
import torch.nn.functional as F

from vaekit.losses import bernoulli_nll, free_bits_kl, gaussian_nll, kl_normal, log_normal, vae_loss


def test_kl_closed_form_matches_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(6, generator=g, dtype=torch.float64)
    logvar = torch.randn(6, generator=g, dtype=torch.float64) * 0.5
    n = 400_000
    z = mu + torch.exp(0.5 * logvar) * torch.randn(n, 6, generator=g, dtype=torch.float64)
    zeros = torch.zeros_like(z)
    samples = log_normal(z, mu, logvar.expand_as(z)) - log_normal(z, zeros, zeros)  # (n,)
    mc, se = samples.mean().item(), samples.std().item() / math.sqrt(n)
    exact = kl_normal(mu, logvar).sum().item()
    assert abs(mc - exact) < 4 * se, (mc, exact, se)


def test_kl_is_zero_at_the_prior_and_positive_elsewhere():
    assert torch.allclose(kl_normal(torch.zeros(3), torch.zeros(3)), torch.zeros(3))
    assert (kl_normal(torch.randn(100, 4), torch.randn(100, 4)) >= 0).all()


def test_bernoulli_nll_is_bce_summed_over_pixels_and_stable():
    logits = torch.randn(5, 10)
    x = torch.rand(5, 10)
    ref = F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="none").sum(-1)
    assert torch.allclose(bernoulli_nll(logits, x), ref, atol=1e-5)
    extreme = torch.tensor([[200.0, -200.0]])
    out = bernoulli_nll(extreme, torch.tensor([[0.0, 1.0]]))
    assert torch.isfinite(out).all() and abs(out.item() - 400.0) < 1e-3


def test_gaussian_nll_matches_torch_distributions():
    mean, x = torch.randn(4, 7), torch.randn(4, 7)
    ref = -torch.distributions.Normal(mean, 0.3).log_prob(x).sum(-1)
    assert torch.allclose(gaussian_nll(mean, x, 0.3), ref, atol=1e-5)


def test_recon_and_kl_share_one_reduction():
    """Sum over pixels / dims, mean over the batch: doubling the batch by repetition changes nothing."""
    logits, x = torch.randn(3, 10), torch.rand(3, 10)
    mu, logvar = torch.randn(3, 4), torch.randn(3, 4)
    one = vae_loss(logits, x, mu, logvar)
    two = vae_loss(logits.repeat(2, 1), x.repeat(2, 1), mu.repeat(2, 1), logvar.repeat(2, 1))
    assert torch.allclose(one.total, two.total) and torch.allclose(one.kl, two.kl)
    assert torch.allclose(one.recon, bernoulli_nll(logits, x).mean())
    assert torch.allclose(one.kl, kl_normal(mu, logvar).sum(-1).mean())
    assert torch.allclose(one.total, one.recon + one.kl)


def test_beta_scales_only_the_kl():
    logits, x, mu, logvar = torch.randn(3, 10), torch.rand(3, 10), torch.randn(3, 4), torch.randn(3, 4)
    t = vae_loss(logits, x, mu, logvar, beta=4.0)
    assert torch.allclose(t.total, t.recon + 4.0 * t.kl)


def test_free_bits_stop_gradient_below_the_threshold():
    mu = torch.tensor([[0.01, 3.0], [0.02, 2.0]], requires_grad=True)
    logvar = torch.zeros(2, 2, requires_grad=True)
    kl_per_dim = kl_normal(mu, logvar).mean(0)  # dim 0 tiny, dim 1 large
    assert kl_per_dim[0] < 0.5 < kl_per_dim[1]
    free_bits_kl(kl_per_dim, 0.5).backward()
    assert torch.all(mu.grad[:, 0] == 0) and torch.all(mu.grad[:, 1] != 0)
    # the value counts the floor for the small dimension
    assert torch.isclose(free_bits_kl(kl_per_dim.detach(), 0.5), 0.5 + kl_per_dim[1].detach())
    # with free bits off every dimension gets gradient
    mu.grad = None
    free_bits_kl(kl_normal(mu, logvar).mean(0), 0.0).backward()
    assert torch.all(mu.grad != 0)
