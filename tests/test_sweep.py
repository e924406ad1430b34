"""A sweep trains exactly the models that separate runs train, with the work of all of them batched together."""

import copy
import json

import pytest
import torch

from vaekit.analysis.evaluate import evaluate_run
from vaekit.config import GaussianConfig, RunConfig
from vaekit.errors import ConfigError, RunError
from vaekit.models import GaussianVAE
from vaekit.runs.checkpoint import load_model, read_metrics
from vaekit.training.loop import train
from vaekit.training.step import FusedStep, FusedVAEStep
from vaekit.training.sweep import point_name, sweep


@pytest.mark.parametrize("likelihood, free_bits", [("bernoulli", 0.0), ("gaussian", 0.4)])
def test_sweep_step_matches_one_fused_step_per_model(likelihood, free_bits):
    cfg = GaussianConfig(input_shape=(6, 6), hidden=(16, 8), latent_dim=3, likelihood=likelihood, sigma=0.6)
    models = []
    for seed in (0, 1, 2):
        torch.manual_seed(seed)
        models.append(GaussianVAE(cfg))
    solo = [FusedVAEStep(copy.deepcopy(m), 1e-3, 8, free_bits) for m in models]
    swept = FusedStep(models, 1e-3, 8, free_bits, "fp32")
    g = torch.Generator().manual_seed(5)
    betas = torch.tensor([0.5, 1.0, 3.0])
    for it in range(5):
        n = 5 if it == 2 else 8  # a short batch too
        x, eps = torch.rand(3, n, 36, generator=g), torch.randn(3, n, 3, generator=g)
        out = swept(x, betas, eps)
        for k, step in enumerate(solo):
            torch.testing.assert_close(out[k], step(x[k], float(betas[k]), eps[k]), atol=1e-4, rtol=1e-5)
    for k, step in enumerate(solo):
        for (name, a), b in zip(step.model.state_dict().items(), models[k].state_dict().values(), strict=True):
            torch.testing.assert_close(b, a, atol=1e-6, rtol=1e-5, msg=f"model {k} {name}")


def _base(npz, epochs=2, precision="fp32"):
    cfg = RunConfig(model=GaussianConfig(preset="test", hidden=(32,), latent_dim=4))
    cfg.data.dataset, cfg.train.epochs, cfg.train.batch_size, cfg.train.device = str(npz), epochs, 32, "cpu"
    cfg.train.precision = precision
    return cfg


# bf16: batched and single products may round differently on CPUs without bf16 units (where they are emulated)
TOLERANCE = {"fp32": {"atol": 2e-5, "rtol": 1e-4}, "bf16": {"atol": 2e-3, "rtol": 2e-2}}


@pytest.mark.parametrize(
    "anneal, binarize, precision",
    [("linear", "none", "fp32"), ("none", "dynamic", "fp32"), ("linear", "dynamic", "bf16")],
)
def test_sweep_models_equal_separate_runs(tmp_path, blob_npz, anneal, binarize, precision):
    base = _base(blob_npz, precision=precision)
    base.loss.anneal = anneal  # a per-step schedule must follow each model's own beta
    base.data.binarize = binarize  # dynamic: each model resamples its batches from its own generator
    result = sweep(base, [0.5, 2.0], [0, 3], tmp_path / "sweep", progress=False)
    assert [r["run"] for r in result.rows] == [point_name(b, s) for s in (0, 3) for b in (0.5, 2.0)]
    for beta, seed in [(2.0, 0), (0.5, 3)]:
        cfg = copy.deepcopy(base)
        cfg.loss.beta, cfg.train.seed = beta, seed
        train(cfg, tmp_path / f"solo-{beta}-{seed}", progress=False)
        solo, _ = load_model(tmp_path / f"solo-{beta}-{seed}")
        swept, swept_cfg = load_model(tmp_path / "sweep" / point_name(beta, seed))
        assert swept_cfg.loss.beta == beta and swept_cfg.train.seed == seed
        assert (
            json.loads((tmp_path / "sweep" / point_name(beta, seed) / "summary.json").read_text())["engine"][
                "precision"
            ]
            == precision
        )
        for (name, a), b in zip(solo.state_dict().items(), swept.state_dict().values(), strict=True):
            torch.testing.assert_close(b, a, **TOLERANCE[precision], msg=name)
        got = read_metrics(tmp_path / "sweep" / point_name(beta, seed))
        want = read_metrics(tmp_path / f"solo-{beta}-{seed}")
        rel = 1e-4 if precision == "fp32" else 1e-2
        assert [r["train_loss"] for r in got] == pytest.approx([r["train_loss"] for r in want], rel=rel)


def test_an_iwae_sweep_equals_separate_runs(tmp_path, blob_npz):
    """--objective iwae --k 3, fp32, dynamic binarization: the K-model step draws each model's S noise vectors
    per image as its run does; a beta other than 1 is refused."""
    base = _base(blob_npz, precision="fp32")
    base.loss.objective, base.loss.iwae_k, base.data.binarize = "iwae", 3, "dynamic"
    sweep(base, [1.0], [0, 3], tmp_path / "sweep", progress=False)
    cfg = copy.deepcopy(base)
    cfg.train.seed = 3
    train(cfg, tmp_path / "solo", progress=False)
    solo, _ = load_model(tmp_path / "solo")
    swept, swept_cfg = load_model(tmp_path / "sweep" / point_name(1.0, 3))
    assert (swept_cfg.loss.objective, swept_cfg.loss.iwae_k) == ("iwae", 3)
    for (name, a), b in zip(solo.state_dict().items(), swept.state_dict().values(), strict=True):
        torch.testing.assert_close(b, a, **TOLERANCE["fp32"], msg=name)
    with pytest.raises(ConfigError, match="--betas 1"):
        sweep(base, [1.0, 2.0], [0], tmp_path / "bad", progress=False)


def test_sweep_writes_runs_a_table_and_a_chart_and_refuses_to_overwrite(tmp_path, blob_npz):
    out = tmp_path / "sweep"
    sweep(_base(blob_npz, epochs=1), [1.0, 4.0], [0], out, progress=False)
    for name in (point_name(1.0, 0), point_name(4.0, 0)):
        for f in ("config.json", "model.safetensors", "metrics.jsonl", "summary.json", "loss_curves.png"):
            assert (out / name / f).is_file(), (name, f)
        summary = json.loads((out / name / "summary.json").read_text())  # the last epoch's metrics, reused
        fresh = evaluate_run(out / name, device="cpu")
        assert summary["loss"] == pytest.approx(fresh["loss"]) and summary["active_units"] == fresh["active_units"]
    table = json.loads((out / "sweep.json").read_text())
    assert len(table["models"]) == 2 and table["seconds_per_epoch"] > 0 and (out / "sweep.png").stat().st_size > 0
    assert table["models"][1]["kl"] < table["models"][0]["kl"]  # beta 4 squeezes the KL
    with pytest.raises(RunError, match="--overwrite"):
        sweep(_base(blob_npz, epochs=1), [1.0], [0], out, progress=False)


def test_sweep_refuses_models_it_cannot_batch(tmp_path, blob_npz):
    conv = _base(blob_npz)
    conv.model.arch = "conv"
    with pytest.raises(ConfigError, match="MLP"):
        sweep(conv, [1.0], [0], tmp_path / "a", progress=False)
    with pytest.raises(ConfigError, match="repeat"):
        sweep(_base(blob_npz), [1.0, 1.0], [0], tmp_path / "b", progress=False)
    with pytest.raises(ConfigError, match=">= 0"):
        sweep(_base(blob_npz), [-1.0, 1.0], [0], tmp_path / "b", progress=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_an_interrupted_sweep_resumes_to_the_uninterrupted_result(tmp_path, blob_npz, monkeypatch):
    import vaekit.training.sweep as sweep_mod
    from vaekit.training.sweep import resume_sweep

    sweep(_base(blob_npz, epochs=3), [1.0, 3.0], [0], tmp_path / "straight", progress=False)

    calls, real = {"n": 0}, sweep_mod.FusedStep.__call__

    def interrupt_in_epoch_two(self, *args):
        calls["n"] += 1
        if calls["n"] == 8 + 3:  # 240 images / 32 = 8 steps per epoch: step 3 of epoch 2
            raise KeyboardInterrupt
        return real(self, *args)

    monkeypatch.setattr(sweep_mod.FusedStep, "__call__", interrupt_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        sweep(_base(blob_npz, epochs=3), [1.0, 3.0], [0], tmp_path / "cut", progress=False)
    monkeypatch.setattr(sweep_mod.FusedStep, "__call__", real)
    assert [r["epoch"] for r in read_metrics(tmp_path / "cut" / point_name(3.0, 0))] == [1]

    result = resume_sweep(tmp_path / "cut", progress=False)
    assert [r["loss"] for r in result.rows] == [
        r["loss"] for r in json.loads((tmp_path / "straight" / "sweep.json").read_text())["models"]
    ]
    for name in (point_name(1.0, 0), point_name(3.0, 0)):
        a, _ = load_model(tmp_path / "straight" / name)
        b, _ = load_model(tmp_path / "cut" / name)
        for (key, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
            assert torch.equal(va, vb), (name, key)
        assert [r["epoch"] for r in read_metrics(tmp_path / "cut" / name)] == [1, 2, 3]
