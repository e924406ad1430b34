from __future__ import annotations

import os

import numpy as np
import pytest

# pytest-xdist runs the suite in one worker process per core (pyproject: -n auto); each worker, and each vaekit
# process a test starts, then computes on one thread, so the workers do not fight over the cores. Set before
# PyTorch is imported anywhere in the worker.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's ~/.cache or ./data from a test."""
    monkeypatch.setenv("VAEKIT_CACHE", str(tmp_path_factory.mktemp("cache")))


def blob_images(n: int = 240, side: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Digit-like data: each class is a bright square at its own position, plus noise; uint8 (n, side, side)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, size=n)
    x = rng.integers(0, 40, size=(n, side, side)).astype(np.float64)
    half = side // 2
    for i, c in enumerate(y):
        r, col = divmod(int(c), 2)
        x[i, r * half : (r + 1) * half, col * half : (col + 1) * half] += 200
    return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.int64)


@pytest.fixture
def blob_npz(tmp_path):
    x, y = blob_images()
    path = tmp_path / "blobs.npz"
    np.savez(path, x=x, y=y)
    return path


# Gaussian-VAE variants small enough to build in milliseconds; every inference path is checked on each
GAUSSIAN_VARIANTS = {
    "mlp": dict(hidden=(12, 8)),
    "mlp-split": dict(hidden=(12,), encoder_paths="split"),
    "mlp-tanh-dvae": dict(hidden=(12, 8), activation="tanh", encoder_paths="dvae"),  # exported: path A
    "mlp-fixed-sigma": dict(hidden=(12,), posterior_sigma=0.4),
    "conv": dict(arch="conv", channels=(3, 5), hidden=(7,)),
    "conv-split-gaussian": dict(arch="conv", channels=(2, 4), hidden=(), encoder_paths="split", likelihood="gaussian"),
}


def saved_run(path, **model_kw):
    """An untrained model (Gaussian VAE, or a tokenizer with ``kind=``) on 8x12 images, small codebooks,
    with perturbed weights, saved as a run directory at path; returns the model."""
    import torch

    from vaekit.config import GaussianConfig, ModelConfig, RunConfig, TiTokConfig, TokenizerConfig
    from vaekit.models import build_model
    from vaekit.runs.checkpoint import save_config, save_model

    torch.manual_seed(0)
    model_kw.setdefault("preset", model_kw.get("kind", "test"))
    if model_kw.get("kind", "gaussian") == "gaussian":
        model: ModelConfig = GaussianConfig(input_shape=(8, 12), latent_dim=3, **model_kw)
    elif model_kw["kind"] == "titok":
        small = dict(patch=4, tokens=16, width=16, depth=2, heads=2, code_dim=4, codebook_size=16, levels=(5, 4))
        model = TiTokConfig(input_shape=(8, 12), **(small | model_kw))
    else:
        model = TokenizerConfig(input_shape=(8, 12), codebook_size=16, code_dim=4, **model_kw)
    cfg = RunConfig(model=model)
    model = build_model(cfg.model)
    with torch.no_grad():  # biases off zero and BatchNorm statistics away from (0, 1): every term is exercised
        for name, t in model.state_dict().items():
            if name.endswith("running_var"):
                t.uniform_(0.5, 2.0)
            elif t.is_floating_point():
                t.add_(0.1 * torch.randn_like(t))
    save_model(path, model, cfg)
    save_config(path, cfg)
    return model


def assert_resume_is_uninterrupted(train_args: list[str], tmp_path) -> None:
    """``vaekit train`` for two epochs, and for one then resumed to two, end with the same weights, bit for bit."""
    import torch
    from safetensors.torch import load_file

    from vaekit.cli import main

    assert main([*train_args, "--epochs", "2", "--out", str(tmp_path / "full")]) == 0
    assert main([*train_args, "--epochs", "1", "--out", str(tmp_path / "part")]) == 0
    assert main(["train", "--resume", "--epochs", "2", "--out", str(tmp_path / "part"), "--quiet"]) == 0
    a = load_file(str(tmp_path / "full" / "model.safetensors"))
    b = load_file(str(tmp_path / "part" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
