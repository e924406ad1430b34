"""Training, checkpoints, resume equivalence, divergence handling and evaluation on small synthetic data."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import vaekit.engine as engine
from conftest import blob_images
from vaekit.checkpoint import load_model, read_metrics
from vaekit.config import ModelConfig, RunConfig
from vaekit.engine import train
from vaekit.errors import RunError, TrainingDiverged
from vaekit.evaluate import elbo_metrics, evaluate_run, iw_nll


def small_cfg(npz, epochs=2, **train_kw) -> RunConfig:
    cfg = RunConfig(model=ModelConfig(preset="test", hidden=(32,), latent_dim=4))
    cfg.data.dataset = str(npz)
    cfg.train.epochs = epochs
    cfg.train.batch_size = 32
    cfg.train.device = "cpu"
    for k, v in train_kw.items():
        setattr(cfg.train, k, v)
    return cfg


def test_training_writes_a_complete_run(tmp_path, blob_npz):
    result = train(small_cfg(blob_npz), tmp_path / "run", progress=False)
    run = tmp_path / "run"
    files = ("config.json", "model.safetensors", "train_state.safetensors", "metrics.jsonl", "summary.json")
    for f in (*files, "loss_curves.png"):
        assert (run / f).is_file(), f
    with Image.open(run / "loss_curves.png") as im:
        assert np.asarray(im.convert("L")).std() > 10  # a chart, not a blank canvas
    metrics = read_metrics(run)
    assert [m["epoch"] for m in metrics] == [1, 2]
    assert metrics[1]["train_loss"] < metrics[0]["train_loss"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["train_seconds"] > 0 and summary["loss"] == pytest.approx(result.summary["loss"])
    fresh = evaluate_run(run, device="cpu")  # the summary reuses the last epoch's metrics: they must agree
    for k, v in fresh.items():
        assert summary[k] == (pytest.approx(v) if isinstance(v, float) else v), k
    assert json.loads((run / "config.json").read_text())["model"]["input_shape"] == [8, 8]


def test_checkpoint_round_trip_rebuilds_the_same_model(tmp_path, blob_npz):
    train(small_cfg(blob_npz, epochs=1), tmp_path / "run", progress=False)
    model, cfg = load_model(tmp_path / "run")
    saved = load_file(str(tmp_path / "run" / "model.safetensors"))
    for k, v in model.state_dict().items():
        assert torch.equal(v, saved[k])
    x = torch.rand(3, 64)
    assert torch.equal(model.reconstruct(x), load_model(tmp_path / "run")[0].reconstruct(x))
    assert cfg.model.hidden == (32,)


@pytest.mark.parametrize(
    "binarize, step, arch",
    [("none", "fused", "mlp"), ("dynamic", "fused", "mlp"), ("none", "autograd", "mlp"), ("none", "autograd", "conv")],
)
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path, blob_npz, binarize, step, arch):
    full_cfg = small_cfg(blob_npz, epochs=3, step=step)
    full_cfg.data.binarize = binarize
    full_cfg.loss.anneal = "linear"
    full_cfg.model.arch, full_cfg.model.channels = arch, (4, 8)  # conv: NHWC weights, contiguous checkpoints
    train(full_cfg, tmp_path / "full", progress=False)

    part = small_cfg(blob_npz, epochs=1, step=step)
    part.data.binarize = binarize
    part.loss.anneal = "linear"
    part.model.arch, part.model.channels = arch, (4, 8)
    part.train.epochs = 3  # the schedule must see the final length; stop after one epoch by interrupting
    calls = {"n": 0}
    real_save = engine.ckpt.save_train_state

    def save_then_interrupt(*a, **kw):
        real_save(*a, **kw)
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt

    engine.ckpt.save_train_state = save_then_interrupt
    try:
        with pytest.raises(KeyboardInterrupt):
            train(part, tmp_path / "resumed", progress=False)
    finally:
        engine.ckpt.save_train_state = real_save
    assert len(read_metrics(tmp_path / "resumed")) == 1
    train(part, tmp_path / "resumed", resume=True, progress=False)

    a = load_file(str(tmp_path / "full" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "model.safetensors"))
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert [m["train_loss"] for m in read_metrics(tmp_path / "full")] == [
        m["train_loss"] for m in read_metrics(tmp_path / "resumed")
    ]


def test_refuses_to_overwrite_a_run(tmp_path, blob_npz):
    train(small_cfg(blob_npz, epochs=1), tmp_path / "run", progress=False)
    before = (tmp_path / "run" / "model.safetensors").read_bytes()
    with pytest.raises(RunError, match="--overwrite"):
        train(small_cfg(blob_npz, epochs=1), tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == before
    train(small_cfg(blob_npz, epochs=1, seed=5), tmp_path / "run", progress=False, overwrite=True)
    assert (tmp_path / "run" / "model.safetensors").read_bytes() != before


def test_resume_without_checkpoint_is_an_error(tmp_path, blob_npz):
    with pytest.raises(RunError, match="nothing to resume"):
        train(small_cfg(blob_npz), tmp_path / "new", resume=True, progress=False)


@pytest.mark.parametrize("step", ["fused", "autograd"])
def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, blob_npz, monkeypatch, step):
    real_step = engine.Trainer.step
    steps_per_epoch = 7  # 216 training images / batch 32
    calls = {"n": 0}

    def poisoned(self, xb, beta):
        calls["n"] += 1
        losses = real_step(self, xb, beta)
        if calls["n"] > steps_per_epoch + 2:  # NaN in the middle of epoch 2
            losses = losses * float("nan")
        return losses

    monkeypatch.setattr(engine.Trainer, "step", poisoned)
    with pytest.raises(TrainingDiverged, match=r"epoch 2/3.*last good checkpoint \(epoch 1\)"):
        train(small_cfg(blob_npz, epochs=3, step=step), tmp_path / "run", progress=False, log_every=1)
    assert [m["epoch"] for m in read_metrics(tmp_path / "run")] == [1]
    weights = load_file(str(tmp_path / "run" / "model.safetensors"))
    assert all(torch.isfinite(v).all() for v in weights.values())


def test_evaluation_metrics_and_iw_bound(tmp_path, blob_npz):
    train(small_cfg(blob_npz, epochs=3), tmp_path / "run", progress=False)
    m = evaluate_run(tmp_path / "run", iw_samples=200, device="cpu")
    assert set(m) == {"loss", "recon", "kl", "kl_per_dim", "active_units", "nll_iw", "params"}
    assert len(m["kl_per_dim"]) == 4 and 0 <= m["active_units"] <= 4
    assert m["loss"] == pytest.approx(m["recon"] + m["kl"])
    # the bound: IW-NLL below the negative ELBO (averaged over posterior samples to remove its noise)
    model, _ = load_model(tmp_path / "run")
    x = engine.to_tensor(blob_images()[0], torch.device("cpu"))
    neg_elbo = sum(elbo_metrics(model, x, seed=s)["loss"] for s in range(20)) / 20
    assert iw_nll(model, x, 200) < iw_nll(model, x, 1) and iw_nll(model, x, 200) < neg_elbo - 0.05


def test_iw_with_one_sample_is_an_elbo_estimate(tmp_path, blob_npz):
    train(small_cfg(blob_npz, epochs=2), tmp_path / "run", progress=False)
    model, _ = load_model(tmp_path / "run")
    x = torch.rand(500, 64)
    elbo = [elbo_metrics(model, x, seed=s)["loss"] for s in range(5)]
    iw1 = [iw_nll(model, x, 1, seed=s) for s in range(5)]
    assert abs(sum(elbo) / 5 - sum(iw1) / 5) < 0.02 * abs(sum(elbo) / 5)


def test_active_units_counts_dimensions_that_vary():
    from vaekit.models import GaussianVAE

    model = GaussianVAE(ModelConfig(input_shape=(2, 2), hidden=(4,), latent_dim=3))
    with torch.no_grad():
        last = model.encoder[-1]
        last.weight.zero_()
        last.bias.zero_()
        last.weight[0, 0] = 5.0  # only mu_0 depends on the input
    x = torch.rand(1000, 4)
    assert elbo_metrics(model, x)["active_units"] == 1


def test_iw_nll_matches_its_definition():
    import math

    from vaekit.losses import log_normal, recon_nll
    from vaekit.models import GaussianVAE

    torch.manual_seed(0)
    model = GaussianVAE(ModelConfig(input_shape=(4, 4), hidden=(8,), latent_dim=3)).eval()
    x, k = torch.rand(5, 16), 7
    with torch.no_grad():
        mu, logvar = model.encode(x)
        eps = torch.randn(k, 5, 3, generator=torch.Generator().manual_seed(0))
        z = mu + torch.exp(0.5 * logvar) * eps
        log_px = -recon_nll(model.decode(z.reshape(-1, 3)), x.repeat(k, 1), "bernoulli").reshape(k, 5)
        log_w = log_px + log_normal(z, torch.zeros_like(z), torch.zeros_like(z)) - log_normal(z, mu, logvar)
        expected = -(torch.logsumexp(log_w.double(), 0) - math.log(k)).mean().item()
    assert iw_nll(model, x, k) == pytest.approx(expected, rel=1e-6)


def test_a_switch_that_cannot_apply_fails_before_the_run_directory_exists(tmp_path, blob_npz):
    from vaekit.errors import ConfigError

    cfg = small_cfg(blob_npz, graph="on")  # CUDA graphs on a CPU run
    with pytest.raises(ConfigError, match="--graph on"):
        train(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
