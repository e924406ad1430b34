"""Switch resolution over faked hardware: AVX2, AVX512-BF16 and AMX CPUs, GPUs with and without native bf16.

These tests fake the hardware, so they mean the same on every machine.
"""

import pytest
import torch

from vaekit import switches
from vaekit.config import GaussianConfig, RunConfig
from vaekit.errors import ConfigError
from vaekit.switches import Hardware, Switches, resolve
from vaekit.training.loop import Trainer

AVX2 = Hardware("cpu", frozenset({"sse4_2", "avx2", "fma"}))
AVX512_BF16 = Hardware("cpu", frozenset({"avx2", "avx512f", "avx512_bf16"}))
AMX = Hardware("cpu", frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}))
H200 = Hardware("cuda", cuda_capability=(9, 0))
T4 = Hardware("cuda", cuda_capability=(7, 5))  # bf16 only emulated


def test_hardware_kinds_and_their_bf16_units():
    assert [h.fast_bf16 for h in (AVX2, AVX512_BF16, AMX, H200, T4)] == [False, True, True, True, False]
    assert [h.name for h in (AVX2, AVX512_BF16, AMX, H200, T4)] == [
        "avx2",
        "avx512-bf16",
        "amx",
        "cuda-sm90",
        "cuda-sm75",
    ]


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu avx2 avx512_bf16\n\nprocessor\t: 1\n")
    assert switches.cpu_flags(info) == {"fpu", "avx2", "avx512_bf16"}
    assert switches.cpu_flags(tmp_path / "missing") == frozenset()


@pytest.mark.parametrize(
    "hw, fused_ok, asked, want",
    [
        # all auto
        (AVX2, True, ("auto", "auto", "auto"), Switches("fp32", "fused", False)),
        (AVX512_BF16, True, ("auto", "auto", "auto"), Switches("bf16", "fused", False)),
        (AMX, True, ("auto", "auto", "auto"), Switches("bf16", "fused", False)),
        (AVX2, False, ("auto", "auto", "auto"), Switches("fp32", "autograd", False)),
        (AMX, False, ("auto", "auto", "auto"), Switches("bf16", "autograd", False)),
        (H200, True, ("auto", "auto", "auto"), Switches("fp32", "fused", True)),  # the fused step in a graph
        (H200, False, ("auto", "auto", "auto"), Switches("bf16", "autograd", False)),
        (T4, False, ("auto", "auto", "auto"), Switches("fp32", "autograd", False)),
        # auto next to an explicit switch never conflicts
        (AMX, True, ("auto", "fused", "auto"), Switches("bf16", "fused", False)),
        (AVX512_BF16, True, ("auto", "fused", "off"), Switches("bf16", "fused", False)),
        (AVX2, True, ("auto", "fused", "auto"), Switches("fp32", "fused", False)),
        (H200, True, ("auto", "auto", "on"), Switches("fp32", "fused", True)),
        (H200, True, ("bf16", "auto", "auto"), Switches("bf16", "fused", True)),
        (H200, True, ("auto", "autograd", "auto"), Switches("bf16", "autograd", False)),
        (AMX, True, ("fp32", "auto", "auto"), Switches("fp32", "fused", False)),
        (AVX2, True, ("bf16", "auto", "auto"), Switches("bf16", "fused", False)),
        (H200, True, ("auto", "auto", "off"), Switches("fp32", "fused", False)),
    ],
)
def test_auto_resolves_with_what_else_was_asked(hw, fused_ok, asked, want):
    assert resolve(*asked, hw, fused_ok) == want


def test_the_graph_needs_one_process():
    assert resolve("auto", "auto", "auto", H200, True, world=2) == Switches("fp32", "fused", False)
    with pytest.raises(ConfigError, match="a single process"):
        resolve("auto", "auto", "on", H200, True, world=2)


def test_a_learning_rate_schedule_keeps_the_graph_off():
    """A captured graph keeps the learning rate it saw: with a schedule, auto leaves it off and on is an error."""
    assert resolve("auto", "auto", "auto", H200, True, lr_schedule="iwae") == Switches("fp32", "fused", False)
    assert resolve("auto", "auto", "auto", H200, True, lr_schedule="constant").graph
    with pytest.raises(ConfigError, match="--graph on keeps one learning rate"):
        resolve("auto", "auto", "on", H200, True, lr_schedule="iwae")


@pytest.mark.parametrize(
    "hw, fused_ok, asked, fix",
    [
        (AVX2, False, ("auto", "fused", "auto"), "--step autograd"),
        (AMX, True, ("auto", "auto", "on"), "--device cuda"),
        (H200, True, ("auto", "autograd", "on"), "drop --step autograd"),
        (H200, False, ("auto", "auto", "on"), "MLP Gaussian VAE"),
    ],
)
def test_explicit_switches_that_cannot_apply_are_one_line_errors(hw, fused_ok, asked, fix):
    with pytest.raises(ConfigError, match=fix) as e:
        resolve(*asked, hw, fused_ok)
    assert "\n" not in str(e.value)


def test_a_resumed_run_keeps_its_switches_unless_told_otherwise():
    started_on_avx2 = {"precision": "fp32", "step": "fused"}
    assert resolve("auto", "auto", "auto", AMX, True, pinned=started_on_avx2) == Switches("fp32", "fused", False)
    assert resolve("bf16", "auto", "auto", AMX, True, pinned=started_on_avx2) == Switches("bf16", "fused", False)
    started_on_amx = {"precision": "bf16", "step": "autograd"}
    assert resolve("auto", "auto", "auto", AVX2, True, pinned=started_on_amx) == Switches("bf16", "autograd", False)
    assert resolve("auto", "fused", "auto", AVX2, True, pinned=started_on_amx) == Switches("bf16", "fused", False)
    # a CPU run moved to a GPU keeps its precision and gets the graph
    assert resolve("auto", "auto", "auto", H200, True, pinned=started_on_avx2) == Switches("fp32", "fused", True)
    # a pinned step the model cannot take falls back
    assert resolve("auto", "auto", "auto", AVX2, False, pinned={"step": "fused"}).step == "autograd"


@pytest.mark.parametrize(
    "flags, precision", [({"avx2"}, "fp32"), ({"avx2", "avx512_bf16"}, "bf16"), ({"amx_bf16"}, "bf16")]
)
def test_the_trainer_resolves_against_the_cpu_it_sees(monkeypatch, flags, precision):
    monkeypatch.setattr(switches, "cpu_flags", lambda *a: frozenset(flags))
    cfg = RunConfig(model=GaussianConfig(input_shape=(4, 4), hidden=(8,), latent_dim=2))
    cfg.train.device, cfg.train.step = "cpu", "fused"  # explicit fused + auto precision: never a conflict
    trainer = Trainer(cfg, torch.rand(10, 16), torch.device("cpu"))
    assert (trainer.precision, trainer.step_kind, trainer.info["precision"]) == (precision, "fused", precision)
