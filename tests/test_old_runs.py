"""Run directories written by earlier versions still open, evaluate and resume (fixtures: tests/fixtures)."""

import json
import shutil
from pathlib import Path

import pytest

from vaekit.cli import main
from vaekit.config import GaussianConfig, RunConfig, TokenizerConfig, load_json_config
from vaekit.runs.checkpoint import read_metrics, read_summary, read_train_state

FIXTURES = Path(__file__).parent / "fixtures" / "runs-0.1"


def run_cli(*args) -> int:
    return main([str(a) for a in args])


@pytest.fixture
def old_runs(tmp_path, monkeypatch):
    """A copy of the fixtures (the runs name their data as `blobs.npz`, relative to the working folder)."""
    root = tmp_path / "old"
    shutil.copytree(FIXTURES, root)
    monkeypatch.chdir(root)
    return root


def test_an_old_config_loads_into_its_kinds_class_with_every_own_setting_kept():
    for name, cls in (("gaussian", GaussianConfig), ("vq", TokenizerConfig), ("fsq", TokenizerConfig)):
        raw = json.loads((FIXTURES / name / "config.json").read_text())
        cfg = load_json_config(FIXTURES / name / "config.json")
        assert type(cfg.model) is cls and cfg.model.kind == name
        fresh = RunConfig(model=cls(kind=name)).to_dict()  # the defaults of settings added since
        for section in ("model", "loss", "data", "train"):
            own = cfg.to_dict()[section]
            if section == "model":
                assert set(raw["model"]) - set(own)  # the other kinds' settings are dropped ...
            for k, v in own.items():  # ... every own setting is kept, and a newer one takes its default
                v = list(v) if isinstance(v, tuple) else v
                want = raw[section][k] if k in raw[section] else fresh[section][k]
                assert v == (list(want) if isinstance(want, tuple) else want), (section, k)


@pytest.mark.parametrize("name", ["gaussian", "vq", "fsq", "titok"])
def test_an_old_run_evaluates_to_its_own_summary_and_resumes(old_runs, name, capsys):
    summary = read_summary(old_runs / name)
    assert run_cli("evaluate", name, "--json") == 0
    got = json.loads(capsys.readouterr().out)
    assert got["recon"] == pytest.approx(summary["recon"], rel=1e-5)  # the same model, the same evaluation
    epochs = read_train_state(old_runs / name).counters["epoch"]
    assert run_cli("train", "--resume", "--out", name, "--epochs", str(epochs + 1), "--quiet", "--no-report") == 0
    assert read_train_state(old_runs / name).counters["epoch"] == epochs + 1
    assert [r["epoch"] for r in read_metrics(old_runs / name)] == list(range(1, epochs + 2))
    assert (
        load_json_config(old_runs / name / "config.json").model
        == load_json_config(FIXTURES / name / "config.json").model
    )


def test_an_old_token_prior_samples_and_resumes(old_runs):
    assert run_cli("sample", "vq", "-n", "4", "--out", "s.png") == 0
    assert (old_runs / "s.png").stat().st_size > 0
    assert run_cli("prior", "vq", "--resume", "--epochs", "2", "--quiet", "--no-report", "--device", "cpu") == 0
    assert len(read_metrics(old_runs / "vq" / "prior")) == 2
    assert read_metrics(old_runs / "vq" / "prior")[-1]["precision"] == "fp32"  # what it was fitted in, on any CPU
