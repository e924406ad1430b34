"""The browser explorer decodes latents in JavaScript exactly as the model does (checked in headless Chromium)."""

import re
import shutil
import subprocess

import numpy as np
import pytest
import torch

from vaekit.analysis.explorer import build_explorer
from vaekit.config import GaussianConfig, RunConfig, TokenizerConfig
from vaekit.errors import RunError
from vaekit.models import build_model
from vaekit.runs.open import Run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
HEADLESS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def _run(tmp_path, input_shape=(8, 12), **model_kw) -> Run:
    torch.manual_seed(0)
    cfg = RunConfig(model=GaussianConfig(input_shape=input_shape, latent_dim=3, **model_kw))
    model = build_model(cfg.model).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.rand(50, int(np.prod(input_shape)), generator=torch.Generator().manual_seed(1))
    return Run(tmp_path, model, cfg, x, np.arange(50) % 4)


def test_page_is_self_contained_and_refuses_tokenizers(tmp_path):
    page = build_explorer(_run(tmp_path, hidden=(6,)), points=20).read_text()
    assert "__DATA__" not in page and "__TITLE__" not in page
    assert not re.search(r"(src|href)=\"https?:", page)  # works offline, from a file
    tok = Run(tmp_path, None, RunConfig(model=TokenizerConfig(kind="vq")), torch.rand(2, 784), None)
    with pytest.raises(RunError, match="tokenizer"):
        build_explorer(tok)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian package: chromium)")
@pytest.mark.parametrize(
    "model_kw",
    [
        dict(hidden=(6, 5)),
        dict(hidden=(6, 5), activation="tanh", encoder_paths="dvae"),  # the IWAE paper's tanh; dvae: path A
        dict(arch="conv", net="plain", channels=(2, 3), hidden=(4,), likelihood="gaussian"),
        dict(arch="conv", width=8, hidden=(4,), likelihood="gaussian"),  # resnet: group norm, SiLU, residual
        dict(input_shape=(8, 12, 3), arch="conv", width=8, hidden=(), downsample=4),  # RGB, channel-last
    ],
    ids=["mlp-bernoulli", "mlp-tanh-dvae", "plain-conv-gaussian", "resnet-conv-gaussian", "resnet-conv-rgb"],
)
def test_browser_decodes_like_the_model(tmp_path, model_kw):
    run = _run(tmp_path, **model_kw)
    path = build_explorer(run, points=40)
    z = [0.7, -1.2, 0.3]
    dom = subprocess.run(
        [CHROMIUM, *HEADLESS, f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=3000", "--dump-dom",
         path.as_uri() + "#z=" + ",".join(map(str, z))],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    m = re.search(r'data-decoded="([-0-9.,e]+)"', dom.stdout)
    assert m, dom.stderr[-2000:]
    got = np.array([float(v) for v in m.group(1).split(",")])
    with torch.no_grad():
        want = run.model.mean_image(run.model.decode(torch.tensor([z]))).reshape(-1).numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=2e-5)
