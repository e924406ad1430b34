"""The importance-weighted objective (Burda et al. 2015): the definition, K = 1 is the ELBO, and training on it."""

import math

import pytest
import torch

from vaekit.config import GaussianConfig, RunConfig
from vaekit.errors import ConfigError
from vaekit.evaluation.metrics import iw_nll
from vaekit.losses import iwae_loss, vae_loss
from vaekit.models import GaussianVAE
from vaekit.runs.checkpoint import load_model
from vaekit.training.loop import train


def _model(**kw) -> GaussianVAE:
    torch.manual_seed(0)
    return GaussianVAE(GaussianConfig(input_shape=(3, 4), hidden=(8,), latent_dim=3, **kw))


def _normal_logpdf(z, mu, var):
    return sum(-0.5 * math.log(2 * math.pi * v) - (a - m) ** 2 / (2 * v) for a, m, v in zip(z, mu, var, strict=True))


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_iwae_loss_is_the_definition(likelihood):
    model = _model(likelihood=likelihood, sigma=0.6)
    x = torch.rand(4, 12)
    eps = torch.randn(7, 4, 3, generator=torch.Generator().manual_seed(1))  # (K, B, D)
    out = model(x, eps=eps)
    assert out.logits.shape == (7, 4, 12) and out.z.shape == (7, 4, 3)
    got = iwae_loss(out.logits, x, out.z, out.mu, out.logvar, likelihood, 0.6).total.item()

    want = 0.0  # the bound written out image by image, sample by sample, in float64 Python
    for b in range(4):
        mu, var = out.mu[b].tolist(), out.logvar[b].exp().tolist()
        log_w = []
        for k in range(7):
            z = out.z[k, b].tolist()
            mean = model.decode(out.z[k, b : b + 1])[0]
            if likelihood == "bernoulli":
                p = torch.sigmoid(mean.double())
                log_px = (x[b] * p.log() + (1 - x[b]) * (1 - p).log()).sum().item()
            else:
                pairs = zip(x[b].tolist(), mean.tolist(), strict=True)
                log_px = sum(_normal_logpdf([xi], [mi], [0.36]) for xi, mi in pairs)
            log_w.append(log_px + _normal_logpdf(z, [0.0] * 3, [1.0] * 3) - _normal_logpdf(z, mu, var))
        top = max(log_w)
        want -= top + math.log(sum(math.exp(w - top) for w in log_w) / 7)
    assert got == pytest.approx(want / 4, rel=1e-5, abs=1e-4)


def test_k1_is_the_elbo():
    """K = 1: the single-sample ELBO for the same noise, whose mean over noise is the closed-form-KL ELBO."""
    model = _model()
    x = torch.rand(5, 12)
    eps = torch.randn(1, 5, 3, generator=torch.Generator().manual_seed(2))
    out = model(x, eps=eps)
    one = iwae_loss(out.logits, x, out.z, out.mu, out.logvar).total
    z = out.z[0]
    log_q = -0.5 * (math.log(2 * math.pi) + out.logvar + (z - out.mu) ** 2 / out.logvar.exp()).sum(-1)
    log_p = -0.5 * (math.log(2 * math.pi) + z**2).sum(-1)
    single = torch.nn.functional.binary_cross_entropy_with_logits(out.logits[0], x, reduction="none").sum(-1)
    torch.testing.assert_close(one, (single + log_q - log_p).mean(), rtol=1e-6, atol=1e-5)

    with torch.no_grad():  # many draws: the mean is the ELBO with the analytic KL, within 4 standard errors
        xs = x.repeat(4000, 1)  # (20000, P): each image with 4000 noise draws
        g = torch.Generator().manual_seed(5)
        out = model(xs, eps=torch.randn(1, *xs.shape[:1], 3, generator=g))
        per_draw = iwae_loss(out.logits, xs, out.z, out.mu, out.logvar).total  # the mean over the draws
        recon = torch.nn.functional.binary_cross_entropy_with_logits(out.logits[0], xs, reduction="none").sum(-1)
        log_q = -0.5 * (math.log(2 * math.pi) + out.logvar + (out.z[0] - out.mu) ** 2 / out.logvar.exp()).sum(-1)
        log_p = -0.5 * (math.log(2 * math.pi) + out.z[0] ** 2).sum(-1)
        se = (recon + log_q - log_p).std() / math.sqrt(xs.shape[0])
        mu, logvar = model.encode(x)
        ref = (
            vae_loss(model.decode(mu), x, mu, logvar).kl
            + torch.stack(  # analytic KL + MC reconstruction
                [recon[i::5].mean() for i in range(5)]
            ).mean()
        )
    assert abs(per_draw - ref) < 4 * se


def _out(model, x, eps):
    out = model(x, eps=eps)
    return out.logits, x, out.z, out.mu, out.logvar


def test_training_bound_equals_the_evaluation_estimate():
    """The training objective and ``iw_nll`` (the evaluation's estimator) agree on the same noise."""
    model = _model().eval()
    x = torch.rand(6, 12)
    k = 50
    with torch.no_grad():
        eps = torch.randn(k, 6, 3, generator=torch.Generator().manual_seed(3))
        loss = iwae_loss(*_out(model, x, eps)).total.item()
    assert iw_nll(model, x, k, seed=3) == pytest.approx(loss, rel=1e-5)


def test_the_bound_tightens_with_k():
    model = _model()
    x = torch.rand(64, 12)
    with torch.no_grad():
        bounds = [
            iwae_loss(*_out(model, x, torch.randn(k, 64, 3, generator=torch.Generator().manual_seed(4)))).total.item()
            for k in (1, 10, 200)
        ]
    assert bounds[0] > bounds[1] > bounds[2]


def test_iwae_trains_and_needs_a_plain_bound(tmp_path, blob_npz):
    cfg = RunConfig(model=GaussianConfig(preset="test", hidden=(32,), latent_dim=4))
    cfg.loss.objective, cfg.loss.iwae_k = "iwae", 5
    cfg.data.dataset, cfg.train.epochs, cfg.train.batch_size, cfg.train.device = str(blob_npz), 3, 32, "cpu"
    cfg.train.precision = "fp32"
    runs = {}
    for step in ("fused", "autograd"):  # the hand-derived IWAE gradient and autograd's, as whole runs
        cfg.train.step = step
        runs[step] = train(cfg, tmp_path / step, progress=False)
        assert runs[step].summary["engine"]["step"] == step
        losses = [m["train_loss"] for m in runs[step].metrics]
        assert losses[-1] < losses[0]
    fused, autograd = (load_model(tmp_path / s)[0].state_dict() for s in ("fused", "autograd"))
    for name, w in autograd.items():
        torch.testing.assert_close(fused[name], w, atol=2e-5, rtol=1e-4, msg=name)
    for field, value in [("beta", 2.0), ("free_bits", 0.5), ("anneal", "linear")]:
        bad = RunConfig()
        bad.loss.objective = "iwae"
        setattr(bad.loss, field, value)
        with pytest.raises(ConfigError, match="iwae objective"):
            bad.validate()


def test_the_paper_recipe_file_is_the_papers_setting():
    from pathlib import Path

    from vaekit.cli.parser import build_parser
    from vaekit.cli.train import build_train_config

    path = Path(__file__).resolve().parent.parent / "configs" / "iwae-paper.toml"
    cfg = build_train_config(build_parser().parse_args(["train", "--config", str(path)]))
    m, t = cfg.model, cfg.train
    assert (m.hidden, m.latent_dim, m.activation, m.encoder_paths) == ((200, 200), 50, "tanh", "shared")
    assert (cfg.data.dataset, cfg.data.binarize) == ("mnist", "dynamic")
    assert (t.epochs, t.batch_size, t.lr, t.lr_schedule, t.adam_eps) == (3280, 20, 1e-3, "iwae", 1e-4)
    assert (cfg.loss.objective, cfg.loss.beta) == ("elbo", 1.0)
