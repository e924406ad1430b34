"""Colour images: every layout and mode reads into (N, H, W, 3) uint8; image folders resize, convert and skip
damaged files as asked; an MLP VAE trains, evaluates and reports on colour pixels."""

import io
import json

import numpy as np
import pytest
from PIL import Image

from vaekit.cli import main
from vaekit.data import ImageOptions, check_images, load_path, read_image_folder
from vaekit.data.readers import resize_and_crop, to_channels
from vaekit.errors import DataError


def _save(path, array, mode=None, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path, format=fmt)


def test_hwc_and_chw_arrays_read_alike_and_alpha_goes_over_white():
    rng = np.random.default_rng(0)
    hwc = rng.integers(0, 256, (5, 6, 7, 3), dtype=np.uint8)
    assert np.array_equal(check_images(hwc, "hwc"), hwc)
    assert np.array_equal(check_images(np.moveaxis(hwc, 3, 1), "chw"), hwc)  # (N, 3, H, W)
    grey = rng.integers(0, 256, (5, 6, 7, 1), dtype=np.uint8)
    assert check_images(grey, "g").shape == (5, 6, 7) and check_images(np.moveaxis(grey, 3, 1), "g").shape == (5, 6, 7)
    rgba = np.concatenate([hwc, np.zeros((5, 6, 7, 1), np.uint8)], axis=3)  # fully transparent
    assert (check_images(rgba, "rgba") == 255).all()  # white
    rgba[..., 3] = 255  # opaque
    assert np.array_equal(check_images(rgba, "rgba"), hwc)
    floats = check_images(hwc.astype(np.float32) / 255, "f")
    assert floats.dtype == np.float32 and floats.shape == hwc.shape
    with pytest.raises(DataError, match="no channel axis"):
        check_images(np.zeros((2, 5, 6, 7), np.uint8), "bad")


def test_channel_conversion_and_resize_crop():
    rgb = np.zeros((1, 2, 2, 3), np.uint8)
    rgb[..., 0] = 255  # pure red
    assert to_channels(rgb, 1)[0, 0, 0] == round(255 * 0.299)  # ITU-R 601 luma, as PIL's "L"
    assert to_channels(to_channels(rgb, 1), 3).shape == (1, 2, 2, 3)
    im = Image.new("RGB", (40, 20))
    assert resize_and_crop(im, 16).size == (16, 16)


def _mixed_folder(root):
    """Sub-folders as labels; PNG (RGB, RGBA, palette, grey) and JPEG (RGB, grey) of different sizes, nested."""
    rng = np.random.default_rng(1)
    _save(root / "cats" / "a.png", rng.integers(0, 256, (30, 40, 3), dtype=np.uint8))
    _save(root / "cats" / "b.png", rng.integers(0, 256, (25, 25, 4), dtype=np.uint8), mode="RGBA")
    _save(root / "cats" / "deep" / "c.jpg", rng.integers(0, 256, (50, 36, 3), dtype=np.uint8), fmt="JPEG")
    _save(root / "dogs" / "d.png", rng.integers(0, 256, (33, 33), dtype=np.uint8), mode="L")
    pal = Image.fromarray(rng.integers(0, 256, (20, 44, 3), dtype=np.uint8)).convert("P")
    (root / "dogs").mkdir(parents=True, exist_ok=True)
    pal.save(root / "dogs" / "e.png")
    _save(root / "dogs" / "f.jpeg", rng.integers(0, 256, (40, 30), dtype=np.uint8), mode="L", fmt="JPEG")


def test_a_mixed_folder_reads_with_image_size(tmp_path):
    _mixed_folder(tmp_path / "pets")
    with pytest.raises(DataError, match="--image-size"):
        read_image_folder(tmp_path / "pets")
    folder = read_image_folder(tmp_path / "pets", image_size=16)
    assert folder.x.shape == (6, 16, 16, 3) and folder.x.dtype == np.uint8
    assert folder.classes == ["cats", "dogs"] and folder.y.tolist() == [0, 0, 0, 1, 1, 1]
    grey = read_image_folder(tmp_path / "pets", image_size=16, channels=1)
    assert grey.x.shape == (6, 16, 16)


def test_a_damaged_file_is_one_line_or_skipped_with_a_count(tmp_path, capsys):
    _mixed_folder(tmp_path / "pets")
    (tmp_path / "pets" / "dogs" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    with pytest.raises(DataError, match=r"broken\.jpg: not a readable image .*--skip-bad-images") as e:
        read_image_folder(tmp_path / "pets", image_size=16)
    assert "\n" not in str(e.value)
    ds = load_path(tmp_path / "pets", ImageOptions(image_size=16, skip_bad=True))
    assert len(ds.x_train) + len(ds.x_test) == 6
    assert "skipped 1 image(s)" in capsys.readouterr().err


def test_a_grey_folder_stays_grey(tmp_path):
    for i in range(3):
        rgb = np.repeat(np.full((8, 8, 1), 40 * i, np.uint8), 3, axis=2)  # grey pixels stored as RGB
        _save(tmp_path / "g" / f"{i}.png", rgb)
    assert read_image_folder(tmp_path / "g").x.shape == (3, 8, 8)


def test_an_mlp_vae_trains_evaluates_and_reports_on_colour(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (120, 3, 8, 8), dtype=np.uint8)  # CHW on disk
    np.savez(tmp_path / "rgb.npz", x=x, y=rng.integers(0, 3, 120))
    assert main(["data", "info", str(tmp_path / "rgb.npz"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["image_shape"] == [8, 8, 3]
    run = tmp_path / "run"
    args = ["--dataset", str(tmp_path / "rgb.npz"), "--hidden", "32", "--latent-dim", "4", "--epochs", "1"]
    assert main(["train", *args, "--batch-size", "32", "--device", "cpu", "--quiet", "--out", str(run)]) == 0
    assert json.loads((run / "config.json").read_text())["model"]["input_shape"] == [8, 8, 3]
    assert (run / "report.html").is_file() and (run / "explorer.html").is_file()
    with Image.open(run / "reconstructions.png") as im:
        assert im.mode == "RGB"
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert -1 <= m["ssim"] <= 1 and m["psnr"] > 0
    # the NumPy runtime reads the colour model and reconstructs what PyTorch does
    from vaekit.export import portable
    from vaekit.runs.open import open_run

    opened = open_run(run)
    want = opened.model.reconstruct(opened.x_test[:5]).numpy()
    got = portable.load(run).reconstruct(opened.x_test[:5].numpy())
    assert got.shape == (5, 8, 8, 3) and np.abs(got - want).max() < 1e-5
    conv = ["--arch", "conv", "--downsample", "16", "--device", "cpu", "--quiet", "--out", str(tmp_path / "c")]
    assert main(["train", *args, *conv]) == 2
    err = capsys.readouterr().err
    assert "divisible by 16" in err and "--downsample 4 or 8" in err and err.count("\n") == 1
    assert main(["train", *args, "--channels", "1", "--device", "cpu", "--quiet", "--out", str(tmp_path / "g")]) == 0


def test_png_bytes_of_every_mode_decode(tmp_path):
    """Palette with transparency, grey + alpha, 16-bit grey: each becomes RGB over white."""
    pal = Image.new("P", (4, 4))
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * (256 * 3 - 6))
    pal.info["transparency"] = 0  # index 0 transparent -> white
    buf = io.BytesIO()
    pal.save(buf, format="PNG")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "p.png").write_bytes(buf.getvalue())
    Image.new("LA", (4, 4), (10, 0)).save(tmp_path / "m" / "la.png")  # transparent grey -> white
    x = read_image_folder(tmp_path / "m").x
    assert (x == 255).all()


@pytest.mark.parametrize("kind", ["fsq", "vq"])
def test_a_colour_tokenizer_from_a_mixed_folder_end_to_end(tmp_path, capsys, kind):
    """A mixed folder (JPEG + PNG, sizes and modes, sub-folders as labels) at --image-size 32: train a tokenizer
    at f = 8, evaluate (psnr, ssim, the bicubic yardstick), tokens out and back in colour, report and explorer."""
    _mixed_folder(tmp_path / "pets")
    (tmp_path / "pets" / "dogs" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    run = tmp_path / "run"
    args = ["train", "--model", kind, "--dataset", str(tmp_path / "pets"), "--image-size", "32", "--epochs", "2"]
    codes = ["--code-dim", "4", "--codebook-size", "16"] if kind == "vq" else ["--levels", "4,4"]
    small = ["--downsample", "8", "--width", "4", *codes, "--batch-size", "4"]
    assert main([*args, *small, "--device", "cpu", "--quiet", "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert "broken.png" in err and "--skip-bad-images" in err and err.count("\n") == 1
    flags = [*small, "--skip-bad-images", "--device", "cpu", "--precision", "fp32", "--quiet", "--out", str(run)]
    assert main([*args, *flags]) == 0
    assert "skipped 1 image(s)" in capsys.readouterr().err
    assert json.loads((run / "config.json").read_text())["model"]["input_shape"] == [32, 32, 3]
    assert main(["evaluate", str(run), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["psnr"] > 0 and -1 <= m["ssim"] <= 1 and m["psnr_bicubic"] > 0
    assert main(["tokenize", str(run), "--out", str(tmp_path / "t.npy")]) == 0
    tokens = np.load(tmp_path / "t.npy")
    assert tokens.shape[1:3] == (4, 4) and tokens.max() < 16
    assert main(["detokenize", str(run), str(tmp_path / "t.npy"), "--out", str(tmp_path / "g.png")]) == 0
    with Image.open(tmp_path / "g.png") as im:
        assert im.mode == "RGB"
    with Image.open(run / "reconstructions.png") as im:
        assert im.mode == "RGB"
    assert "bicubic" in (run / "report.html").read_text()


def test_a_colour_conv_vae_and_a_colour_sweep_train_and_report(tmp_path, capsys):
    """The conv VAE (resnet layout) on (16, 16, 3) images through the CLI: report, samples, interpolation and
    explorer in colour; and a sweep of colour MLP VAEs."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "rgb.npz", x=rng.integers(0, 256, (80, 16, 16, 3), dtype=np.uint8))
    run = tmp_path / "conv"
    args = ["--dataset", str(tmp_path / "rgb.npz"), "--latent-dim", "4", "--epochs", "1", "--batch-size", "16"]
    conv = ["--arch", "conv", "--width", "4", "--hidden", "8", "--downsample", "8", "--likelihood", "gaussian"]
    assert main(["train", *args, *conv, "--device", "cpu", "--quiet", "--out", str(run)]) == 0
    assert json.loads((run / "config.json").read_text())["model"]["net"] == "resnet"
    for name in ("samples.png", "reconstructions.png"):
        with Image.open(run / name) as im:
            assert im.mode == "RGB"
    with Image.open(next(run.glob("*.gif"))) as gif:
        assert gif.n_frames > 1
    assert (run / "explorer.html").is_file()
    sweep = tmp_path / "sweep"
    assert (
        main(["sweep", *args, "--hidden", "8", "--betas", "0.5,2", "--device", "cpu", "--quiet", "--out", str(sweep)])
        == 0
    )
    cfgs = [json.loads(p.read_text()) for p in sweep.glob("*/config.json")]
    assert len(cfgs) == 2 and all(c["model"]["input_shape"] == [16, 16, 3] for c in cfgs)
