"""`vaekit train --tensorboard`: the run's events, read back with TensorBoard's own reader."""

import pytest

from vaekit.cli import main

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def _events(folder):
    acc = EventAccumulator(str(folder), size_guidance={"images": 0, "scalars": 0, "histograms": 0})
    acc.Reload()
    return acc.Tags()


@pytest.mark.parametrize("model", ["gaussian", "vq"])
def test_a_run_with_tensorboard_writes_scalars_images_and_its_kinds_views(tmp_path, blob_npz, model):
    args = ["train", "--dataset", str(blob_npz), "--model", model, "--epochs", "2", "--batch-size", "32",
            "--device", "cpu", "--precision", "fp32", "--quiet", "--no-report", "--tensorboard",
            "--out", str(tmp_path / "run")]  # fmt: skip
    args += ["--hidden", "16", "--latent-dim", "3"] if model == "gaussian" else ["--width", "4", "--code-dim", "4",
                                                                                 "--codebook-size", "16"]  # fmt: skip
    assert main(args) == 0
    tags = _events(tmp_path / "run" / "tensorboard")
    assert {"epoch/train_loss", "epoch/test_loss", "epoch/test_recon", "step/train_loss"} <= set(tags["scalars"])
    assert "reconstructions" in tags["images"]
    if model == "gaussian":
        assert "samples" in tags["images"] and "kl_per_dim/z1" in tags["scalars"]
    else:
        assert "codebook/usage" in tags["scalars"] and "codebook/code_use" in tags["histograms"]


def test_without_the_package_it_is_one_line_before_any_work(tmp_path, blob_npz, monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_tensorboard(name, *a, **k):
        if name == "tensorboard" or name.startswith("tensorboard."):
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    assert main(["train", "--dataset", str(blob_npz), "--tensorboard", "--out", str(tmp_path / "run")]) == 2
    assert "pip install 'vaekit[tensorboard]'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
