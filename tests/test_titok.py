"""TiTok, the 1-D tokenizer (models/titok.py): shapes, what the decoder sees, ordered tokens, adaptive lengths,
and the verbs end to end on small synthetic images."""

import itertools
import json

import numpy as np
import pytest
import torch

from conftest import assert_resume_is_uninterrupted
from vaekit.cli import main
from vaekit.config import TiTokConfig
from vaekit.errors import ConfigError
from vaekit.evaluation.lengths import LENGTH_RULES, fewest_tokens, prefix_psnr, shortest_prefix
from vaekit.models import TiTok, build_model
from vaekit.models.attention import attention
from vaekit.models.titok import ViT

SMALL = dict(width=16, depth=1, heads=2, code_dim=4, codebook_size=32)


def titok(**kw) -> TiTok:
    torch.manual_seed(0)
    model = build_model(TiTokConfig(**(SMALL | kw)))
    assert isinstance(model, TiTok)
    return model


@pytest.mark.parametrize("tokens", [16, 64])
@pytest.mark.parametrize("shape, patch", [((8, 12), 4), ((8, 12, 3), 2), ((16, 16, 3), 8)])
@pytest.mark.parametrize("quantizer", ["vq", "fsq"])
def test_shapes_for_any_k_and_non_square_images(tokens, shape, patch, quantizer):
    model = titok(input_shape=shape, patch=patch, tokens=tokens, token_quantizer=quantizer, levels=(5, 3))
    p = int(np.prod(shape))
    x = torch.rand(3, p)
    out = model.train()(x)
    d = 2 if quantizer == "fsq" else 4
    assert out.logits.shape == (3, p) and out.z_e.shape == (3, tokens, d) and out.indices.shape == (3, tokens)
    assert model.token_shape == (tokens,) and model.grid == (shape[0] // patch, shape[1] // patch)
    idx = model.tokenize(x)
    assert idx.shape == (3, tokens) and 0 <= idx.min() and idx.max() < model.codebook_size
    torch.testing.assert_close(model.detokenize(idx), model.reconstruct(x))


def test_the_position_embeddings_and_the_mask_tokens_are_used():
    """Every learned part of the sequences gets a gradient from the reconstruction: the K latent tokens and their
    positions, the patch positions, the decoder's mask token and its positions."""
    model = titok(input_shape=(8, 12), patch=4, tokens=16)
    model.train()(torch.rand(8, 96))  # k-means initialisation
    out = model(torch.rand(8, 96))
    out.logits.pow(2).sum().backward()
    for name in ("latent_tokens", "latent_pos", "patch_pos", "mask_token", "decoder_patch_pos", "decoder_latent_pos"):
        grad = getattr(model, name).grad
        assert grad is not None and grad.abs().sum() > 0, name
    assert model.absent.grad is None or model.absent.grad.abs().sum() == 0  # no dropout: absent is never used


def test_the_vit_is_pytorchs_transformer_encoder_under_its_names():
    """The ViT's blocks are written out for speed; seeded alike they start with the weights, names and outputs of
    the ``nn.TransformerEncoder`` (norm first, GELU, batch first) that earlier runs were saved from, and take the
    same gradients."""
    width, heads, depth = 16, 2, 2
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, activation="gelu",
                                             batch_first=True, norm_first=True)  # fmt: skip
    ref = torch.nn.ModuleDict({"blocks": torch.nn.TransformerEncoder(layer, depth, enable_nested_tensor=False),
                               "norm": torch.nn.LayerNorm(width)})  # fmt: skip
    torch.manual_seed(0)
    vit = ViT(width, depth, heads)
    want, got = ref.state_dict(), vit.state_dict()
    assert list(got) == list(want)
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=0, atol=0, msg=name)
    x = torch.randn(3, 10, width)
    x_ref, x_vit = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_ref, y_vit = ref["norm"](ref["blocks"](x_ref)), vit(x_vit)
    torch.testing.assert_close(y_vit, y_ref)
    (y_ref * x).sum().backward()
    (y_vit * x).sum().backward()
    torch.testing.assert_close(x_vit.grad, x_ref.grad)
    grads = dict(ref.named_parameters())
    for name, param in vit.named_parameters():
        torch.testing.assert_close(param.grad, grads[name].grad, msg=name)


def test_attention_under_bf16_autocast_is_fp32_attention_of_the_bf16_inputs():
    """The transformers' attention takes bf16 inputs on a CPU to fp32 (PyTorch's bf16 CPU kernel is slow) and
    hands bf16 back: the fp32 result of the same (bf16-rounded) inputs, rounded once; gradients reach q, k, v."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 4, generator=g).bfloat16().requires_grad_() for _ in range(3))
    mask = torch.ones(5, 5, dtype=torch.bool).tril()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = attention(q, k, v, attn_mask=mask)
    want = torch.nn.functional.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out, want.bfloat16(), rtol=0, atol=0)
    out.float().sum().backward()
    assert all(t.grad is not None and t.grad.dtype == torch.bfloat16 and t.grad.abs().sum() > 0 for t in (q, k, v))
    x = torch.randn(2, 3, 5, 4, generator=g)  # fp32 inputs: PyTorch's kernel as it is
    torch.testing.assert_close(attention(x, x, x), torch.nn.functional.scaled_dot_product_attention(x, x, x))


def test_a_patch_that_does_not_divide_the_image_is_one_line():
    with pytest.raises(ConfigError, match="must be divisible by --patch 8"):
        titok(input_shape=(12, 12), patch=8)
    with pytest.raises(ConfigError, match="split evenly into --heads 3"):
        TiTokConfig(width=16, heads=3).validate()


def test_nested_dropout_the_decoder_never_sees_tokens_past_the_kept_prefix():
    model = titok(input_shape=(8, 8), patch=4, tokens=16, nested_dropout=True)
    z = torch.randn(4, 16, 4, requires_grad=True)
    keep = torch.tensor([1, 5, 16, 9])
    model.decode(z, keep).sum().backward()
    assert z.grad is not None
    for i, k in enumerate(keep.tolist()):
        assert z.grad[i, k:].abs().sum() == 0  # past the prefix: no influence at all
        assert (z.grad[i, :k].abs().sum(-1) > 0).all()  # inside it: every token matters
    # the training forward draws the prefix from the model's generator: the same draw, the same output
    x = torch.rand(4, 64)
    model.train()(x)  # k-means initialisation
    model.generator = torch.Generator().manual_seed(3)
    out = model(x)
    drawn = torch.randint(1, 17, (4,), generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(out.logits, model.decode(out.z_q, drawn))


def test_shortest_prefix_on_a_hand_made_table():
    psnr = torch.tensor([[10.0, 12.0, 15.0, 16.0], [20.0, 20.5, 21.0, 21.2], [5.0, 6.0, 7.0, 8.0]])
    assert shortest_prefix(psnr, target_psnr=14.0).tolist() == [3, 1, 4]  # none meets: the full length
    assert shortest_prefix(psnr, max_loss_db=1.0).tolist() == [3, 2, 3]  # 15 >= 16 - 1; 20.5 >= 21.2 - 1; 7 >= 8 - 1
    assert shortest_prefix(psnr, max_loss_db=0.0).tolist() == [4, 4, 4]
    # both: at least 14 dB and within 1 dB of the image's own best; the second image reaches 14 at once but its
    # best is 21.2, so it stops at 20.5; the third never reaches 14 and keeps every token
    assert shortest_prefix(psnr, target_psnr=14.0, max_loss_db=1.0).tolist() == [3, 2, 4]
    assert shortest_prefix(psnr, target_psnr=15.5, max_loss_db=1.0).tolist() == [4, 2, 4]  # the target binds
    with pytest.raises(ConfigError):
        shortest_prefix(psnr)


def test_fewest_tokens_meets_the_mean_target_where_tokens_buy_the_most():
    psnr = torch.tensor([[10.0, 20.0, 21.0, 22.0],  # a big gain from the second token, then 1 dB per token
                         [10.0, 11.0, 12.0, 13.0],  # 1 dB per token throughout
                         [30.0, 30.0, 30.0, 30.0]])  # fmt: skip  # good from one token on
    # the mean at full length is 65 / 3; 1 dB below it the PSNRs must sum to 62 from 50 at one token each: the
    # second token of image 0 buys 10 dB, then 2 more of its tokens buy 2 (image 1's 1 dB per token comes after
    # a 2-token step of the same gain: the finer step first)
    assert fewest_tokens(psnr, 1.0).tolist() == [4, 1, 1]
    assert fewest_tokens(psnr, 4.0).tolist() == [2, 1, 1]  # a sum of 53: image 0's second token is enough
    assert fewest_tokens(psnr, 6.0).tolist() == [1, 1, 1]  # a sum of 47: one token each already gives 50
    assert fewest_tokens(psnr, 0.0).tolist() == [4, 4, 1]  # the full mean; image 2 never needs a second token
    with pytest.raises(ConfigError, match="--mean-loss-db"):
        fewest_tokens(psnr, float("nan"))


@pytest.mark.parametrize("seed", range(5))
def test_fewest_tokens_is_never_beaten_by_more_than_its_last_step(seed):
    """On random PSNR tables: the lengths meet the mean target and stop at each image's best PSNR, and no choice
    of lengths (all K^N tried) meets the target with fewer tokens than the greedy one's less its last segment."""
    g = torch.Generator().manual_seed(seed)
    n, k = 3, 5
    psnr = torch.rand(n, k, generator=g).mul(4).cumsum(1) - torch.rand(n, k, generator=g)  # mostly rising
    need = psnr[:, -1].mean().item() - 1.5
    lengths = fewest_tokens(psnr, 1.5)
    assert psnr.gather(1, (lengths - 1)[:, None]).mean().item() >= need - 1e-6
    assert all(int(lengths[i]) <= int(psnr[i].argmax()) + 1 for i in range(n))
    best = min(sum(c) for c in itertools.product(range(1, k + 1), repeat=n)
               if sum(psnr[i, c[i] - 1].item() for i in range(n)) / n >= need - 1e-6)  # fmt: skip
    assert best <= int(lengths.sum()) <= best + k - 1


class _Ladder(torch.nn.Module):
    """A hand-made ordered tokenizer: image i is a flat grey x_i; decoding L tokens gives x_i + err_i / L, so its
    PSNR rises with L at a rate set per image."""

    def __init__(self, errors):
        super().__init__()
        self.cfg = TiTokConfig(input_shape=(2, 2), tokens=8)
        self.err = torch.tensor(errors)

    def tokenize(self, x):
        return torch.arange(len(x))[:, None].expand(-1, 8)

    def decode_prefix(self, idx, length):
        i = idx[:, 0]
        return (0.5 + self.err[i] / length)[:, None].expand(-1, 4).reshape(-1, 2, 2)


def test_adaptive_length_is_the_shortest_prefix_that_meets_the_target():
    model = _Ladder([0.1, 0.01, 0.4])
    x = torch.full((3, 4), 0.5)
    tokens, psnr = prefix_psnr(model, x)
    assert tokens.shape == (3, 8) and psnr.shape == (3, 8)
    want = torch.tensor([[10 * np.log10(1 / (e / n) ** 2) for n in range(1, 9)] for e in (0.1, 0.01, 0.4)])
    torch.testing.assert_close(psnr.double(), want, rtol=0, atol=1e-3)
    # a target of 30 dB: error / L <= 10^-1.5 = 0.0316, so L = ceil(e / 0.0316): 4, 1, and 8 (13 needed)
    assert shortest_prefix(psnr, target_psnr=30.0).tolist() == [4, 1, 8]


def test_titok_end_to_end(tmp_path, blob_npz, capsys):
    """train (nested dropout), evaluate (adaptive lengths), tokenize --adaptive, detokenize, prior, sample."""
    run = tmp_path / "titok"
    args = ["train", "--model", "titok", "--dataset", str(blob_npz), "--tokens", "16", "--patch", "4", "--width",
            "16", "--depth", "1", "--heads", "2", "--codebook-size", "32", "--code-dim", "4", "--epochs", "2",
            "--nested-dropout", "--precision", "fp32", "--out", str(run), "--quiet"]  # fmt: skip
    assert main(args) == 0
    assert (run / "prefix_psnr.png").exists() and "Ordered tokens" in (run / "report.html").read_text()
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    a = json.loads(capsys.readouterr().out)["adaptive"]
    assert len(a["psnr_at_length"]) == 16 and a["psnr_full"] == pytest.approx(a["psnr_at_length"][-1], abs=1e-3)
    assert set(LENGTH_RULES) == set(a) - {"max_loss_db", "psnr_at_length", "psnr_full"}  # every rule is named
    assert main(["evaluate", str(run)]) == 0
    printed = capsys.readouterr().out
    assert all(f"lengths, {name}" in printed for name, _ in LENGTH_RULES.values())
    for key in LENGTH_RULES:
        assert sum(a[key]["length_histogram"]) == 24 and 1 <= a[key]["mean_length"] <= 16  # the blob test split
    assert a["image_target"]["psnr_adaptive"] >= a["psnr_full"] - 1.0 - 1e-6  # each image within 1 dB of its own
    both, one = a["both_targets"], a["model_target"]
    assert both["psnr_adaptive"] >= a["psnr_full"] - 1.0 - 1e-6  # so is the mean with both targets
    assert both["mean_length"] >= max(one["mean_length"], a["image_target"]["mean_length"]) - 1e-9
    assert a["set_target"]["psnr_adaptive"] >= a["psnr_full"] - 1.0 - 1e-6  # the mean within 1 dB
    assert a["model_target"]["target_psnr"] == pytest.approx(a["psnr_full"] - 1.0)

    out = tmp_path / "tokens.npz"
    assert main(["tokenize", str(run), "--adaptive", "--max-loss-db", "1", "--out", str(out)]) == 0
    with np.load(out) as f:
        tokens, lengths = f["tokens"], f["lengths"]
    assert tokens.shape == (24, 16) and lengths.shape == (24,)
    for row, n in zip(tokens, lengths, strict=True):
        assert (row[:n] >= 0).all() and (row[n:] == -1).all()
    assert main(["detokenize", str(run), str(out), "--out", str(tmp_path / "adaptive.png")]) == 0
    both = ["--adaptive", "--target-psnr", f"{a['psnr_full'] - 1:.3f}", "--max-loss-db", "1"]
    assert main(["tokenize", str(run), *both, "--out", str(tmp_path / "both.npz")]) == 0
    with np.load(tmp_path / "both.npz") as f:
        assert (f["lengths"] >= lengths).all()  # the per-image loss still holds: never shorter than it alone
    assert main(["tokenize", str(run), "--adaptive", "--mean-loss-db", "1", "--out", str(out), "--overwrite"]) == 0
    with np.load(out) as f:
        assert f["tokens"].shape == (24, 16) and f["lengths"].sum() <= lengths.sum() + 15
    assert main(["tokenize", str(run), "--out", str(tmp_path / "t.npy")]) == 0
    assert np.load(tmp_path / "t.npy").shape == (24, 16)

    assert main(["prior", str(run), "--epochs", "1", "--layers", "1", "--dim", "16", "--heads", "2", "--quiet",
                 "--precision", "fp32"]) == 0  # fmt: skip
    assert main(["sample", str(run), "--out", str(tmp_path / "s.png"), "-n", "8"]) == 0
    assert (tmp_path / "s.png").stat().st_size > 0
    assert main(["export", str(run), "--out", str(tmp_path / "onnx")]) == 0  # parity: tests/test_onnx_export.py
    assert (tmp_path / "onnx" / "decoder.onnx").exists()


def test_adaptive_tokenize_refuses_what_it_cannot_do(tmp_path, blob_npz, capsys):
    run = tmp_path / "plain"
    args = ["train", "--model", "titok", "--dataset", str(blob_npz), "--tokens", "16", "--patch", "4", "--width",
            "16", "--depth", "1", "--heads", "2", "--epochs", "1", "--precision", "fp32", "--out", str(run), "--quiet",
            "--no-report"]  # fmt: skip
    assert main(args) == 0
    capsys.readouterr()
    cases = [
        (["--adaptive", "--max-loss-db", "1", "--out", "t.npz"], "--nested-dropout"),  # unordered tokens
        (["--adaptive", "--out", "t.npz"], "--target-psnr DB, --max-loss-db DB (or both), or --mean-loss-db DB alone"),
        (["--adaptive", "--max-loss-db", "1", "--mean-loss-db", "1", "--out", "t.npz"], "--mean-loss-db DB alone"),
        (["--adaptive", "--target-psnr", "20", "--out", "t.npy"], "expected an .npz file name"),
        (["--target-psnr", "20", "--out", "t.npy"], "add --adaptive"),
        (["--mean-loss-db", "1", "--out", "t.npy"], "add --adaptive"),
        (["--adaptive", "--target-psnr", "nan", "--out", "t.npz"], "finite"),
    ]
    for extra, message in cases:
        extra = [str(tmp_path / a) if a.startswith("t.") else a for a in extra]
        assert main(["tokenize", str(run), *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert not list(tmp_path.glob("t.*"))


def test_a_resumed_nested_titok_equals_an_uninterrupted_one(tmp_path, blob_npz):
    """One epoch, then a resume to two, ends with the weights of two uninterrupted epochs (the prefixes nested
    dropout draws come from the run's generator, which the checkpoint keeps)."""
    args = ["train", "--model", "titok", "--dataset", str(blob_npz), "--tokens", "16", "--patch", "4", "--width",
            "16", "--depth", "1", "--heads", "2", "--codebook-size", "32", "--code-dim", "4", "--nested-dropout",
            "--precision", "fp32", "--batch-size", "64", "--quiet", "--no-report"]  # fmt: skip
    assert_resume_is_uninterrupted(args, tmp_path)
