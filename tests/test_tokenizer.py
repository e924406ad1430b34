"""Conv tokenizers end to end on small synthetic images: training, metrics, tokens in and out, CLI."""

import json

import numpy as np
import pytest
import torch

from vaekit.cli import main
from vaekit.config import TokenizerConfig
from vaekit.evaluation.metrics import usage_stats
from vaekit.models import ConvTokenizer, build_model


@pytest.mark.parametrize("kind, shape", [("vq", (4, 2, 2)), ("fsq", (4, 2, 2)), ("mgvq", (4, 2, 2, 2))])
def test_tokens_round_trip_through_the_decoder(kind, shape):
    torch.manual_seed(0)
    model = build_model(TokenizerConfig(kind=kind, input_shape=(8, 8), codebook_size=16, code_dim=8))
    assert isinstance(model, ConvTokenizer)
    model.train()(torch.rand(16, 64))  # k-means initialisation on a first batch
    x = torch.rand(4, 64)
    tokens = model.tokenize(x)
    assert tokens.shape == shape and tokens.dtype == torch.int64
    assert 0 <= tokens.min() and tokens.max() < model.codebook_size
    torch.testing.assert_close(model.detokenize(tokens), model.reconstruct(x))


def test_usage_stats():
    counts = torch.tensor([[5, 5, 0, 0]])
    s = usage_stats(counts)
    assert s["codebook_usage"] == 0.5 and s["dead_codes"] == 2 and s["perplexity"] == pytest.approx(2.0)


@pytest.mark.parametrize("kind", ["vq", "vq-ema", "fsq", "mgvq"])
def test_train_evaluate_tokenize_detokenize(kind, tmp_path, blob_npz, capsys):
    run = tmp_path / kind
    extra = ["--codebook-update", "ema"] if kind == "vq-ema" else []
    kind = kind.split("-")[0]
    args = [
        "train",
        "--model",
        kind,
        "--dataset",
        str(blob_npz),
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--device",
        "cpu",
        "--quiet",
        "--out",
        str(run),
        *extra,
    ]
    if kind != "fsq":
        args += ["--codebook-size", "16", "--code-dim", "8"]
    else:
        args += ["--levels", "4,3,3"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert {"mse", "recon", "codebook_usage", "perplexity", "dead_codes", "params"} <= set(m)
    assert 0 < m["codebook_usage"] <= 1 and m["mse"] < 0.2
    assert main(["tokenize", str(run), "--out", str(tmp_path / "t.npy")]) == 0
    tokens = np.load(tmp_path / "t.npy")
    assert tokens.shape[1:] == ((2, 2, 2) if kind == "mgvq" else (2, 2)) and tokens.dtype == np.int32
    assert main(["detokenize", str(run), str(tmp_path / "t.npy"), "--out", str(tmp_path / "g.png")]) == 0
    assert (tmp_path / "g.png").stat().st_size > 0
    assert (run / "report.html").is_file() and (run / "code_usage.png").is_file()
    update = json.loads((run / "config.json").read_text())["model"]["codebook_update"]
    assert update == ("ema" if extra else "loss")
    bad = tmp_path / "bad.npy"
    np.save(bad, np.full((2, 3, 3), 1, np.int32))
    assert main(["detokenize", str(run), str(bad), "--out", str(tmp_path / "x.png")]) == 2
    assert main(["sample", str(run), "--out", str(tmp_path / "s.png")]) == 2  # no token prior yet
    assert "no token prior; train one with `vaekit prior" in capsys.readouterr().err
    assert main(["diagnose", str(run)]) == 2  # a Gaussian-latent tool on a tokenizer
    assert "tokenizer" in capsys.readouterr().err


def test_tokenizer_flags_are_checked(tmp_path, blob_npz, capsys):
    base = ["train", "--dataset", str(blob_npz), "--quiet", "--out", str(tmp_path / "r")]
    assert main([*base, "--model", "mgvq", "--code-dim", "9", "--groups", "2"]) == 2
    assert "split evenly" in capsys.readouterr().err
    assert main([*base, "--model", "fsq", "--levels", "8,1"]) == 2
    assert main([*base, "--model", "vq", "--preset", "tiny"]) == 2
