"""`vaekit study collapse --quick`: the whole pipeline on synthetic data, its files, resume, and its errors."""

import json

import pytest

from vaekit.cli import main
from vaekit.measure.study import QUICK, REMEDIES, StudyConfig, _groups, remedy_config
from vaekit.runs.checkpoint import load_model


def test_grid_batches_what_the_fused_step_can(blob_npz):
    cfg = StudyConfig(dataset=str(blob_npz), seeds=(0, 1, 2), epochs=10)
    groups = {g.name: g for g in _groups(cfg)}
    assert sorted(len(g.cells) for g in groups.values() if g.batched) == [3, 3, 3, 3, 3, 3, 3, 3, 9]
    assert groups["plain+beta0.5+beta2"].batched  # the betas of the plain VAE: one sweep of 9 models
    assert groups["iwae-k5"].batched and groups["sigma0.1"].batched  # the IWAE bound, a fixed sigma: fused too
    assert {name for name, g in groups.items() if not g.batched} == {"dvae"}
    assert sum(len(g.cells) for g in groups.values()) == 3 * len(REMEDIES)
    dvae = remedy_config(cfg, next(r for r in REMEDIES if r.name == "dvae"), 0)
    assert (dvae.model.encoder_paths, dvae.model.dvae_mask, dvae.model.dvae_ramp) == ("dvae", 0.3, 5)
    plain = remedy_config(cfg, REMEDIES[0], 1)
    assert (plain.model.hidden, plain.model.latent_dim, plain.model.activation) == ((200, 200), 50, "tanh")
    assert (plain.data.binarize, plain.train.seed) == ("dynamic", 1)


def test_quick_study_writes_its_table_and_figure_and_resumes(tmp_path, blob_npz, capsys):
    out = tmp_path / "study"
    args = ["study", "collapse", "--quick", "--dataset", str(blob_npz), "--out", str(out), "--quiet"]
    assert main([*args, "--precision", "fp32"]) == 0
    table = capsys.readouterr().out
    assert len(table.strip().splitlines()) == len(REMEDIES) + 2  # the header, the separator, a row per remedy
    study = json.loads((out / "study.json").read_text())
    assert [r["remedy"] for r in study["remedies"]] == [r.name for r in REMEDIES]
    assert len(study["models"]) == len(REMEDIES) * len(QUICK["seeds"])
    for row in study["models"]:
        assert 0 <= row["active_units"] <= 50 and row["nll_iw"] > 0 and row["elbo"] > 0
        assert row["nll_iw"] <= row["elbo"] + 1.0  # the K-sample bound is (nearly) no worse than the ELBO
        model, saved = load_model(row["run"])  # every model is an ordinary run directory
        assert saved.train.epochs == QUICK["epochs"] and saved.data.binarize == "dynamic"
    by_name = {r["remedy"]: r for r in study["models"]}
    assert json.loads((out / "iwae-k5" / "beta1-seed0" / "config.json").read_text())["loss"]["objective"] == "iwae"
    assert by_name["plain"]["batched"] == 3  # trained in one sweep with beta 0.5 and beta 2
    assert (out / "study.png").stat().st_size > 10_000
    assert (out / "study.md").read_text().strip() == table.strip()

    # resume: nothing is trained or evaluated again
    stamps = {row["run"]: (tmp_path / row["run"] / "model.safetensors").stat().st_mtime_ns for row in study["models"]}
    evals = {row["run"]: row["eval_seconds"] for row in study["models"]}
    assert main(["study", "collapse", "--resume", "--out", str(out), "--quiet"]) == 0
    again = json.loads((out / "study.json").read_text())
    assert {r["run"]: r["eval_seconds"] for r in again["models"]} == evals
    assert all((tmp_path / r).joinpath("model.safetensors").stat().st_mtime_ns == t for r, t in stamps.items())


def test_an_interrupted_study_resumes_where_it_stopped(tmp_path, blob_npz, monkeypatch, capsys):
    import vaekit.measure.study as study

    real = study.sweep

    def interrupted(base, betas, seeds, folder, **kw):  # the sweep after the dvae run is stopped by Ctrl-C
        if folder.name == "sigma0.1":
            raise KeyboardInterrupt
        return real(base, betas, seeds, folder, **kw)

    monkeypatch.setattr(study, "sweep", interrupted)
    out = tmp_path / "study"
    args = ["study", "collapse", "--quick", "--dataset", str(blob_npz), "--out", str(out), "--quiet"]
    assert main(args) == 130
    assert "--resume --out" in capsys.readouterr().err
    assert not (out / "study.json").exists()
    sweep_model = out / "plain+beta0.5+beta2" / "beta1-seed0" / "model.safetensors"
    stamp = sweep_model.stat().st_mtime_ns
    first_run = out / "dvae" / "seed0" / "model.safetensors"
    first_stamp = first_run.stat().st_mtime_ns

    monkeypatch.setattr(study, "sweep", real)
    assert main(["study", "collapse", "--resume", "--out", str(out), "--quiet"]) == 0
    rows = json.loads((out / "study.json").read_text())["models"]
    assert len(rows) == len(REMEDIES)
    assert sweep_model.stat().st_mtime_ns == stamp  # finished sweeps are not trained again
    assert first_run.stat().st_mtime_ns == first_stamp  # nor finished runs


def test_a_study_keeps_the_layout_it_was_trained_in(tmp_path, blob_npz, monkeypatch):
    """A study whose iwae models were trained as runs (before the fused step had the IWAE bound) resumes with
    them as they are: nothing is trained again, and the table reads them from their run directories."""
    import vaekit.measure.study as study

    real = study.supports
    monkeypatch.setattr(study, "supports", lambda model, objective="elbo": objective == "elbo" and real(model))
    out = tmp_path / "study"
    args = ["study", "collapse", "--quick", "--dataset", str(blob_npz), "--out", str(out), "--quiet"]
    assert main([*args, "--precision", "fp32"]) == 0
    old = out / "iwae-k5" / "seed0" / "model.safetensors"
    stamp = old.stat().st_mtime_ns
    monkeypatch.setattr(study, "supports", real)
    assert main(["study", "collapse", "--resume", "--out", str(out), "--quiet"]) == 0
    assert old.stat().st_mtime_ns == stamp and not (out / "iwae-k5" / "beta1-seed0").exists()
    rows = json.loads((out / "study.json").read_text())["models"]
    assert [r["run"] for r in rows if r["remedy"] == "iwae-k5"] == [str(out / "iwae-k5" / "seed0")]


def test_study_errors_are_one_line(tmp_path, blob_npz, capsys):
    out = tmp_path / "study"
    assert main(["study", "collapse", "--resume", "--out", str(out)]) == 2
    assert "nothing to resume (no plan.json)" in capsys.readouterr().err
    out.mkdir()
    (out / "plan.json").write_text("{}")
    assert main(["study", "collapse", "--quick", "--dataset", str(blob_npz), "--out", str(out)]) == 2
    assert "already holds a study" in capsys.readouterr().err
    assert main(["study", "collapse", "--resume", "--epochs", "3", "--out", str(out)]) == 2
    assert "--resume continues the study as planned" in capsys.readouterr().err
    assert main(["study", "collapse", "--resume", "--out", str(out)]) == 2
    assert "not a study plan" in capsys.readouterr().err
    assert main(["study", "collapse", "--seeds", "a,b", "--out", str(tmp_path / "x")]) == 2
    assert "--seeds" in capsys.readouterr().err


@pytest.mark.parametrize("flag", [["--epochs", "0"], ["--iw-samples", "0"]])
def test_study_settings_are_checked(tmp_path, blob_npz, capsys, flag):
    assert main(["study", "collapse", "--dataset", str(blob_npz), "--out", str(tmp_path / "s"), *flag]) == 2
    assert f"{flag[0]} must be >= 1" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()  # refused before anything was written
