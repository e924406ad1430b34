"""CUDA-graph replay of the fused step: the wrapper's data flow (static buffers, beta as a device tensor,
warm-up, eager short batches) on the CPU with a stand-in for the graph, and the real capture on a GPU."""

import copy

import pytest
import torch

from vaekit.config import GaussianConfig
from vaekit.models import GaussianVAE
from vaekit.training.cudagraph import GraphedStep
from vaekit.training.step import FusedStep, FusedVAEStep


class _ReplayByRerun(GraphedStep):
    """Stand-in for a captured graph on the CPU: 'replay' re-runs the step on the static buffers."""

    def _capture(self):
        out = torch.zeros(*self.x.shape[:-2], 3)  # [total, recon, kl] (per model for a sweep)
        return (lambda: out.copy_(self._run_static())), out


def _pair(device="cpu", free_bits=0.0, precision="fp32", iwae_k=None, sigma=0.0):
    torch.manual_seed(0)
    cfg = GaussianConfig(input_shape=(6, 6), hidden=(32,), latent_dim=4, posterior_sigma=sigma)
    model = GaussianVAE(cfg).to(device)
    twin = copy.deepcopy(model)
    return (
        (model, FusedVAEStep(model, 1e-3, 16, free_bits, precision, iwae_k=iwae_k)),
        (twin, FusedVAEStep(twin, 1e-3, 16, free_bits, precision, iwae_k=iwae_k)),
    )


def _drive(eager, graphed, device="cpu", noise=4):
    g = torch.Generator(device=device).manual_seed(3)
    x = torch.rand(64, 36, generator=g, device=device)
    for it in range(9):
        xb = x[:11] if it == 4 else x[(it * 16) % 48 : (it * 16) % 48 + 16]  # one short batch among full ones
        beta = 0.1 * (it + 1)  # annealing: beta changes every step
        eps = torch.randn(xb.shape[0], noise, generator=g, device=device)
        a, b = eager(xb, beta, eps), graphed(xb, beta, eps)
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-6)


@pytest.mark.parametrize(
    "free_bits, precision, iwae_k, sigma",
    [
        (0.0, "fp32", None, 0.0),
        (0.5, "fp32", None, 0.0),
        (0.5, "bf16", None, 0.0),
        (0.0, "fp32", 3, 0.0),  # the IWAE bound: (n, S * D) noise
        (0.0, "fp32", 3, 0.5),  # and a fixed posterior sigma
    ],
)
def test_replayed_steps_match_eager_steps(free_bits, precision, iwae_k, sigma):
    (m_eager, eager), (m_graph, step) = _pair(free_bits=free_bits, precision=precision, iwae_k=iwae_k, sigma=sigma)
    noise = 4 * (iwae_k or 1)
    graphed = _ReplayByRerun(step, (16, 36), (16, noise), warmup=2)
    _drive(eager, graphed, noise=noise)
    assert graphed.replays == 6  # 9 steps: 1 short (eager), 2 warm-up, 6 replays
    for (name, a), b in zip(m_eager.state_dict().items(), m_graph.state_dict().values(), strict=True):
        torch.testing.assert_close(b, a, atol=1e-6, rtol=1e-5, msg=name)


def test_replayed_sweep_steps_match_eager_sweep_steps():
    cfg = GaussianConfig(input_shape=(6, 6), hidden=(16,), latent_dim=3)
    models = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        models.append(GaussianVAE(cfg))
    twins = copy.deepcopy(models)
    eager, step = FusedStep(models, 1e-3, 8), FusedStep(twins, 1e-3, 8)
    graphed = _ReplayByRerun(step, (2, 8, 36), (2, 8, 3), (2,), warmup=1)
    g = torch.Generator().manual_seed(3)
    for it in range(6):
        n = 5 if it == 3 else 8
        x, eps, betas = torch.rand(2, n, 36, generator=g), torch.randn(2, n, 3, generator=g), torch.rand(2, generator=g)
        torch.testing.assert_close(graphed(x, betas, eps), eager(x, betas, eps), atol=1e-5, rtol=1e-6)
    assert graphed.replays == 4  # 6 steps: 1 short (eager), 1 warm-up, 4 replays
    for a, b in zip(models, twins, strict=True):
        for (name, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
            torch.testing.assert_close(vb, va, atol=1e-6, rtol=1e-5, msg=name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("precision, iwae_k", [("fp32", None), ("bf16", None), ("fp32", 3)])
def test_captured_graph_matches_eager_steps_on_gpu(precision, iwae_k):
    (m_eager, eager), (m_graph, step) = _pair("cuda", precision=precision, iwae_k=iwae_k)
    noise = 4 * (iwae_k or 1)
    graphed = GraphedStep(step, (16, 36), (16, noise), warmup=2)
    _drive(eager, graphed, "cuda", noise=noise)
    assert graphed.replays == 6
    for (name, a), b in zip(m_eager.state_dict().items(), m_graph.state_dict().values(), strict=True):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_captured_sweep_graph_matches_eager_sweep_steps_on_gpu():
    cfg = GaussianConfig(input_shape=(6, 6), hidden=(16,), latent_dim=3)
    models = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        models.append(GaussianVAE(cfg).cuda())
    twins = copy.deepcopy(models)
    eager, step = FusedStep(models, 1e-3, 8), FusedStep(twins, 1e-3, 8)
    graphed = GraphedStep(step, (2, 8, 36), (2, 8, 3), (2,), warmup=1)
    g = torch.Generator(device="cuda").manual_seed(3)
    for it in range(6):
        n = 5 if it == 3 else 8
        x = torch.rand(2, n, 36, generator=g, device="cuda")
        eps, betas = torch.randn(2, n, 3, generator=g, device="cuda"), torch.rand(2, generator=g, device="cuda")
        torch.testing.assert_close(graphed(x, betas, eps), eager(x, betas, eps), atol=1e-4, rtol=1e-4)
    assert graphed.replays == 4
