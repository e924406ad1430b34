import math

import pytest

from vaekit.config import LossConfig, TrainConfig
from vaekit.training.schedules import beta_at, beta_per_epoch, lr_at_epoch


def test_none_is_constant():
    cfg = LossConfig(beta=2.0)
    assert [beta_at(s, 100, cfg) for s in (0, 50, 99)] == [2.0, 2.0, 2.0]


def test_linear_values():
    cfg = LossConfig(beta=1.0, anneal="linear", anneal_fraction=0.5)
    assert beta_at(0, 100, cfg) == 0.0
    assert beta_at(25, 100, cfg) == pytest.approx(0.5)
    assert beta_at(50, 100, cfg) == 1.0
    assert beta_at(99, 100, cfg) == 1.0


def test_sigmoid_values():
    cfg = LossConfig(beta=2.0, anneal="sigmoid", anneal_fraction=1.0)
    assert beta_at(50, 100, cfg) == pytest.approx(1.0)  # midpoint: half of beta
    assert beta_at(0, 100, cfg) == pytest.approx(2.0 / (1 + math.exp(5)))
    values = [beta_at(s, 100, cfg) for s in range(100)]
    assert all(a < b for a, b in zip(values, values[1:], strict=False))


def test_cyclical_values():
    cfg = LossConfig(beta=1.0, anneal="cyclical", cycles=4, cycle_ratio=0.5)
    # 100 steps, 4 cycles of 25 steps: ramp over 12.5 steps, then hold at beta
    assert beta_at(0, 100, cfg) == 0.0
    assert beta_at(5, 100, cfg) == pytest.approx(0.4)
    assert beta_at(13, 100, cfg) == 1.0
    assert beta_at(25, 100, cfg) == 0.0
    assert beta_at(30, 100, cfg) == pytest.approx(0.4)
    assert beta_at(100, 100, cfg) == 1.0


def test_per_step_schedule_at_epoch_boundaries_is_the_epoch_formula():
    """Fu et al.'s per-epoch cyclical formula and the textbook per-epoch linear ramp, as special cases."""
    epochs, spe = 20, 37
    lin = LossConfig(anneal="linear", anneal_fraction=0.5)
    cyc = LossConfig(anneal="cyclical", cycles=4, cycle_ratio=0.5)
    for e in range(epochs):
        assert beta_at(e * spe, epochs * spe, lin) == pytest.approx(min(1.0, e / 10))
        tau = (e % 5) / 5  # period of 5 epochs
        assert beta_at(e * spe, epochs * spe, cyc) == pytest.approx(min(1.0, tau / 0.5))
        assert beta_per_epoch(e, epochs, cyc) == pytest.approx(min(1.0, tau / 0.5))


def test_iwae_learning_rate_schedule_is_the_papers_at_3280_epochs():
    cfg = TrainConfig(lr=1e-3, epochs=3280, lr_schedule="iwae")
    lrs = [lr_at_epoch(e, cfg) for e in range(3280)]
    for i in range(8):  # stage i: 3^i passes at 1e-3 * 10^(-i/7)
        assert sum(1 for lr in lrs if lr == pytest.approx(1e-3 * 10 ** (-i / 7))) == 3**i
    assert lrs == sorted(lrs, reverse=True)


def test_iwae_schedule_stretched_keeps_its_proportions():
    cfg = TrainConfig(lr=1e-3, epochs=328, lr_schedule="iwae")
    lrs = [lr_at_epoch(e, cfg) for e in range(328)]
    assert lrs == sorted(lrs, reverse=True) and lrs[0] == 1e-3
    last = sum(1 for lr in lrs if lr == pytest.approx(1e-4))
    assert abs(last - 2187 / 10) < 1  # the last stage: 2/3 of the run, to the epoch
    assert lr_at_epoch(5, TrainConfig(lr=0.01)) == 0.01  # constant


def test_cosine_schedule_halves_at_mid_run_and_ends_near_zero():
    cfg = TrainConfig(lr=2e-3, epochs=20, lr_schedule="cosine")
    lrs = [lr_at_epoch(e, cfg) for e in range(20)]
    assert lrs[0] == 2e-3 and lrs[10] == pytest.approx(1e-3) and lrs == sorted(lrs, reverse=True)
    assert 0 < lrs[-1] < 2e-3 * 0.01  # the last epoch still learns, barely


def test_adam_eps_and_the_schedule_reach_the_optimizer(tmp_path, blob_npz):
    import torch

    from vaekit.config import GaussianConfig, RunConfig
    from vaekit.training.loop import Trainer, train

    cfg = RunConfig(model=GaussianConfig(preset="test", hidden=(16,), latent_dim=2))
    cfg.data.dataset, cfg.train.epochs, cfg.train.device, cfg.train.precision = str(blob_npz), 3, "cpu", "fp32"
    cfg.train.lr_schedule, cfg.train.adam_eps, cfg.train.step = "iwae", 1e-4, "fused"
    result = train(cfg, tmp_path / "run", progress=False)
    assert [m["lr"] for m in result.metrics] == [lr_at_epoch(e, cfg.train) for e in range(3)]
    for step in ("fused", "autograd"):
        cfg.train.step = step
        trainer = Trainer(cfg, torch.rand(10, 64), torch.device("cpu"))
        assert trainer.step_kind == step and trainer.optimizer.param_groups[0]["eps"] == 1e-4
