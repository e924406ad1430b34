"""The CLI: exit codes and one-line errors on bad input, and the happy path end to end."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from vaekit.cli import main


def run_cli(*args):
    return main([str(a) for a in args])


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


SMALL = ["--epochs", "1", "--batch-size", "32", "--latent-dim", "3", "--device", "cpu", "--quiet"]


@pytest.fixture
def trained_run(tmp_path, blob_npz, capsys):
    run = tmp_path / "run"
    assert run_cli("train", "--dataset", blob_npz, "--out", run, *SMALL, "--no-report") == 0  # the report: its tests
    out = capsys.readouterr().out
    assert f"run directory: {run}" in out and "test loss" in out
    return run


def test_train_evaluate_sample(trained_run, tmp_path, capsys):
    assert run_cli("evaluate", trained_run, "--json", "--iw-samples", "20") == 0
    m = json.loads(capsys.readouterr().out)
    assert set(m) == {"loss", "recon", "kl", "kl_per_dim", "active_units", "nll_iw", "params", "psnr", "ssim"}
    assert run_cli("evaluate", trained_run, "--json") == 0
    assert "nll_iw" not in json.loads(capsys.readouterr().out)
    png = tmp_path / "s.png"
    assert run_cli("sample", trained_run, "-n", 9, "--out", png) == 0
    with Image.open(png) as im:
        arr = np.asarray(im)
    assert arr.ndim == 2 and arr.std() > 0


def test_config_file_and_overrides(tmp_path, blob_npz):
    toml = tmp_path / "c.toml"
    toml.write_text(f'[model]\nhidden = [24]\nlatent_dim = 5\n[loss]\nbeta = 2.0\n[data]\ndataset = "{blob_npz}"\n')
    run = tmp_path / "r"
    assert run_cli("train", "--config", toml, "--out", run, "--latent-dim", 3, "--epochs", 1, "--quiet") == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model"]["hidden"] == [24] and cfg["model"]["latent_dim"] == 3 and cfg["loss"]["beta"] == 2.0


def test_resume_extends_a_run(trained_run):
    assert run_cli("train", "--resume", "--out", trained_run, "--epochs", 2, "--quiet") == 0
    lines = (trained_run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--dataset", "/no/such/file.npz", "--quiet"], "no such file"),
        (["train", "--dataset", "imagenet", "--quiet"], "unknown dataset"),
        (["train", "--epochs", "0", "--quiet"], "epochs must be >= 1"),
        (["train", "--lr", "-1", "--quiet"], "lr must be > 0"),
        (["train", "--config", "/no/such.toml"], "config file not found"),
        (["evaluate", "/no/such/run"], "no such run directory"),
        (["sample", "/no/such/run", "--out", "x.png"], "no such run directory"),
        (["data", "info", "/no/such/dir"], "no such file"),
        (["export", "/no/such/run"], "no such run directory"),
        (["sweep", "--betas", "1,x", "--quiet"], "--betas must be a list of numbers"),
        (["sweep", "--resume", "--betas", "1", "--out", "s"], "at most, --epochs"),
        (["sweep", "--betas", "1,2", "--beta", "3", "--quiet"], "instead of --beta"),
        (["sweep", "--betas", "1", "--model", "vq", "--quiet"], "MLP Gaussian VAEs"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_cli(*args) == 2
    assert message in one_line_error(capsys)


def test_corrupt_data_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    assert run_cli("train", "--dataset", bad, "--out", tmp_path / "r", "--quiet") == 2
    assert str(bad) in one_line_error(capsys)
    nan = tmp_path / "nan.npz"
    np.savez(nan, x=np.full((10, 4, 4), np.nan, np.float32))
    assert run_cli("data", "info", nan) == 2
    assert "NaN" in one_line_error(capsys)
    assert not (tmp_path / "r").exists()  # nothing created for a run that could not start


def test_unknown_config_key(tmp_path, capsys):
    toml = tmp_path / "c.toml"
    toml.write_text("[model]\nlatent_dims = 3\n")
    assert run_cli("train", "--config", toml) == 2
    assert "unknown setting model.latent_dims" in one_line_error(capsys)


def test_existing_run_is_not_overwritten(trained_run, blob_npz, capsys, tmp_path):
    before = (trained_run / "model.safetensors").read_bytes()
    assert run_cli("train", "--dataset", blob_npz, "--out", trained_run, *SMALL) == 2
    assert "--overwrite" in one_line_error(capsys)
    assert (trained_run / "model.safetensors").read_bytes() == before
    # --overwrite with data that cannot be read keeps the old run whole
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    assert run_cli("train", "--dataset", bad, "--out", trained_run, "--overwrite", "--quiet") == 2
    assert (trained_run / "model.safetensors").read_bytes() == before


def test_resume_refuses_changed_settings(trained_run, capsys):
    assert run_cli("train", "--resume", "--out", trained_run, "--beta", "4") == 2
    assert "only --epochs, --max-steps and the speed switches" in one_line_error(capsys)


def test_resume_may_change_the_speed_switches(trained_run):
    args = ("train", "--resume", "--out", trained_run, "--epochs", 2, "--quiet")
    assert run_cli(*args, "--precision", "bf16", "--step", "autograd", "--graph", "off", "--device", "cpu") == 0
    records = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines()]
    assert [(r["precision"], r["step_kind"]) for r in records][-1] == ("bf16", "autograd")


def test_data_info_json(blob_npz, capsys):
    assert run_cli("data", "info", blob_npz, "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["train"] + info["test"] == 240 and info["image_shape"] == [8, 8] and len(info["sha256"]) == 64


def test_console_entry_point_runs_as_a_module(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "vaekit", "evaluate", str(tmp_path / "nothing")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: ")


def test_sweep_prints_a_table_and_writes_a_run_per_model(tmp_path, blob_npz, capsys):
    out = tmp_path / "sweep"
    assert run_cli("sweep", "--betas", "1,4", "--seeds", "0,1", "--dataset", blob_npz, "--out", out, *SMALL) == 0
    table = capsys.readouterr().out
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + 4 and rows[0].startswith("| beta | seed") and "4 models" in table
    runs = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert runs == ["beta1-seed0", "beta1-seed1", "beta4-seed0", "beta4-seed1"]
    assert run_cli("evaluate", out / "beta4-seed1", "--json") == 0  # an ordinary run directory
    assert json.loads(capsys.readouterr().out)["params"] > 0
    assert run_cli("sweep", "--resume", "--out", out, "--epochs", "2", "--quiet") == 0  # one more epoch
    assert [json.loads(x)["epoch"] for x in (out / "beta1-seed0" / "metrics.jsonl").read_text().splitlines()] == [1, 2]


def test_export_writes_two_onnx_models(trained_run, capsys, tmp_path):
    pytest.importorskip("onnx")
    assert run_cli("export", trained_run, "--out", tmp_path / "onnx") == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "onnx" / f) for f in ("encoder.onnx", "decoder.onnx")]


def test_output_cut_short_by_a_closed_pipe_is_no_traceback(trained_run, tmp_path):
    """`vaekit diagnose RUN | head -1`: the reader closes the pipe early; vaekit stops without a traceback."""
    first_lines = []
    for reader in ("head -1", "true"):  # `true` closes the pipe before vaekit has written anything
        cmd = f"{sys.executable} -m vaekit diagnose {trained_run} --out {tmp_path} --overwrite | {reader}"
        proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120)
        assert "Traceback" not in proc.stderr and "Error" not in proc.stderr, proc.stderr
        first_lines.append(proc.stdout)
    assert first_lines[0].startswith("KL total")  # what `head -1` read
