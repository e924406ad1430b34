"""Multi-group VQ as the MGVQ paper builds it: groups of different sizes, nested (suffix) masking, decoding from
the first k groups, and a token prior whose factorisation stays exact over unequal vocabularies."""

import itertools
import json
import math

import pytest
import torch

from conftest import assert_resume_is_uninterrupted
from vaekit.cli import main
from vaekit.config import TokenizerConfig
from vaekit.config.prior import PriorConfig
from vaekit.errors import ConfigError
from vaekit.models import build_model
from vaekit.models.group_prior import build_prior
from vaekit.quantizers import GroupedVQ
from vaekit.runs.open import open_run
from vaekit.runs.prior import load_prior
from vaekit.training.prior import token_sequences


def test_nested_masking_drops_only_suffixes_at_the_stated_rates():
    q = GroupedVQ((4, 8, 16, 32), 8, drop=(0.0, 0.2, 0.3, 0.4)).train()
    q.generator = torch.Generator().manual_seed(0)
    z = torch.randn(5, 3, 8)
    kept = []
    for _ in range(400):
        out = q(z)
        parts = out.z_q.chunk(4, dim=-1)
        k = next((g for g, p in enumerate(parts) if not p.abs().sum()), 4)  # the first all-zero group
        assert all(p.abs().sum() > 0 for p in parts[:k]) and all(not p.abs().sum() for p in parts[k:])  # a suffix
        kept.append(k)
    freq = torch.bincount(torch.tensor(kept), minlength=5)[1:] / len(kept)
    # u < 0.2 keeps 1 group, 0.2 <= u < 0.3 keeps 2, 0.3 <= u < 0.4 keeps 3, else all 4
    assert torch.allclose(freq, torch.tensor([0.2, 0.1, 0.1, 0.6]), atol=0.06), freq
    q.eval()
    assert all(p.abs().sum() > 0 for p in q(z).z_q.chunk(4, dim=-1))  # evaluation keeps every group


def test_a_draw_per_image_drops_only_suffixes_at_the_stated_rates_and_each_image_its_own():
    """``per_image`` (--nested-draw image): each image keeps a prefix of the groups, the counts follow the same
    probabilities as one draw per step, one batch mixes counts, and evaluation keeps every group."""
    q = GroupedVQ((4, 8, 16, 32), 8, drop=(0.0, 0.2, 0.3, 0.4), per_image=True).train()
    q.generator = torch.Generator().manual_seed(0)
    z = torch.randn(400, 3, 8)
    full = q(z, 4).z_q
    out = q(z)
    kept = []
    for image, codes in zip(out.z_q, full, strict=True):  # (3, 8) each
        parts = image.chunk(4, dim=-1)
        k = next((g for g, p in enumerate(parts) if not p.abs().sum()), 4)
        assert torch.equal(image[:, : 2 * k], codes[:, : 2 * k]) and not image[:, 2 * k :].abs().sum()  # a suffix
        kept.append(k)
    freq = torch.bincount(torch.tensor(kept), minlength=5)[1:] / len(kept)
    assert torch.allclose(freq, torch.tensor([0.2, 0.1, 0.1, 0.6]), atol=0.06), freq
    assert (out.indices < torch.tensor([4, 8, 16, 32])).all()  # the dropped groups are still quantised
    assert all(p.abs().sum() > 0 for p in q.eval()(z).z_q.chunk(4, dim=-1))
    for bad, match in (
        ({"nested_draw": "image"}, "add --nested-groups"),
        ({"nested_draw": "image", "nested_groups": True, "nested_full": True}, "--nested-draw step"),
    ):
        with pytest.raises(ConfigError, match=match):
            TokenizerConfig(kind="mgvq", **bad).validate()  # fmt: skip


def _mgvq(**kw):
    torch.manual_seed(0)
    cfg = TokenizerConfig(kind="mgvq", input_shape=(16, 16), width=8, code_dim=6, **kw)
    return build_model(cfg).eval()


def test_decoding_from_all_groups_is_full_decoding_and_unequal_tokens_round_trip():
    m = _mgvq(group_codes=(4, 8, 16), nested_groups=True)
    x = torch.rand(3, 256)
    assert torch.equal(m.reconstruct(x, 3), m.reconstruct(x))
    assert not torch.equal(m.reconstruct(x, 1), m.reconstruct(x))
    tokens = m.tokenize(x)  # (B, h, w, G)
    assert tokens.shape == (3, 4, 4, 3)
    for g, k in enumerate((4, 8, 16)):
        assert 0 <= tokens[..., g].min() and tokens[..., g].max() < k
    assert torch.allclose(m.detokenize(tokens), m.reconstruct(x), atol=1e-6)
    assert torch.allclose(m.detokenize(tokens, 2), m.reconstruct(x, 2), atol=1e-6)
    bad = tokens.clone()
    bad[0, 0, 0, 0] = 4  # valid in groups 2 and 3, not in group 1 (4 codes)
    with pytest.raises(ConfigError, match="in group 1"):
        m.detokenize(bad)
    with pytest.raises(ConfigError, match="1 ... 3"):
        m.reconstruct(x, 4)


def test_fine_tuning_epochs_keep_every_group():
    m = _mgvq(group_codes=(4, 8), nested_groups=True, finetune_epochs=2)
    for epoch, nested in ((0, True), (2, True), (3, False), (4, False)):
        m.start_epoch(epoch, 5)
        assert m.quantizer.nested is nested


def test_nested_full_decodes_every_group_and_the_kept_prefix_on_a_masked_step():
    """--nested-full: a step that drops groups returns the full decode as ``logits`` and the kept prefix's
    decode as ``prefix_logits``; a step that keeps every group, and evaluation, have no prefix."""
    m = _mgvq(group_codes=(4, 8, 16), nested_groups=True, nested_full=True, group_drop=(0.0, 1.0, 1.0)).train()
    m.generator = torch.Generator().manual_seed(0)
    x = torch.rand(3, 256)
    out = m(x)  # u < 1 always: only the first group is kept
    assert out.prefix_logits is not None and all(p.abs().sum() > 0 for p in out.z_q.chunk(3, dim=-1))
    m.eval()
    tokens = m.tokenize(x)
    assert torch.allclose(torch.sigmoid(out.logits).reshape(3, 16, 16), m.detokenize(tokens), atol=1e-5)
    assert torch.allclose(torch.sigmoid(out.prefix_logits).reshape(3, 16, 16), m.detokenize(tokens, 1), atol=1e-5)
    assert m(x).prefix_logits is None
    m.cfg.finetune_epochs = 1
    m.train().start_epoch(4, 5)  # the unmasked stage keeps every group: no prefix
    assert m(x).prefix_logits is None
    with pytest.raises(ConfigError, match="add --nested-groups"):
        TokenizerConfig(kind="mgvq", nested_full=True).validate()


@pytest.mark.parametrize("group_layers", [0, 1], ids=["per-token", "per-position"])
def test_the_prior_over_unequal_groups_is_an_exact_distribution(group_layers):
    """With group sizes 2, 3, 4 on one grid position, the 24 sequences' probabilities sum to 1, and samples
    take each position's codes only from its group; for the prior of one step per token and per position."""
    torch.manual_seed(0)
    cfg = PriorConfig(vocab=4, length=6, group_vocab=(2, 3, 4), layers=1, heads=2, dim=16, group_layers=group_layers)
    prior = build_prior(cfg).eval()
    seqs = torch.tensor(list(itertools.product(range(2), range(3), range(4))))  # (24, 3): one position
    with torch.no_grad():
        # two positions: sum over the first, fix the second to each of its 24 values, check the marginal sums
        first = prior.log_prob(torch.cat([seqs, torch.zeros_like(seqs)], 1)).exp()
        both = torch.stack([prior.log_prob(torch.cat([seqs, s.expand(24, 3)], 1)).exp().sum() for s in seqs])
    assert both.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert 0 < first.sum() < 1
    draws = prior.generate(200, generator=torch.Generator().manual_seed(1))
    for g, k in enumerate((2, 3, 4)):
        assert draws[:, g::3].max() < k


@pytest.mark.parametrize(
    "args, message",
    [
        (["--group-drop", "0,0.5"], "add --nested-groups"),
        (["--nested-groups", "--group-codes", "4,8,16", "--group-drop", "0,0.5"], "--code-dim 63"),
        (["--nested-groups", "--group-codes", "4,8,16", "--code-dim", "6", "--group-drop", "0,0.5"], "per group (3)"),
        (["--nested-groups", "--group-codes", "4,8", "--group-drop", "0.1,0.5"], "start the list with 0"),
        (["--finetune-epochs", "1"], "add --nested-groups"),
    ],
)
def test_nested_settings_that_cannot_apply_are_one_line(args, message, tmp_path, blob_npz, capsys):
    base = ["train", "--model", "mgvq", "--dataset", str(blob_npz), "--out", str(tmp_path / "r"), "--quiet"]
    assert main([*base, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_nested_mgvq_end_to_end(tmp_path, blob_npz, capsys):
    run = tmp_path / "mgvq"
    args = ["train", "--model", "mgvq", "--dataset", str(blob_npz), "--group-codes", "4,8,16", "--nested-groups",
            "--finetune-epochs", "1", "--epochs", "2", "--code-dim", "6", "--width", "8", "--precision", "fp32",
            "--out", str(run), "--quiet"]  # fmt: skip
    assert main(args) == 0
    assert (run / "groups.png").exists() and "Groups, coarse to fine" in (run / "report.html").read_text()
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json", "--groups-used", "1"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert len(m["groups"]["psnr"]) == 3 and m["psnr"] == pytest.approx(m["groups"]["psnr"][0])
    assert len(m["codebook_usage_per_group"]) == 3
    assert main(["recon", str(run), "--groups-used", "2", "--out", str(tmp_path / "r")]) == 0
    assert main(["tokenize", str(run), "--out", str(tmp_path / "t.npy")]) == 0
    assert main(["detokenize", str(run), str(tmp_path / "t.npy"), "--groups-used", "1", "--out",
                 str(tmp_path / "d.png")]) == 0  # fmt: skip
    assert main(["prior", str(run), "--epochs", "1", "--layers", "1", "--dim", "16", "--heads", "2", "--quiet",
                 "--precision", "fp32"]) == 0  # fmt: skip
    assert main(["sample", str(run), "-n", "4", "--out", str(tmp_path / "s.png")]) == 0
    # the prior of one step per grid position: fits on the groups of different sizes, samples, scores the test split
    assert main(["prior", str(run), "--epochs", "1", "--layers", "1", "--dim", "16", "--heads", "2", "--quiet",
                 "--precision", "fp32", "--group-layers", "1", "--overwrite", "--no-report"]) == 0  # fmt: skip
    assert json.loads((run / "prior" / "config.json").read_text())["prior"]["group_vocab"] == [4, 8, 16]
    assert main(["sample", str(run), "-n", "4", "--out", str(tmp_path / "s2.png")]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert math.isfinite(m["prior_nll"])  # and it splits into each group's terms, one per group, that sum to it
    assert len(m["prior_nll_groups"]) == 3 and all(v > 0 for v in m["prior_nll_groups"])
    assert sum(m["prior_nll_groups"]) == pytest.approx(m["prior_nll"], rel=1e-9)
    opened = open_run(run)  # group g's tokens are every G-th of the sequence, from g
    logp = load_prior(run).token_log_probs(token_sequences(opened.tokenizer, opened.x_test))  # (N, h w G)
    by_slice = [-logp[:, g::3].sum(1).mean().item() for g in range(3)]
    assert m["prior_nll_groups"] == pytest.approx(by_slice, rel=1e-4)
    for bad, message in [
        (["evaluate", str(run), "--groups-used", "4"], "1 ... 3"),
        (["export", str(run), "--out", str(tmp_path / "x")], "does not write nested"),
    ]:
        assert main(bad) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("draw", ["step", "image"])
def test_a_resumed_nested_run_equals_an_uninterrupted_one(tmp_path, blob_npz, draw):
    """The groups each step (or each image) keeps are drawn from the run's generator, which the checkpoint
    keeps. (Without fine-tuning epochs: they count from the end of --epochs, so a run of one epoch has a
    different plan.)"""
    args = ["train", "--model", "mgvq", "--dataset", str(blob_npz), "--group-codes", "4,8,16", "--nested-groups",
            "--nested-draw", draw, "--code-dim", "6", "--width", "8", "--precision", "fp32", "--quiet",
            "--no-report"]  # fmt: skip
    assert_resume_is_uninterrupted(args, tmp_path)
