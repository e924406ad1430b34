"""The token prior: causality, KV-cache sampling, exact probabilities, the discrete-model bound, and the
`vaekit prior` / `sample` / `evaluate` verbs on a small tokenizer run (fit, resume bit for bit, errors)."""

import itertools
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from vaekit.cli import main
from vaekit.config import TokenizerConfig
from vaekit.errors import ConfigError
from vaekit.losses import recon_nll
from vaekit.models import ConvTokenizer
from vaekit.models.group_prior import build_prior
from vaekit.models.transformer import PriorBase, PriorConfig, TokenTransformer


def _prior(group_layers: int = 0, **kw) -> PriorBase:
    """A small prior: one step per token, or (``group_layers`` >= 1) one per position of two groups."""
    cfg = {"vocab": 5, "length": 8, "layers": 2, "heads": 2, "dim": 16} | kw
    if group_layers:
        cfg = {"group_vocab": (cfg["vocab"],) * 2} | cfg | {"group_layers": group_layers}
    torch.manual_seed(0)
    return build_prior(PriorConfig(**cfg)).eval()


# the same invariants for the prior of one step per token and the one of one step per grid position
BOTH = pytest.mark.parametrize("group_layers", [0, 2], ids=["per-token", "per-position"])


@BOTH
def test_a_tokens_logits_do_not_see_later_tokens(group_layers):
    """Position i predicts token i from the start token and tokens < i: changing tokens >= j leaves the logits
    of positions <= j unchanged, and changes a later one."""
    p = _prior(group_layers)
    t = torch.randint(0, 5, (4, 8), generator=torch.Generator().manual_seed(1))
    for j in range(8):
        u = t.clone()
        u[:, j:] = (u[:, j:] + 1) % 5
        a, b = p(t), p(u)
        torch.testing.assert_close(a[:, : j + 1], b[:, : j + 1], rtol=0, atol=1e-6)
        if j < 7:
            assert (a[:, j + 1 :] - b[:, j + 1 :]).abs().max() > 1e-4


@BOTH
def test_log_prob_is_a_normalised_distribution_over_all_sequences(group_layers):
    p = _prior(group_layers, vocab=3, length=4)
    every = torch.tensor(list(itertools.product(range(3), repeat=4)))  # all 81 sequences
    total = torch.logsumexp(p.log_prob(every).double(), 0)
    assert abs(total.item()) < 1e-5  # sum of p = 1


@BOTH
def test_log_prob_over_groups_of_different_sizes_is_a_normalised_distribution(group_layers):
    """Two positions of groups with 2 and 3 codes: the 36 sequences' probabilities sum to 1 and a code outside
    its group has probability 0."""
    p = _prior(group_layers, vocab=3, length=4, group_vocab=(2, 3))
    every = torch.tensor(list(itertools.product(range(2), range(3), range(2), range(3))))
    assert abs(torch.logsumexp(p.log_prob(every).double(), 0).item()) < 1e-5
    assert p.log_prob(torch.tensor([[2, 0, 0, 0]])).item() == float("-inf")


@BOTH
@pytest.mark.parametrize("top_k,temperature", [(0, 1.0), (2, 0.7)])
def test_kv_cache_sampling_equals_rerunning_the_prefix(top_k, temperature, group_layers):
    p = _prior(group_layers, classes=3)
    labels = torch.tensor([0, 1, 2, 1, 0, 2])
    kw = dict(labels=labels, top_k=top_k, temperature=temperature)
    cached = p.generate(6, generator=torch.Generator().manual_seed(5), **kw)
    plain = p.generate(6, generator=torch.Generator().manual_seed(5), cache=False, **kw)
    assert torch.equal(cached, plain)
    assert cached.shape == (6, 8) and cached.min() >= 0 and cached.max() < 5
    if top_k:  # every drawn token is among the top_k of its position's distribution
        logits = p(cached, labels)
        kth = torch.topk(logits, top_k, -1).values[..., -1]
        assert (logits.gather(-1, cached[..., None]).squeeze(-1) >= kth - 1e-5).all()


@BOTH
def test_class_conditional_start_tokens(group_layers):
    p = _prior(group_layers, classes=2)
    t = torch.randint(0, 5, (2, 8), generator=torch.Generator().manual_seed(0))
    assert (p(t, torch.tensor([0, 0])) - p(t, torch.tensor([1, 1]))).abs().max() > 1e-4
    with pytest.raises(ConfigError, match="class-conditional"):
        p.generate(2)
    with pytest.raises(ConfigError, match=r"labels must lie in \[0, 2\)"):
        p(t, torch.tensor([0, 2]))


def test_the_bound_on_a_hand_made_model():
    """A 1x1-token FSQ tokenizer with 3 codes and a prior over them: log p(x) = log sum_z p(x|z) p(z) by
    enumeration, and recon + prior_nll (what `vaekit evaluate` reports) bounds -log p(x) from above, with
    equality when the posterior puts all its mass on z_q(x)."""
    from vaekit.training.prior import token_sequences

    torch.manual_seed(0)
    tok = ConvTokenizer(TokenizerConfig(kind="fsq", input_shape=(4, 4), levels=(3,), width=4, res_blocks=0)).eval()
    prior = TokenTransformer(PriorConfig(vocab=3, length=1, layers=1, heads=1, dim=8)).eval()
    x = torch.rand(20, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        codes = torch.arange(3).reshape(3, 1, 1)
        logits = tok.decode(tok.codes(codes))  # (3, 16): the decoder's output for each code
        log_px_z = -torch.stack([recon_nll(logits[k].expand(20, 16), x, "bernoulli") for k in range(3)], 1)  # (20, 3)
        log_pz = prior.log_prob(codes.reshape(3, 1))  # (3,)
        exact = -torch.logsumexp(log_px_z + log_pz, 1)  # -log p(x), (20,)
        z = token_sequences(tok, x)  # (20, 1)
        recon = recon_nll(tok(x).logits, x, "bernoulli")
        bound = recon - prior.log_prob(z)
    assert (bound >= exact - 1e-4).all()
    # the gap is -log q(z_q | x) under the exact posterior p(z | x)
    post = torch.softmax(log_px_z + log_pz, 1).gather(1, z).squeeze(1)
    torch.testing.assert_close(bound - exact, -torch.log(post), atol=1e-4, rtol=1e-4)


@pytest.fixture
def vq_run(tmp_path, blob_npz):
    run = tmp_path / "vq"
    args = ["train", "--model", "vq", "--dataset", str(blob_npz), "--epochs", "1", "--batch-size", "32"]
    small = ["--width", "4", "--code-dim", "4", "--codebook-size", "8", "--device", "cpu", "--precision", "fp32"]
    assert main([*args, *small, "--quiet", "--no-report", "--out", str(run)]) == 0
    return run


PRIOR = "--layers 1 --heads 2 --dim 16 --batch-size 16 --device cpu --precision fp32 --quiet --no-report".split()


def test_a_bf16_prior_resumes_bit_for_bit_and_keeps_its_precision(tmp_path, vq_run):
    """--precision bf16 (what auto picks on a CPU with bf16 units): the products under autocast; the saved config
    holds the precision, so a resume keeps it whatever it is asked, and equals an uninterrupted fit."""
    bf16 = [*PRIOR[: PRIOR.index("--precision")], "--precision", "bf16", *PRIOR[PRIOR.index("--precision") + 2 :]]
    assert main(["prior", str(vq_run), *bf16, "--epochs", "1"]) == 0
    assert main(["prior", str(vq_run), *PRIOR, "--epochs", "2", "--resume"]) == 0  # PRIOR asks for fp32
    d = vq_run / "prior"
    assert json.loads((d / "config.json").read_text())["train"]["precision"] == "bf16"
    assert [json.loads(x)["precision"] for x in (d / "metrics.jsonl").read_text().splitlines()] == ["bf16"] * 2
    straight = tmp_path / "straight"
    straight.mkdir()
    for name in ("config.json", "model.safetensors"):
        (straight / name).write_bytes((vq_run / name).read_bytes())
    assert main(["prior", str(straight), *bf16, "--epochs", "2"]) == 0
    resumed = load_file(str(d / "model.safetensors"))
    for k, v in load_file(str(straight / "prior" / "model.safetensors")).items():
        assert torch.equal(v, resumed[k]), k


def test_prior_fit_sample_evaluate_and_resume_bit_for_bit(tmp_path, vq_run, capsys):
    assert main(["prior", str(vq_run), *PRIOR, "--epochs", "1"]) == 0
    d = vq_run / "prior"
    assert {"config.json", "model.safetensors", "train_state.safetensors", "metrics.jsonl", "loss_curves.png"} <= {
        p.name for p in d.iterdir()
    }
    assert main(["prior", str(vq_run), *PRIOR, "--epochs", "1"]) == 2  # an existing prior is not replaced
    assert "--overwrite" in capsys.readouterr().err
    assert main(["prior", str(vq_run), *PRIOR, "--epochs", "2", "--resume"]) == 0
    resumed = load_file(str(d / "model.safetensors"))
    lines = (d / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]

    straight = tmp_path / "straight"  # the same two epochs without the interruption
    straight.mkdir()
    for name in ("config.json", "model.safetensors"):
        (straight / name).write_bytes((vq_run / name).read_bytes())
    assert main(["prior", str(straight), *PRIOR, "--epochs", "2"]) == 0
    for k, v in load_file(str(straight / "prior" / "model.safetensors")).items():
        assert torch.equal(v, resumed[k]), k

    capsys.readouterr()
    assert main(["sample", str(vq_run), "-n", "6", "--out", str(tmp_path / "s.png"), "--top-k", "3"]) == 0
    with Image.open(tmp_path / "s.png") as im:
        assert im.size[0] > 8
    assert main(["sample", str(vq_run), "-n", "2", "--out", str(tmp_path / "l.png"), "--label", "1"]) == 2
    assert "unconditional" in capsys.readouterr().err
    assert main(["evaluate", str(vq_run), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["prior_nll"] > 0 and math.isclose(m["loss"], m["recon"] + m["prior_nll"], rel_tol=1e-9)
    assert m["prior_nll"] <= 8 * 1 * math.log(8) * 2  # a fitted prior is no worse than twice uniform


def test_conditional_prior_samples_by_label(tmp_path, vq_run, capsys):
    assert main(["prior", str(vq_run), *PRIOR[:-1], "--epochs", "1", "--conditional"]) == 0  # with the report
    assert json.loads((vq_run / "prior" / "config.json").read_text())["prior"]["classes"] == 4
    page = (vq_run / "report.html").read_text()
    assert "Samples from the token prior" in page and "one row per class" in page
    with Image.open(vq_run / "prior_samples.png") as im:
        assert im.size[0] > im.size[1]  # 4 rows of 16
    assert main(["sample", str(vq_run), "-n", "3", "--out", str(tmp_path / "s.png"), "--label", "2"]) == 0
    assert main(["sample", str(vq_run), "-n", "3", "--out", str(tmp_path / "s.png"), "--overwrite"]) == 2
    assert "--label 0..3" in capsys.readouterr().err


def test_prior_verbs_refuse_what_they_cannot_do(tmp_path, blob_npz, capsys):
    gauss = tmp_path / "g"
    args = ["train", "--dataset", str(blob_npz), "--epochs", "1", "--hidden", "8", "--latent-dim", "2"]
    assert main([*args, "--device", "cpu", "--quiet", "--no-report", "--out", str(gauss)]) == 0
    capsys.readouterr()
    assert main(["prior", str(gauss), *PRIOR]) == 2
    err = capsys.readouterr().err
    assert "tokenizer" in err and err.count("\n") == 1
    assert main(["sample", str(gauss), "-n", "2", "--out", str(tmp_path / "x.png"), "--top-k", "3"]) == 2
    assert "token prior" in capsys.readouterr().err


def test_a_prior_per_position_needs_groups(tmp_path, vq_run, capsys):
    """--group-layers steps over a position's groups: on a run of one token per position it is refused in one
    line, and nothing is written."""
    assert main(["prior", str(vq_run), *PRIOR, "--group-layers", "1"]) == 2
    err = capsys.readouterr().err
    assert "--group-layers" in err and "mgvq" in err and err.count("\n") == 1
    assert not (vq_run / "prior").exists()


def test_a_saved_prior_per_position_without_groups_is_refused_naming_its_file(tmp_path, vq_run, capsys):
    """A prior config that asks for one step per position over a run of one token per position (no vaekit
    writes one; a hand-edited file can) is a one-line error naming the file, not a traceback."""
    assert main(["prior", str(vq_run), *PRIOR, "--epochs", "1"]) == 0
    path = vq_run / "prior" / "config.json"
    saved = json.loads(path.read_text())
    saved["prior"]["group_layers"] = 1
    path.write_text(json.dumps(saved))
    capsys.readouterr()
    assert main(["sample", str(vq_run), "-n", "2", "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "--group-layers" in err and err.count("\n") == 1
    assert not (tmp_path / "x.png").exists()


def test_sample_without_a_prior_names_the_verb(tmp_path, vq_run, capsys):
    assert main(["sample", str(vq_run), "-n", "2", "--out", str(tmp_path / "x.png")]) == 2
    assert "vaekit prior" in capsys.readouterr().err
    np.testing.assert_equal(len(list((vq_run).glob("prior/*"))), 0)


@pytest.mark.parametrize("kind", ["vq", "fsq", "mgvq"])
def test_sequences_are_raster_order_with_a_positions_groups_together(kind):
    from vaekit.training.prior import prior_config_for, sequences_to_grids, token_sequences

    cfg = TokenizerConfig(kind=kind, input_shape=(8, 8), width=4, code_dim=4, codebook_size=16, groups=2, levels=(4, 4))
    tok = ConvTokenizer(cfg).eval()
    x = torch.rand(5, 64, generator=torch.Generator().manual_seed(0))
    grids = tok.tokenize(x)  # (5, 2, 2) or (5, 2, 2, G)
    seq = token_sequences(tok, x, batch=2)
    groups = 2 if kind == "mgvq" else 1
    assert seq.shape == (5, 2 * 2 * groups)
    assert seq[0, 0] == grids[0, 0, 0].reshape(-1)[0] and seq[0, groups] == grids[0, 0, 1].reshape(-1)[0]
    assert torch.equal(sequences_to_grids(tok, seq), grids)
    pc = prior_config_for(tok, PriorConfig(), classes=0)
    assert (pc.vocab, pc.length) == (16, 4 * groups)
