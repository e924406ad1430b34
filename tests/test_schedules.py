import math

import pytest

from vaekit.config import LossConfig
from vaekit.training.schedules import beta_at, beta_per_epoch


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
