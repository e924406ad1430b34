"""Training, checkpoints, resume equivalence, divergence handling and evaluation on small synthetic data."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import vaekit.data.tensors as tensors
import vaekit.training.loop as engine
from conftest import blob_images
from vaekit.analysis.evaluate import evaluate_run
from vaekit.config import GaussianConfig, RunConfig
from vaekit.errors import RunError, TrainingDiverged
from vaekit.evaluation.metrics import elbo_metrics, iw_nll
from vaekit.models import GaussianVAE
from vaekit.runs.checkpoint import load_model, read_metrics
from vaekit.runs.session import RunSession
from vaekit.training.loop import train


def small_cfg(npz, epochs=2, **train_kw) -> RunConfig:
    """A small run with every switch stated (fp32, fused where the model allows), so that a test means the
    same on every machine; a test that wants other switches passes them."""
    cfg = RunConfig(model=GaussianConfig(preset="test", hidden=(32,), latent_dim=4))
    cfg.data.dataset = str(npz)
    cfg.train.epochs = epochs
    cfg.train.batch_size = 32
    cfg.train.device = "cpu"
    cfg.train.precision = "fp32"
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
        if k in ("psnr", "ssim"):  # image quality is computed by `vaekit evaluate` and the report only
            continue
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


def _interrupt_after_first_epoch(cfg, run_dir):
    """Train ``cfg`` until its first checkpoint is written, then interrupt as Ctrl-C would."""
    calls = {"n": 0}
    real_commit = RunSession.commit

    def commit_then_interrupt(self, *a, **kw):
        real_commit(self, *a, **kw)
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt

    RunSession.commit = commit_then_interrupt  # type: ignore[method-assign]
    try:
        with pytest.raises(KeyboardInterrupt):
            train(cfg, run_dir, progress=False)
    finally:
        RunSession.commit = real_commit  # type: ignore[method-assign]
    assert len(read_metrics(run_dir)) == 1


@pytest.mark.parametrize(
    "binarize, step, arch, precision",
    [
        ("none", "fused", "mlp", "fp32"),
        ("dynamic", "fused", "mlp", "fp32"),
        ("none", "autograd", "mlp", "fp32"),
        ("none", "autograd", "conv", "fp32"),
        ("dynamic", "fused", "mlp", "bf16"),
        ("none", "autograd", "conv", "bf16"),
    ],
)
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path, blob_npz, binarize, step, arch, precision):
    full_cfg = small_cfg(blob_npz, epochs=3, step=step, precision=precision)
    full_cfg.data.binarize = binarize
    full_cfg.loss.anneal = "linear"
    full_cfg.model.arch, full_cfg.model.channels = arch, (4, 8)  # conv: NHWC weights, contiguous checkpoints
    train(full_cfg, tmp_path / "full", progress=False)

    part = small_cfg(blob_npz, epochs=3, step=step, precision=precision)
    part.data.binarize = binarize
    part.loss.anneal = "linear"
    part.model.arch, part.model.channels = arch, (4, 8)
    _interrupt_after_first_epoch(part, tmp_path / "resumed")  # the schedule sees the final length
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

    def poisoned(self, *args):
        calls["n"] += 1
        losses = real_step(self, *args)
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
    assert set(m) == {"loss", "recon", "kl", "kl_per_dim", "active_units", "nll_iw", "params", "psnr", "ssim"}
    assert len(m["kl_per_dim"]) == 4 and 0 <= m["active_units"] <= 4
    assert m["loss"] == pytest.approx(m["recon"] + m["kl"])
    # the bound: IW-NLL below the negative ELBO (averaged over posterior samples to remove its noise)
    model, _ = load_model(tmp_path / "run")
    x = tensors.to_tensor(blob_images()[0], torch.device("cpu"))
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

    model = GaussianVAE(GaussianConfig(input_shape=(2, 2), hidden=(4,), latent_dim=3))
    with torch.no_grad():
        first, last = model.encoder[0], model.encoder[-1]
        first.weight.copy_(torch.eye(4))  # hidden = relu(x) = x: no hidden unit is dead, whatever the init drew
        first.bias.zero_()
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
    model = GaussianVAE(GaussianConfig(input_shape=(4, 4), hidden=(8,), latent_dim=3)).eval()
    x, k = torch.rand(5, 16), 7
    with torch.no_grad():
        mu, logvar = model.encode(x)
        eps = torch.randn(k, 5, 3, generator=torch.Generator().manual_seed(0))
        z = mu + torch.exp(0.5 * logvar) * eps
        log_px = -recon_nll(model.decode(z.reshape(-1, 3)), x.repeat(k, 1), "bernoulli").reshape(k, 5)
        log_w = log_px + log_normal(z, torch.zeros_like(z), torch.zeros_like(z)) - log_normal(z, mu, logvar)
        expected = -(torch.logsumexp(log_w.double(), 0) - math.log(k)).mean().item()
    assert iw_nll(model, x, k) == pytest.approx(expected, rel=1e-6)


def test_iw_nll_slices_a_large_k_into_bounded_passes_with_the_same_result(monkeypatch):
    """K larger than max_rows is decoded in slices (bounded memory for any --iw-samples). Fed the same noise,
    one image per pass, the slices give the estimate that all K samples at once give."""
    torch.manual_seed(0)
    model = GaussianVAE(GaussianConfig(input_shape=(4, 4), hidden=(8,), latent_dim=3)).eval()
    x = torch.rand(5, 16)
    noise = torch.randn(5 * 7 * 3, generator=torch.Generator().manual_seed(1))

    def estimate(max_rows: int) -> float:
        drawn = {"n": 0}

        def randn(*shape, **kw):  # the next values of one fixed stream, whatever the slice
            size = math.prod(shape)
            drawn["n"] += size
            return noise[drawn["n"] - size : drawn["n"]].reshape(shape)

        monkeypatch.setattr(torch, "randn", randn)
        return iw_nll(model, x, 7, max_rows=max_rows)

    at_once = estimate(7)  # one image per pass, its 7 samples in one slice
    sliced = estimate(3)  # one image per pass, slices of 3, 3 and 1 samples
    assert sliced == pytest.approx(at_once, rel=1e-6)  # fp32 decodes of 3 or 7 rows: summation order differs


def test_a_switch_that_cannot_apply_fails_before_the_run_directory_exists(tmp_path, blob_npz):
    from vaekit.errors import ConfigError

    cfg = small_cfg(blob_npz, graph="on")  # CUDA graphs on a CPU run
    with pytest.raises(ConfigError, match="--graph on"):
        train(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def _fake_cpu(monkeypatch, kind):
    flags = {"avx2": {"avx2", "fma"}, "bf16": {"avx2", "avx512f", "avx512_bf16"}}[kind]
    monkeypatch.setattr(engine.switches, "cpu_flags", lambda *a: frozenset(flags))


def test_a_run_started_on_an_avx2_cpu_resumes_on_a_bf16_cpu_as_it_started(tmp_path, blob_npz, monkeypatch):
    """auto precision resolves to fp32 on AVX2 and to bf16 on a bf16 CPU; a resumed run keeps its fp32 and
    ends with the weights of the uninterrupted run."""
    cfg = small_cfg(blob_npz, epochs=3, precision="auto", step="auto")
    _fake_cpu(monkeypatch, "avx2")
    train(cfg, tmp_path / "full", progress=False)
    _interrupt_after_first_epoch(cfg, tmp_path / "moved")
    _fake_cpu(monkeypatch, "bf16")
    result = train(cfg, tmp_path / "moved", resume=True, progress=False)
    assert result.summary["engine"]["precision"] == "fp32"
    assert [r["precision"] for r in read_metrics(tmp_path / "moved")] == ["fp32"] * 3
    a = load_file(str(tmp_path / "full" / "model.safetensors"))
    b = load_file(str(tmp_path / "moved" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    "before, after",
    [
        ({"precision": "fp32", "step": "fused"}, {"precision": "bf16", "step": "fused"}),
        ({"precision": "bf16", "step": "fused"}, {"precision": "fp32", "step": "autograd"}),
        ({"precision": "fp32", "step": "autograd"}, {"precision": "fp32", "step": "fused"}),
        ({"precision": "bf16", "step": "autograd"}, {"precision": "bf16", "step": "fused"}),
    ],
)
def test_a_run_resumes_under_other_switches_when_told(tmp_path, blob_npz, before, after):
    """The flat-buffer Adam of the fused step and the per-parameter Adam of autograd convert into each other;
    the metrics record which switches each epoch ran with."""
    cfg = small_cfg(blob_npz, epochs=3, **before)
    _interrupt_after_first_epoch(cfg, tmp_path / "run")
    state = engine.ckpt.read_train_state(tmp_path / "run")
    assert state.engine["precision"] == before["precision"] and state.engine["step"] == before["step"]
    model = GaussianVAE(GaussianConfig(input_shape=(8, 8), hidden=(32,), latent_dim=4))
    names = {n for n, _ in model.named_parameters()}
    assert {k.rsplit(".", 1)[0] for k in state.adam} == names  # Adam's moments kept per parameter name
    resumed = small_cfg(blob_npz, epochs=3, **after)
    result = train(resumed, tmp_path / "run", resume=True, progress=False)
    records = read_metrics(tmp_path / "run")
    assert [(r["precision"], r["step_kind"]) for r in records] == [
        (before["precision"], before["step"]),
        *[(after["precision"], after["step"])] * 2,
    ]
    assert records[-1]["train_loss"] < records[0]["train_loss"]  # Adam went on from its moments, not from zero
    assert result.summary["engine"]["step"] == after["step"]


def test_a_checkpoint_with_the_old_flat_adam_layout_resumes_under_autograd(tmp_path, blob_npz):
    """Runs written before Adam was kept per name stored the fused step's flat buffer as optim.0.*: resuming
    one under the autograd step gave a traceback; it now converts (and equals resuming the new layout)."""
    from safetensors.torch import save_file

    cfg = small_cfg(blob_npz, epochs=2, step="fused")
    _interrupt_after_first_epoch(cfg, tmp_path / "new")
    state = engine.ckpt.read_train_state(tmp_path / "new")
    named = list(GaussianVAE(GaussianConfig(input_shape=(8, 8), hidden=(32,), latent_dim=4)).named_parameters())
    old = {f"model.{k}": v for k, v in state.model.items()}
    for key in ("exp_avg", "exp_avg_sq"):
        old[f"optim.0.{key}"] = torch.cat([state.adam[f"{n}.{key}"].reshape(-1) for n, _ in named])
    old["optim.0.step"] = state.adam[f"{named[0][0]}.step"]
    old["rng"] = state.rng
    groups = [{"lr": 1e-3, "params": [0]}]
    meta = {"counters": json.dumps(state.counters), "param_groups": json.dumps(groups), "optim_scalars": "{}"}
    (tmp_path / "old").mkdir()
    for f in ("config.json", "metrics.jsonl", "model.safetensors"):
        (tmp_path / "old" / f).write_bytes((tmp_path / "new" / f).read_bytes())
    save_file(old, str(tmp_path / "old" / "train_state.safetensors"), metadata=meta)
    for run in ("new", "old"):
        train(small_cfg(blob_npz, epochs=2, step="autograd"), tmp_path / run, resume=True, progress=False)
    a = load_file(str(tmp_path / "new" / "model.safetensors"))
    b = load_file(str(tmp_path / "old" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_max_steps_stops_inside_an_epoch_and_a_resume_may_raise_it(tmp_path, blob_npz):
    """--max-steps N: a run shorter than an epoch (216 images, batch 32: 7 steps an epoch)."""
    cfg = small_cfg(blob_npz, epochs=3, max_steps=3)
    result = train(cfg, tmp_path / "run", progress=False)
    records = read_metrics(tmp_path / "run")
    assert [(r["epoch"], r["step"], r["images"]) for r in records] == [(1, 3, 96)]
    assert result.summary["epochs"] == 1 and all(np.isfinite(r["train_loss"]) for r in records)
    cfg.train.max_steps = 10  # 7 more steps: the rest of the second pass
    train(cfg, tmp_path / "run", resume=True, progress=False)
    assert [(r["epoch"], r["step"]) for r in read_metrics(tmp_path / "run")] == [(1, 3), (2, 10)]


class _Echo:
    """A stand-in model whose reconstructions are given images (to test the metrics against their definitions)."""

    def __init__(self, shape, rec):
        self.shape, self.rec = shape, rec

    def eval(self):
        return self

    def reconstruct(self, x):
        return self.rec[: x.shape[0]].reshape(x.shape[0], *self.shape)


@pytest.mark.parametrize("shape", [(16, 16), (12, 12, 3)])
def test_psnr_and_ssim_against_their_definitions(shape):
    from vaekit.evaluation.metrics import image_quality

    g = torch.Generator().manual_seed(0)
    x = torch.rand(20, int(np.prod(shape)), generator=g)
    same = image_quality(_Echo(shape, x.clone()), x)
    assert same["ssim"] == pytest.approx(1.0, abs=1e-6) and same["psnr"] >= 99  # capped at MSE 1e-10
    shifted = (x + 0.1).clamp(0, 1)  # a known per-image MSE
    want = (10 * torch.log10(1 / (shifted - x).pow(2).mean(1))).mean().item()
    assert image_quality(_Echo(shape, shifted), x)["psnr"] == pytest.approx(want, rel=1e-5)
    noisy = (x + 0.3 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    assert image_quality(_Echo(shape, noisy), x)["ssim"] < image_quality(_Echo(shape, shifted), x)["ssim"] < 1


def test_the_epoch_clock_says_what_the_rest_will_take():
    """The median of the last epochs' wall times times the epochs left; nothing once the run is done."""
    from vaekit.training.epoch import EpochClock

    times = iter([0.0, 10.0, 30.0, 40.0, 50.0])  # epochs of 10, 20, 10 and 10 s
    clock = EpochClock(total=6, now=lambda: next(times))
    assert clock.tick(1) == "; 5 epochs left, about 00:50"
    assert clock.tick(2) == "; 4 epochs left, about 01:20"  # median of (10, 20): the upper one
    assert clock.tick(3) == "; 3 epochs left, about 00:30"
    assert clock.tick(6) == ""
