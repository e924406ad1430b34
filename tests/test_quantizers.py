"""Quantizers: bijections, grids, straight-through and commitment gradients, EMA formula, dead-code restarts."""

import math

import numpy as np
import pytest
import torch

from vaekit.errors import ConfigError
from vaekit.quantizers import FSQ, RECOMMENDED_LEVELS, GroupedVQ, VectorQuantizer, kmeans, levels_for


@pytest.mark.parametrize("seed", range(5))
def test_fsq_index_code_round_trip_for_random_levels(seed):
    rng = np.random.default_rng(seed)
    levels = tuple(int(v) for v in rng.integers(2, 9, size=rng.integers(1, 5)))
    fsq = FSQ(levels)
    idx = torch.arange(fsq.codebook_size)
    codes = fsq.indices_to_codes(idx)
    assert torch.equal(fsq.codes_to_indices(codes), idx)  # indices -> codes -> indices
    assert len(torch.unique(codes, dim=0)) == fsq.codebook_size  # a bijection onto the grid
    z = torch.randn(500, len(levels)) * 3
    q = fsq.quantize(z)
    assert torch.equal(fsq.indices_to_codes(fsq.codes_to_indices(q)), q)  # codes -> indices -> codes


@pytest.mark.parametrize("levels", [(8, 5, 5, 5), (7, 5, 5, 5, 5), (2, 3, 4)])
def test_every_fsq_output_lies_on_the_grid(levels):
    fsq = FSQ(levels)
    q = fsq(torch.randn(2000, len(levels)) * 10).z_q  # far into the tails too
    hw = torch.tensor([lv // 2 for lv in levels], dtype=torch.float32)
    steps = q * hw
    assert torch.allclose(steps, torch.round(steps), atol=1e-5)
    for i, lv in enumerate(levels):
        values = torch.unique(torch.round(steps[:, i]))
        assert len(values) <= lv and values.min() >= -(lv // 2) and values.max() <= (lv - 1) // 2


def test_fsq_recommended_levels():
    for size, levels in RECOMMENDED_LEVELS.items():
        assert abs(math.log2(math.prod(levels)) - math.log2(size)) < 0.35
    assert levels_for(1024) == (8, 5, 5, 5)
    with pytest.raises(ConfigError):
        levels_for(1000)


def test_fsq_straight_through_gradient_is_the_bound_gradient():
    fsq = FSQ((8, 5))
    z = torch.randn(64, 2, requires_grad=True)
    w = torch.randn(64, 2)
    (fsq(z).z_q * w).sum().backward()
    z2 = z.detach().clone().requires_grad_(True)
    hw = torch.tensor([4.0, 2.0])
    (fsq.bound(z2) / hw * w).sum().backward()  # the same function without rounding
    torch.testing.assert_close(z.grad, z2.grad)
    assert (z.grad != 0).all()


def test_vq_straight_through_passes_the_gradient_unchanged():
    vq = VectorQuantizer(16, 4, kmeans_init=False).eval()
    z = torch.randn(3, 5, 4, requires_grad=True)
    out = vq(z)
    w = torch.randn_like(z)
    (out.z_q * w).sum().backward()
    torch.testing.assert_close(z.grad, w)
    torch.testing.assert_close(out.z_q.detach(), vq.codebook.detach()[out.indices])


def test_commitment_and_codebook_loss_gradients():
    beta = 0.25
    vq = VectorQuantizer(8, 3, beta=beta, kmeans_init=False).eval()
    z = torch.randn(4, 6, 3, requires_grad=True)
    out = vq(z)
    e = vq.codebook.detach()[out.indices]
    out.loss.backward()
    # d/dz [beta * sum||z - sg e||^2 / B] = 2 beta (z - e) / B; the codebook loss sends nothing to z
    torch.testing.assert_close(z.grad, 2 * beta * (z.detach() - e) / 4)
    # d/dcodebook [sum||sg z - e||^2 / B]: each code gets 2 (e - z) / B summed over its assignments
    expected = torch.zeros_like(vq.codebook)
    expected.index_add_(0, out.indices.reshape(-1), (2 * (e - z.detach()) / 4).reshape(-1, 3))
    torch.testing.assert_close(vq.codebook.grad, expected)


def test_ema_update_equals_its_formula():
    k, d, decay, eps = 4, 2, 0.9, 1e-5
    vq = VectorQuantizer(k, d, update="ema", decay=decay, eps=eps, kmeans_init=False)
    with torch.no_grad():
        vq.codebook.copy_(torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]]))
        vq.ema_sum.copy_(vq.codebook)
        vq.ema_count.fill_(1.0)
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [9.0, 0.0], [9.0, 1.0], [11.0, 0.0]])  # codes 0, 0, 1, 1, 1
    vq.train()(x)
    count = torch.tensor([1.0, 1.0, 1.0, 1.0]) * decay + (1 - decay) * torch.tensor([2.0, 3.0, 0.0, 0.0])
    sums = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]]) * decay + (1 - decay) * torch.tensor(
        [[1.0, 1.0], [29.0, 1.0], [0.0, 0.0], [0.0, 0.0]]
    )
    n = count.sum()
    smoothed = (count + eps) / (n + k * eps) * n
    torch.testing.assert_close(vq.ema_count, count)
    torch.testing.assert_close(vq.codebook, sums / smoothed[:, None])


def test_dead_code_is_reseeded_from_encoder_outputs():
    vq = VectorQuantizer(3, 2, dead_after=2, kmeans_init=False)
    vq.generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        vq.codebook.copy_(torch.tensor([[0.0, 0.0], [1.0, 1.0], [100.0, 100.0]]))  # code 2 is never nearest
    x = torch.tensor([[0.1, 0.0], [0.9, 1.0], [0.0, 0.2], [1.1, 0.9]])
    vq.train()
    vq(x)
    assert vq.restarts.item() == 0 and vq.unused_steps.tolist() == [0, 0, 1]
    vq(x)
    assert vq.restarts.item() == 1
    assert any(torch.equal(vq.codebook.detach()[2], row) for row in x)  # re-seeded from a current output


def test_kmeans_init_finds_the_clusters():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[5.0, 5.0], [-5.0, 5.0], [0.0, -5.0]])
    x = centres[torch.randint(3, (600,), generator=g)] + 0.1 * torch.randn(600, 2, generator=g)
    found = kmeans(x, 3, iters=20, generator=torch.Generator().manual_seed(1))
    assert torch.cdist(centres, found).min(1).values.max() < 0.3


def test_grouped_vq_splits_channels():
    gvq = GroupedVQ((8, 8, 8), 6, kmeans_init=False).eval()
    z = torch.randn(2, 4, 6)
    out = gvq(z)
    assert out.indices.shape == (2, 4, 3)
    for g, q in enumerate(gvq.quantizers):
        torch.testing.assert_close(out.z_q[..., 2 * g : 2 * g + 2], q.codebook[out.indices[..., g]])
    with pytest.raises(ConfigError):
        GroupedVQ((8, 8), 5)


def test_vq_nearest_code_is_found_in_fp32_under_bf16_autocast():
    """Codes closer together than bf16 can resolve (vectors of norm 12, 0.05 apart, where bf16 steps by 0.016):
    under autocast the search must still return the float64 nearest code."""
    g = torch.Generator().manual_seed(0)
    vq = VectorQuantizer(64, 16, kmeans_init=False)
    centre = torch.full((16,), 3.0)
    with torch.no_grad():
        vq.codebook.copy_(centre + 0.05 * torch.randn(64, 16, generator=g))
    z = centre + 0.05 * torch.randn(256, 16, generator=g)
    truth = torch.cdist(z.double(), vq.codebook.detach().double()).argmin(1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = vq.nearest(z)
        out = vq(z[None])
    assert torch.equal(got, truth)
    assert torch.equal(out.indices[0], truth)
