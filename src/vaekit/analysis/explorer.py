"""`vaekit explorer RUN`: one self-contained HTML page that decodes latents live in the browser.

The page (``assets/explorer.html``, a template) embeds the decoder's weights (float32, base64) and its layer
plan (``vaekit.arch``) and runs the decoder in JavaScript — linear, ReLU and transposed-convolution layers,
the same arithmetic as ``vaekit.export.portable``; 3x3 convolutions, group norm, SiLU and residual blocks for the
resnet conv layout; greyscale or RGB — so it needs no server and works offline from a file. On it:
  * a slider per latent dimension, ordered by the test set's KL per dimension (the informative ones first);
  * a 2-D pad over the two most informative dimensions, with test-set posterior means drawn on it,
    coloured by label: drag to move through latent space, click a point to jump to that image's code;
  * buttons for a prior sample, the origin, and a random test image;
  * the URL fragment ``#z=v1,v2,...`` sets the code (a shareable link); the decoded pixels are also written to
    ``data-decoded`` on the page's body, which is how the tests compare it with NumPy in a headless browser.
"""

from __future__ import annotations

import base64
import html
import json
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from .._io import atomic_write_bytes
from ..arch import Plan, decoder_plan
from ..config import GaussianConfig
from ..errors import RunError
from ..losses import kl_normal
from ..runs.open import Run


def _weights(run: Run, plan: Plan) -> dict[str, dict]:
    """The decoder's tensors as {name: {"shape": [...], "b64": float32 little-endian}}."""
    state = {k: v.detach().cpu().float().numpy() for k, v in run.model.state_dict().items()}
    out = {}
    for name, arr in state.items():
        if name.startswith("decoder."):
            out[name] = {"shape": list(arr.shape), "b64": base64.b64encode(arr.astype("<f4").tobytes()).decode()}
    return out


@torch.no_grad()
def _points(run: Run, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """KL per dimension on the test set, and the posterior means (+ labels) of up to n test images."""
    model, x = run.vae, run.x_test
    mus, kls = [], []
    for i in range(0, len(x), 1000):
        mu, logvar = model.encode(x[i : i + 1000])
        mus.append(mu)
        kls.append(kl_normal(mu, logvar).sum(0))
    means = torch.cat(mus).cpu().numpy()
    kl = (torch.stack(kls).sum(0) / len(x)).cpu().numpy()
    idx = np.random.default_rng(0).permutation(len(means))[:n]
    labels = run.y_test[idx] if run.y_test is not None else np.zeros(len(idx), dtype=np.int64)
    return kl, means[idx], labels


def build_explorer(run: Run, out: str | Path | None = None, points: int = 1500) -> Path:
    """Write the explorer page for a Gaussian-VAE run; returns its path (default RUN/explorer.html)."""
    cfg = run.cfg.model
    if not isinstance(cfg, GaussianConfig):
        raise RunError("the latent explorer is for Gaussian VAEs; tokenizer runs have no continuous latent space")
    plan = decoder_plan(cfg)
    kl, mu, labels = _points(run, points)
    data = {
        "plan": plan,
        "weights": _weights(run, plan),
        "shape": list(cfg.input_shape),
        "likelihood": cfg.likelihood,
        "latent_dim": cfg.latent_dim,
        "kl": [round(float(v), 4) for v in kl],
        "order": [int(i) for i in np.argsort(-kl)],
        "points": [[round(float(v), 4) for v in row] for row in mu],
        "labels": [int(v) for v in labels],
    }
    title = f"vaekit latent explorer — {run.path.name}"
    template = resources.files("vaekit").joinpath("assets/explorer.html").read_text(encoding="utf-8")
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")  # cannot close the <script> early
    page = template.replace("__TITLE__", html.escape(title)).replace("__DATA__", payload)
    path = Path(out) if out is not None else run.path / "explorer.html"
    atomic_write_bytes(path, page.encode())
    return path
