"""Nothing the user had is lost: every failed command leaves the old run and the user's files byte for byte as
they were, `--overwrite` replaces a run only once the new one has its first checkpoint, and a stop message
names the checkpoint that exists."""

import hashlib
import shutil
from pathlib import Path

import pytest

import vaekit.training.loop as engine
from vaekit._io import atomic_write_bytes
from vaekit.cli import main
from vaekit.errors import RunError, TrainingDiverged
from vaekit.runs.session import RunSession, state_stamp
from vaekit.training.loop import train


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (the lock file aside) and its sha256."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def cli(*args) -> int:
    return main([str(a) for a in args])


def one_error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


@pytest.fixture
def finished(tmp_path, blob_npz, monkeypatch):
    """A finished one-epoch run in ``tmp_path/run``, trained in fp32 with the fused step."""
    monkeypatch.chdir(tmp_path)
    args = ["--dataset", blob_npz, "--hidden", "16", "--latent-dim", "3", "--batch-size", "32", "--device", "cpu",
            "--precision", "fp32", "--step", "fused", "--quiet"]  # fmt: skip
    assert cli("train", *args, "--epochs", "1", "--out", "run", "--no-report") == 0
    return tmp_path / "run", args


@pytest.mark.parametrize(
    "bad",
    [["--lr", "inf"], ["--beta", "nan"], ["--free-bits", "nan"], ["--epochs", "0"], ["--hidden", "0"]],
)
def test_a_bad_overwrite_leaves_the_old_run(finished, bad, capsys):
    run, args = finished
    before = snapshot(run)
    capsys.readouterr()
    assert cli("train", *args, *bad, "--out", run, "--overwrite") == 2
    one_error_line(capsys)
    assert snapshot(run) == before


def test_a_sweep_with_a_non_finite_beta_is_refused_before_it_touches_a_sweep(finished, tmp_path, capsys):
    _, args = finished
    assert cli("sweep", *args, "--betas", "1", "--epochs", "1", "--out", "sweep") == 0
    before = snapshot(tmp_path / "sweep")
    capsys.readouterr()
    for betas in ("1,nan", "inf", "-1"):
        assert cli("sweep", *args, "--betas", betas, "--epochs", "1", "--out", "sweep", "--overwrite") == 2
        assert "beta" in one_error_line(capsys)
    assert snapshot(tmp_path / "sweep") == before


def test_a_run_that_diverges_before_its_first_checkpoint_leaves_the_old_run(finished, monkeypatch, capsys):
    run, args = finished
    before = snapshot(run)

    def diverges(self, *a, **k):
        raise TrainingDiverged("loss became nan in epoch 1/1")

    monkeypatch.setattr(engine.Trainer, "run_epoch", diverges)
    capsys.readouterr()
    assert cli("train", *args, "--epochs", "1", "--seed", "3", "--out", run, "--overwrite") == 2
    line = one_error_line(capsys)
    assert "nothing was saved" in line and "as it was" in line
    assert snapshot(run) == before
    assert not (run / ".staging").exists()


def test_a_new_run_that_diverges_leaves_no_half_run(tmp_path, blob_npz, monkeypatch):
    from test_loop import small_cfg

    def diverges(self, *a, **k):
        raise TrainingDiverged("loss became nan in epoch 1/2")

    monkeypatch.setattr(engine.Trainer, "run_epoch", diverges)
    with pytest.raises(TrainingDiverged, match="nothing was saved"):
        train(small_cfg(blob_npz), tmp_path / "new", progress=False)
    assert not (tmp_path / "new").exists()  # no folder that --resume could not use


def test_overwrite_replaces_the_run_after_its_first_checkpoint_and_keeps_the_users_files(finished, monkeypatch):
    run, args = finished
    (run / "notes.txt").write_text("mine")
    (run / "traverse.png").write_bytes(b"written by vaekit traverse for the old model")
    old_model = (run / "model.safetensors").read_bytes()
    seen = {}
    real = engine.Trainer.run_epoch

    def watch(self, *a, **k):  # the old run is intact while the new one trains its first epoch
        seen["old model in place"] = (run / "model.safetensors").read_bytes() == old_model
        return real(self, *a, **k)

    monkeypatch.setattr(engine.Trainer, "run_epoch", watch)
    assert cli("train", *args, "--epochs", "1", "--seed", "3", "--out", run, "--overwrite") == 0
    assert seen["old model in place"]
    assert (run / "model.safetensors").read_bytes() != old_model
    assert (run / "notes.txt").read_text() == "mine"  # not vaekit's: kept
    assert not (run / "traverse.png").exists()  # vaekit's, of the old model: gone with it
    assert not (run / ".staging").exists() and not (run / ".replaced").exists()


def test_overwrite_refuses_a_folder_that_holds_no_run(tmp_path, blob_npz, monkeypatch, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.html").write_text("<p>my own report</p>")
    before = snapshot(mine)
    for flags in ([], ["--overwrite"]):
        assert cli("train", "--dataset", blob_npz, "--out", mine, "--quiet", *flags) == 2
        assert "no vaekit run" in one_error_line(capsys)
    assert snapshot(mine) == before


def test_an_interrupt_before_the_first_checkpoint_says_nothing_was_saved(finished, monkeypatch, capsys):
    run, args = finished
    before = snapshot(run)

    def interrupted(self, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine.Trainer, "run_epoch", interrupted)
    capsys.readouterr()
    assert cli("train", *args, "--epochs", "1", "--seed", "3", "--out", run, "--overwrite") == 130
    err = capsys.readouterr().err
    assert "nothing was saved" in err and "--resume" not in err
    assert snapshot(run) == before


def test_a_prior_overwrite_with_bad_settings_leaves_the_old_prior(tmp_path, monkeypatch, capsys):
    old = Path(__file__).parent / "fixtures" / "runs-0.1"
    shutil.copytree(old, tmp_path / "old")
    monkeypatch.chdir(tmp_path / "old")
    before = snapshot(tmp_path / "old")
    for bad in (["--heads", "3", "--dim", "16"], ["--conditional", "--lr", "nan"], ["--layers", "0"]):
        assert cli("prior", "vq", "--overwrite", "--quiet", "--no-report", *bad) == 2
        one_error_line(capsys)
    assert snapshot(tmp_path / "old") == before


def test_a_session_swaps_member_runs_and_keeps_what_vaekit_did_not_write(tmp_path):
    out = tmp_path / "sweep"
    (out / "beta1-seed0").mkdir(parents=True)
    for f in ("sweep_state.safetensors", "beta1-seed0/config.json", "beta1-seed0/model.safetensors"):
        (out / f).write_text("old")
    (out / "beta1-seed0" / "my-notes.txt").write_text("mine")
    (out / "beta2-seed0").mkdir()
    (out / "beta2-seed0" / "config.json").write_text("old, not in the new grid")
    outputs = ("sweep_state.safetensors", "beta*-seed*", "config.json", "model.safetensors")
    with RunSession(out, overwrite=True, marker="sweep_state.safetensors", outputs=outputs,
                    members=["beta1-seed0"]) as s:  # fmt: skip
        assert s.dir == out / ".staging"
        (s.dir / "beta1-seed0").mkdir()
        (s.dir / "beta1-seed0" / "config.json").write_text("new")
        (s.dir / "sweep_state.safetensors").write_text("new")
        assert (out / "sweep_state.safetensors").read_text() == "old"
        s.commit(1)
        assert s.dir == out
    assert {k: (out / k).read_text() for k in snapshot(out)} == {
        "sweep_state.safetensors": "new",
        "beta1-seed0/config.json": "new",
        "beta1-seed0/my-notes.txt": "mine",
    }


def test_a_session_refuses_a_file_where_its_folder_should_be(tmp_path):
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(RunError, match="is a file, not a folder"):
        RunSession(tmp_path / "a-file" / "run").__enter__()


def test_a_resume_refuses_a_checkpoint_saved_after_it_was_read(finished, monkeypatch, capsys):
    """`train --resume` reads the checkpoint before it takes the lock (a switch that cannot apply must leave the
    run be); a second process that saved an epoch in between would lose it to the older weights. Refused."""
    run, _ = finished
    real = engine.ckpt.read_train_state

    def read_then_another_saves(run_dir):
        state = real(run_dir)
        state_file = run_dir / "train_state.safetensors"
        atomic_write_bytes(state_file, state_file.read_bytes())  # what a commit does: a new file in its place
        return state

    monkeypatch.setattr(engine.ckpt, "read_train_state", read_then_another_saves)
    before = snapshot(run)
    capsys.readouterr()
    assert cli("train", "--resume", "--out", run, "--epochs", "2", "--quiet", "--no-report") == 2
    assert "another process saved a checkpoint while this resume was starting" in one_error_line(capsys)
    assert snapshot(run) == before
    monkeypatch.setattr(engine.ckpt, "read_train_state", real)
    assert cli("train", "--resume", "--out", run, "--epochs", "2", "--quiet", "--no-report") == 0


def test_a_session_compares_the_resumed_checkpoint_under_its_lock(tmp_path):
    state = tmp_path / "train_state.safetensors"
    state.write_text("epoch 1")
    stamp = state_stamp(state)
    assert stamp is not None and state_stamp(tmp_path / "missing") is None
    with RunSession(tmp_path, resume=True, read_stamp=stamp):  # unchanged: resumes
        pass
    atomic_write_bytes(state, b"epoch 2")
    with pytest.raises(RunError, match="another process saved a checkpoint"):
        RunSession(tmp_path, resume=True, read_stamp=stamp).__enter__()
    with RunSession(tmp_path, resume=True, read_stamp=state_stamp(state)):  # the lock was let go; read anew: resumes
        pass


def test_verbs_never_replace_a_users_file_without_overwrite(finished, tmp_path, capsys):
    run, _ = finished
    mine = tmp_path / "mine"
    mine.mkdir()
    for name in ("grid.png", "latent.png", "tokens.npy", "traverse.png", "encoder.onnx"):
        (mine / name).write_text(f"my own {name}")
    before = snapshot(mine)
    refused = [
        ("sample", run, "-n", "4", "--out", mine / "grid.png"),
        ("latent", run, "--out", mine),
        ("traverse", run, "--out", mine),
        ("export", run, "--out", mine),
        ("bench", "--epochs", "1", "--variants", "fp32", "--json", mine / "grid.png"),
    ]
    for args in refused:
        capsys.readouterr()
        assert cli(*args) == 2, args
        assert "--overwrite" in one_error_line(capsys)
    assert snapshot(mine) == before
    assert cli("sample", run, "-n", "4", "--out", mine / "grid.png", "--overwrite") == 0
    assert (mine / "grid.png").read_bytes()[:4] == b"\x89PNG"  # replaced, as told
    assert cli("traverse", run) == 0  # into the run directory: vaekit's own files, replaced freely
    assert cli("traverse", run) == 0


def test_a_huge_iw_sample_count_is_refused_at_once(finished, capsys):
    run, _ = finished
    capsys.readouterr()
    assert cli("evaluate", run, "--iw-samples", "1000000000") == 2
    assert "--iw-samples must be >= 0 and <= 1000000" in one_error_line(capsys)
