"""NumPy inference reproduces the PyTorch model on every Gaussian variant, and runs where torch cannot load."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import GAUSSIAN_VARIANTS, saved_run
from vaekit.config import TokenizerConfig
from vaekit.errors import RunError
from vaekit.export.portable import NumpyTokenizer, NumpyVAE, load


@pytest.mark.parametrize("name", GAUSSIAN_VARIANTS)
def test_numpy_matches_torch(tmp_path, name):
    model = saved_run(tmp_path, **GAUSSIAN_VARIANTS[name]).eval()
    vae = NumpyVAE.load(tmp_path)
    x = torch.rand(5, 8, 12, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        mu, logvar = model.encode(x)
        images = model.mean_image(model.decode(mu))
    np_mu, np_logvar = vae.encode(x.numpy())
    np.testing.assert_allclose(np_mu, mu.numpy(), atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(np_logvar, logvar.numpy(), atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(vae.reconstruct(x.numpy()), images.numpy(), atol=1e-5, rtol=1e-4)
    assert vae.sample(4, seed=0).shape == (4, 8, 12)


def test_runs_without_torch(tmp_path):
    model = saved_run(tmp_path, arch="conv", channels=(2, 3), hidden=(4,)).eval()
    x = torch.rand(2, 96, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        want = model.mean_image(model.decode(model.encode(x)[0])).numpy()
    np.save(tmp_path / "x.npy", x.numpy())
    code = (
        "import sys, numpy as np; sys.modules['torch'] = None\n"  # any import of torch now fails
        "from vaekit.export.portable import NumpyVAE\n"
        f"r = NumpyVAE.load({str(tmp_path)!r}).reconstruct(np.load({str(tmp_path / 'x.npy')!r}))\n"
        f"np.save({str(tmp_path / 'got.npy')!r}, r)\n"
        "assert 'torch' not in [m.split('.')[0] for m, v in sys.modules.items() if v is not None]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    np.testing.assert_allclose(np.load(tmp_path / "got.npy"), want, atol=1e-5, rtol=1e-4)


def test_tokenizer_runs_and_missing_files_are_refused(tmp_path):
    with pytest.raises(RunError, match="no config.json"):
        NumpyVAE.load(tmp_path)
    with pytest.raises(RunError, match="tokenizer"):
        NumpyVAE(TokenizerConfig(kind="vq"), {})


@pytest.mark.parametrize("kind", ["vq", "fsq", "mgvq"])
def test_numpy_tokenizer_matches_torch(tmp_path, kind):
    model = saved_run(tmp_path, kind=kind)
    tok = load(tmp_path)
    assert isinstance(tok, NumpyTokenizer)
    x = torch.rand(6, 96, generator=torch.Generator().manual_seed(1))
    want = model.eval().tokenize(x)
    got = tok.encode(x.numpy())
    assert got.shape == tuple(want.shape) and (got == want.numpy()).all()
    np.testing.assert_allclose(tok.decode(got), model.detokenize(want).numpy(), atol=1e-5, rtol=1e-4)
