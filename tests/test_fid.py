"""Sample quality: the Fréchet distance against its closed form, the reference classifier (trained once,
cached), and `vaekit evaluate --samples` on a Gaussian VAE and on a tokenizer with a (conditional) prior."""

import json

import numpy as np
import pytest
import torch

from conftest import blob_images
from vaekit.cli import main
from vaekit.data import cache_dir, load_path
from vaekit.evaluation.fid import feature_stats, fid, frechet_distance
from vaekit.training.classifier import reference_classifier


def test_a_set_against_itself_is_zero_and_the_distance_is_symmetric():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(500, 6)), rng.normal(1.0, 2.0, size=(400, 6))
    assert abs(fid(a, a)) < 1e-8
    assert fid(a, b) == pytest.approx(fid(b, a), rel=1e-9)
    assert fid(a, b) > 0


def test_two_gaussians_match_the_closed_form():
    """Diagonal covariances: FD = |mu_a - mu_b|^2 + sum (s_a + s_b - 2 sqrt(s_a s_b)); a rotation of both
    covariances by one orthogonal matrix leaves it unchanged; samples approach it as N grows."""
    mu_a, mu_b = np.array([0.0, 1.0, -2.0]), np.array([0.5, 0.0, 0.0])
    s_a, s_b = np.array([1.0, 4.0, 0.25]), np.array([2.0, 1.0, 1.0])
    exact = ((mu_a - mu_b) ** 2).sum() + (s_a + s_b - 2 * np.sqrt(s_a * s_b)).sum()
    assert frechet_distance(mu_a, np.diag(s_a), mu_b, np.diag(s_b)) == pytest.approx(exact, rel=1e-10)
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))
    rotated = frechet_distance(q @ mu_a, q @ np.diag(s_a) @ q.T, q @ mu_b, q @ np.diag(s_b) @ q.T)
    assert rotated == pytest.approx(exact, rel=1e-8)
    rng = np.random.default_rng(2)
    xa = mu_a + rng.normal(size=(200_000, 3)) * np.sqrt(s_a)
    xb = mu_b + rng.normal(size=(200_000, 3)) * np.sqrt(s_b)
    assert fid(xa, xb) == pytest.approx(exact, abs=0.05)
    mu, cov = feature_stats(torch.as_tensor(xa[:10]))
    assert mu.shape == (3,) and cov.shape == (3, 3)


def test_the_reference_classifier_learns_the_blobs_and_is_cached(blob_npz):
    ds = load_path(blob_npz)
    clf, acc = reference_classifier(ds, torch.device("cpu"))
    assert acc >= 0.9  # four bright squares in four places
    cached = list((cache_dir() / "reference").glob("blobs-*.safetensors"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    again, acc2 = reference_classifier(ds, torch.device("cpu"))
    assert acc2 == acc and cached[0].stat().st_mtime_ns == stamp  # read, not retrained
    for k, v in clf.state_dict().items():
        assert torch.equal(v, again.state_dict()[k])


def test_evaluate_samples_on_a_gaussian_vae_and_conditional_tokenizer_samples_carry_their_label(
    tmp_path, blob_npz, capsys
):
    gauss = tmp_path / "g"
    common = ["--dataset", str(blob_npz), "--device", "cpu", "--precision", "fp32", "--quiet", "--no-report"]
    assert main(["train", *common, "--epochs", "2", "--hidden", "16", "--latent-dim", "2", "--out", str(gauss)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(gauss), "--json", "--samples", "200"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["fid_samples"] == 200 and len(m["sample_labels"]) == 4 and sum(m["sample_labels"]) == 200
    assert m["fid"] > 0 and 0 <= m["fid_floor"] < m["fid"]  # real images score below generated ones
    assert main(["evaluate", str(gauss), "--samples", "1"]) == 2
    assert "--samples must be >= 2" in capsys.readouterr().err

    x, y = blob_images(960)  # enough for a tokenizer that keeps the blob's place in its tokens
    np.savez(tmp_path / "blobs960.npz", x=x, y=y)
    common[1] = str(tmp_path / "blobs960.npz")
    tok = tmp_path / "vq"
    small = ["--width", "8", "--code-dim", "4", "--codebook-size", "16", "--batch-size", "32", "--lr", "3e-3"]
    assert main(["train", *common, "--model", "vq", "--epochs", "4", *small, "--out", str(tok)]) == 0
    prior = ["--layers", "1", "--heads", "2", "--dim", "32", "--batch-size", "32", "--lr", "3e-3", "--epochs", "8",
             "--precision", "fp32"]  # fmt: skip
    assert main(["prior", str(tok), *prior, "--conditional", "--device", "cpu", "--quiet", "--no-report"]) == 0
    from vaekit.analysis.sampling import sample_tokens_images

    clf, _ = reference_classifier(load_path(tmp_path / "blobs960.npz"), torch.device("cpu"))
    for label in range(4):
        images = sample_tokens_images(tok, 40, seed=label, label=label)
        _, predicted = clf.predict(images.reshape(40, -1))
        assert (predicted == label).double().mean() >= 0.75, (label, predicted.tolist())
