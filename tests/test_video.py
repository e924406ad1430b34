"""Video: the Moving MNIST generator, the clip readers, and the causal video tokenizer (shapes, causality, the
Haar transform, end to end, resume)."""

import json

import numpy as np
import pytest
import torch

from conftest import assert_resume_is_uninterrupted
from vaekit.cli import main
from vaekit.config import VideoConfig
from vaekit.data import load_path
from vaekit.data.datasets import ImageOptions, check_pixels
from vaekit.data.video import CANVAS, DIGIT, SPEED, moving_mnist
from vaekit.errors import ConfigError, DataError
from vaekit.models.video import VideoTokenizer, haar3d, inverse_haar3d


def _digits(n=12, seed=0):
    """Stand-in glyphs: random 28x28 uint8 blobs (the generator does not care what a digit looks like)."""
    rng = np.random.default_rng(seed)
    g = np.zeros((n, DIGIT, DIGIT), np.uint8)
    g[:, 6:22, 8:20] = rng.integers(100, 256, size=(n, 16, 12))
    return g


def test_moving_mnist_digits_stay_inside_and_move_at_the_stated_speeds():
    clips, tracks = moving_mnist(_digits(), n=64, frames=20, seed=3)
    assert clips.shape == (64, 20, CANVAS, CANVAS, 1) and clips.dtype == np.uint8
    room = CANVAS - DIGIT
    assert tracks.pos.min() >= 0 and tracks.pos.max() <= room  # every corner keeps the digit on the canvas
    speed = np.linalg.norm(tracks.velocity, axis=-1)
    assert speed.min() >= SPEED[0] and speed.max() <= SPEED[1]
    # a bounce reflects: the distance moved along each axis per frame never exceeds the speed (+ rounding)
    step = np.abs(np.diff(tracks.pos, axis=1))  # (n, T-1, D, 2)
    assert (step <= np.abs(tracks.velocity)[:, None] + 1.0 + 1e-9).all()
    assert (step.sum(axis=(1, 3)) > 0).all()  # and every digit moves
    # both digits are drawn where the tracks say (added with clipping, so at least the glyph's value)
    glyphs = _digits()[tracks.digit]  # (n, D, 28, 28)
    for i in range(0, 64, 9):
        for t in (0, 7, 19):
            for d in range(2):
                r, c = tracks.pos[i, t, d]
                assert (clips[i, t, r : r + DIGIT, c : c + DIGIT, 0] >= glyphs[i, d]).all()


def test_moving_mnist_a_fixed_seed_gives_fixed_bytes():
    a, _ = moving_mnist(_digits(), n=8, frames=5, seed=11)
    b, _ = moving_mnist(_digits(), n=8, frames=5, seed=11)
    c, _ = moving_mnist(_digits(), n=8, frames=5, seed=12)
    assert a.tobytes() == b.tobytes() and a.tobytes() != c.tobytes()


def _write_clips(folder, kind, clips):
    """Clips (N, T, H, W, 1) uint8 as a folder of GIFs or of frame folders."""
    from PIL import Image

    folder.mkdir()
    for i, clip in enumerate(clips):
        frames = [Image.fromarray(f[..., 0]) for f in clip]
        if kind == "gif":
            frames[0].save(folder / f"c{i:02d}.gif", save_all=True, append_images=frames[1:], duration=50, loop=0)
        else:
            (folder / f"c{i:02d}").mkdir()
            for t, f in enumerate(frames):
                f.save(folder / f"c{i:02d}" / f"{t:03d}.png")


@pytest.mark.parametrize("kind", ["gif", "frames"])
def test_clip_folders_read_as_clips(tmp_path, kind):
    clips, _ = moving_mnist(_digits(), n=10, frames=6, seed=1, canvas=32)
    _write_clips(tmp_path / "clips", kind, clips)
    ds = load_path(tmp_path / "clips", ImageOptions(clips=True, frames=5))
    assert ds.is_clips and ds.image_shape == (5, 32, 32, 1) and len(ds.x_train) + len(ds.x_test) == 10
    got = np.concatenate([ds.x_train, ds.x_test])
    assert sorted(c.tobytes() for c in got) == sorted(c[:5].tobytes() for c in clips)  # lossless: grey, 8-bit


def test_clip_arrays_in_an_npz(tmp_path):
    clips, _ = moving_mnist(_digits(), n=10, frames=5, seed=1, canvas=32)
    np.savez(tmp_path / "five.npz", x=clips)
    np.savez(tmp_path / "four.npz", x=clips[..., 0])  # (N, T, H, W): no axis can be a channel axis
    for name in ("five.npz", "four.npz"):
        assert load_path(tmp_path / name).image_shape == (5, 32, 32, 1)
    assert load_path(tmp_path / "five.npz", ImageOptions(frames=3)).image_shape == (3, 32, 32, 1)


def test_bad_clips_are_one_line_errors(tmp_path):
    clips, _ = moving_mnist(_digits(), n=4, frames=6, seed=1, canvas=32)
    _write_clips(tmp_path / "mixed", "gif", clips)
    short, _ = moving_mnist(_digits(), n=1, frames=3, seed=2, canvas=32)
    from PIL import Image

    frames = [Image.fromarray(f[..., 0]) for f in short[0]]
    frames[0].save(tmp_path / "mixed" / "short.gif", save_all=True, append_images=frames[1:], loop=0)
    cases = [
        (lambda: load_path(tmp_path / "mixed"), "mixed frame counts [3, 6]; use --frames"),
        (lambda: load_path(tmp_path / "mixed", ImageOptions(frames=5)), "clips have 3 frames; --frames 5"),
        (lambda: check_pixels(np.zeros((2, 3, 8, 8, 2), np.uint8), "x"), "1 or 3 channels"),
        (lambda: check_pixels(np.full((2, 3, 8, 8, 1), 300), "x"), "[0, 255]"),
    ]
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "a.gif").write_bytes(b"GIF89a not really")
    cases.append((lambda: load_path(tmp_path / "corrupt"), "not a readable GIF"))
    np.savez(tmp_path / "images.npz", x=np.zeros((10, 8, 8), np.uint8))
    cases.append((lambda: load_path(tmp_path / "images.npz", ImageOptions(frames=4)), "--frames cuts clips"))
    for call, message in cases:
        with pytest.raises(DataError) as e:
            call()
        assert message in str(e.value) and "\n" not in str(e.value)


def test_haar_is_exactly_invertible():
    x = torch.rand(2, 3, 9, 8, 6, dtype=torch.float64)
    y = haar3d(x)
    assert y.shape == (2, 24, 5, 4, 3)
    assert torch.allclose(inverse_haar3d(y), x, atol=1e-12)
    assert torch.allclose(y.pow(2).sum(), torch.cat([x[:, :, :1], x], 2).pow(2).sum())  # orthonormal


def _model(frames=17, t=4, wavelet=True, quantizer="fsq", size=16):
    torch.manual_seed(0)
    cfg = VideoConfig(input_shape=(frames, size, size, 1), time_downsample=t, wavelet=wavelet, width=4,
                      video_quantizer=quantizer, levels=(5, 5, 5), codebook_size=16, code_dim=3)  # fmt: skip
    return VideoTokenizer(cfg).eval()


@pytest.mark.parametrize("frames", [1, 5, 17])
@pytest.mark.parametrize("wavelet", [True, False])
def test_shapes_for_one_five_and_seventeen_frames(frames, wavelet):
    m = _model(frames=frames, wavelet=wavelet)
    x = torch.rand(2, frames * 16 * 16)
    out = m(x)
    latent = 1 + (frames - 1) // 4
    assert out.z_e.shape == (2, latent, 4, 4, 3) and out.indices.shape == (2, latent, 4, 4)
    assert out.logits.shape == x.shape
    assert m.token_shape == (latent, 4, 4)
    assert m.detokenize(out.indices).shape == (2, frames, 16, 16, 1)


@pytest.mark.parametrize("wavelet", [True, False])
def test_causality_a_frame_changes_no_earlier_latent(wavelet):
    """Changing frame k leaves every latent frame j with j t < k as it was (latent j sees frames 0 ... j t),
    and changes a later one; the decoder is causal in the latents the same way."""
    m, t, frames = _model(wavelet=wavelet), 4, 17
    x = torch.rand(1, frames, 16 * 16)
    with torch.no_grad():
        base = m.encode(x.reshape(1, -1))
        for k in (1, 4, 5, 12, 16):
            y = x.clone()
            y[:, k] = torch.rand(16 * 16)
            z = m.encode(y.reshape(1, -1))
            before = [j for j in range(5) if j * t < k]
            assert torch.equal(z[:, before], base[:, before]), k
            assert not torch.equal(z, base), k
        codes = m.codes(m.tokenize(x.reshape(1, -1)))
        out = m.decode(codes).reshape(1, frames, -1)
        codes2 = codes.clone()
        codes2[:, 3] += 1.0  # latent frame 3 feeds output frames 9 ... 12 and later, never 0 ... 8
        out2 = m.decode(codes2).reshape(1, frames, -1)
        assert torch.equal(out[:, :9], out2[:, :9]) and not torch.equal(out[:, 9:], out2[:, 9:])


def test_frame_zero_fed_alone_decodes_as_in_the_clip():
    m = _model()
    x = torch.rand(3, 17 * 16 * 16)
    with torch.no_grad():
        whole = m.reconstruct(x)[:, 0]
        alone = m.reconstruct(x[:, : 16 * 16])[:, 0]
    assert torch.allclose(whole, alone, atol=1e-6)


@pytest.fixture
def clip_npz(tmp_path):
    clips, _ = moving_mnist(_digits(), n=20, frames=6, seed=5, canvas=16 + DIGIT)
    path = tmp_path / "clips.npz"
    np.savez(path, x=clips[:, :, 14:30, 14:30])  # 16 x 16 windows of the moving digits
    return path


VIDEO = ["--model", "video", "--frames", "5", "--width", "4", "--levels", "5,5,5", "--batch-size", "6",
         "--precision", "fp32", "--quiet"]  # fmt: skip


def test_video_end_to_end(tmp_path, clip_npz, capsys):
    """train, evaluate (per-frame metrics, frame 0 alone), recon (GIF and strip), tokenize, detokenize, prior,
    sample (a GIF grid), and a shape refused in one line."""
    run = tmp_path / "video"
    assert main(["train", "--dataset", str(clip_npz), *VIDEO, "--epochs", "1", "--out", str(run)]) == 0
    html = (run / "report.html").read_text()
    assert "frame 0" in html and (run / "reconstructions.gif").exists() and (run / "frame_psnr.png").exists()
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert len(m["psnr_per_frame"]) == 5 and len(m["ssim_per_frame"]) == 5
    assert m["psnr"] == pytest.approx(np.mean(m["psnr_per_frame"]), abs=1e-4)
    assert m["psnr_first_frame_alone"] == pytest.approx(m["psnr_per_frame"][0], abs=1e-4)
    assert m["tokens_per_clip"] == 2 * 4 * 4 and 0 < m["codebook_usage"] <= 1
    from PIL import Image

    assert main(["recon", str(run), "--out", str(tmp_path / "r"), "-n", "3"]) == 0
    with Image.open(tmp_path / "r" / "reconstructions.gif") as gif:
        assert gif.n_frames == 5
    tokens = tmp_path / "t.npy"
    assert main(["tokenize", str(run), "--out", str(tokens)]) == 0
    assert np.load(tokens).shape == (2, 2, 4, 4)  # the test split: 2 of 20 clips
    assert main(["detokenize", str(run), str(tokens), "--out", str(tmp_path / "d.gif")]) == 0
    with Image.open(tmp_path / "d.gif") as gif:
        assert gif.n_frames == 5
    assert main(["prior", str(run), "--epochs", "1", "--layers", "1", "--dim", "16", "--heads", "2", "--quiet",
                 "--precision", "fp32"]) == 0  # fmt: skip
    assert main(["sample", str(run), "--out", str(tmp_path / "s.gif"), "-n", "4"]) == 0
    with Image.open(tmp_path / "s.gif") as gif:
        assert gif.n_frames == 5
    capsys.readouterr()
    bad = ["train", "--dataset", str(clip_npz), *VIDEO, "--frames", "6", "--out", str(tmp_path / "bad")]
    assert main(bad) == 2
    err = capsys.readouterr().err
    assert "1 + a multiple of --time-downsample 4" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists()


def test_an_image_dataset_is_refused_by_the_video_model(tmp_path, blob_npz, capsys):
    assert main(["train", "--dataset", str(blob_npz), "--model", "video", "--quiet", "--out", str(tmp_path / "v")]) == 2
    err = capsys.readouterr().err
    assert "takes clips (T, H, W, C)" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("quantizer", ["fsq", "gaussian"])
def test_a_resumed_video_run_equals_an_uninterrupted_one(tmp_path, clip_npz, quantizer):
    """The Gaussian latent draws its noise from the run's generator, which the checkpoint keeps."""
    args = ["train", "--dataset", str(clip_npz), *VIDEO, "--video-quantizer", quantizer, "--no-report"]
    assert_resume_is_uninterrupted(args, tmp_path)


@pytest.mark.parametrize("wavelet, quantizer", [("on", "fsq"), ("off", "vq")])
def test_the_video_onnx_graphs_match_torch(tmp_path, clip_npz, wavelet, quantizer):
    """export/onnx_video.py: the encoder gives the same tokens, the decoder the same clips, in onnxruntime."""
    ort = pytest.importorskip("onnxruntime")
    from vaekit.export.onnx import export_onnx
    from vaekit.runs.open import open_run

    run_dir = tmp_path / "v"
    args = [
        "train",
        "--dataset",
        str(clip_npz),
        *VIDEO,
        "--wavelet",
        wavelet,
        "--video-quantizer",
        quantizer,
        "--codebook-size",
        "16",
        "--code-dim",
        "3",
        "--max-steps",
        "4",
        "--out",
        str(run_dir),
        "--no-report",
    ]
    assert main(args) == 0
    enc, dec = export_onnx(run_dir, tmp_path / "onnx")
    run = open_run(run_dir)
    x = run.x_test.numpy()
    tokens = ort.InferenceSession(str(enc)).run(None, {"x": x})[0]
    want = run.tokenizer.tokenize(run.x_test).numpy()
    assert (tokens == want).mean() > 0.99  # rounding at a boundary may flip a rare token
    logits, mean = ort.InferenceSession(str(dec)).run(None, {"tokens": want})
    ref = run.tokenizer.decode(run.tokenizer.codes(torch.from_numpy(want))).detach().numpy()
    assert np.allclose(logits, ref, atol=1e-4)
    assert np.allclose(mean, run.tokenizer.detokenize(torch.from_numpy(want)).reshape(len(x), -1).numpy(), atol=1e-5)


def test_the_gaussian_latent_is_a_vae_with_a_causal_grid():
    """--video-quantizer gaussian: [mu, logvar] per latent position; training samples z (from the run's
    generator), evaluation decodes mu; the loss term is the KL to N(0, I) summed per clip; still causal."""
    m = _model(quantizer="gaussian", frames=5)
    x = torch.rand(2, 5 * 16 * 16)
    h = m.encode(x)
    assert h.shape == (2, 2, 4, 4, 6)  # (B, t', h, w, 2 D) with D = --code-dim 3
    mu, logvar = h.chunk(2, -1)
    out = m(x)  # evaluation mode: z = mu
    assert torch.equal(out.z_q, mu) and out.indices.shape == (2, 2, 4, 4, 0)
    kl = 0.5 * (mu.square() + logvar.exp() - 1 - logvar).sum((1, 2, 3, 4)).mean()
    assert out.quant_loss.item() == pytest.approx(kl.item(), rel=1e-5)
    m.train()
    m.generator = torch.Generator().manual_seed(1)
    z1 = m(x).z_q
    m.generator = torch.Generator().manual_seed(1)
    assert torch.equal(m(x).z_q, z1) and not torch.equal(z1, mu)  # a sample, drawn from the run's generator
    m.eval()
    y = x.reshape(2, 5, -1).clone()
    y[:, 3] = torch.rand(16 * 16)
    assert torch.equal(m.encode(y.reshape(2, -1))[:, 0], h[:, 0])  # latent frame 0 never sees frame 3
    assert m.sample(3, torch.Generator().manual_seed(0)).shape == (3, 5, 16, 16, 1)
    for verb in (lambda: m.tokenize(x), lambda: m.detokenize(torch.zeros(1, 2, 4, 4, dtype=torch.long))):
        with pytest.raises(ConfigError, match="continuous"):
            verb()


def test_a_gaussian_video_run_end_to_end(tmp_path, clip_npz, capsys):
    """A video VAE trains, evaluates (the KL in quant, no codebook numbers), samples a GIF from N(0, I), exports
    ONNX that matches torch, and refuses tokens and a token prior in one line each."""
    run = tmp_path / "vvae"
    args = ["train", "--dataset", str(clip_npz), *VIDEO, "--video-quantizer", "gaussian", "--code-dim", "3",
            "--epochs", "1", "--out", str(run)]  # fmt: skip
    assert main(args) == 0
    html = (run / "report.html").read_text()
    assert "KL to N(0, I)" in html and (run / "samples.gif").exists() and "Codes" not in html
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["quant"] > 0 and m["loss"] == pytest.approx(m["recon"] + m["quant"], rel=1e-6)
    assert "codebook_usage" not in m and len(m["psnr_per_frame"]) == 5
    assert m["psnr_first_frame_alone"] == pytest.approx(m["psnr_per_frame"][0], abs=1e-4)
    from PIL import Image

    assert main(["sample", str(run), "--out", str(tmp_path / "s.gif"), "-n", "4"]) == 0
    with Image.open(tmp_path / "s.gif") as gif:
        assert gif.n_frames == 5
    for verb in (["tokenize", str(run), "--out", str(tmp_path / "t.npy")], ["prior", str(run), "--quiet"]):
        capsys.readouterr()
        assert main(verb) == 2, verb
        err = capsys.readouterr().err
        assert "continuous" in err and len(err.strip().splitlines()) == 1, verb
    ort = pytest.importorskip("onnxruntime")
    from vaekit.export.onnx import export_onnx
    from vaekit.runs.open import open_run

    enc, dec = export_onnx(run, tmp_path / "onnx")
    opened = open_run(run)
    x = opened.x_test.numpy()
    mu, logvar = ort.InferenceSession(str(enc)).run(None, {"x": x})
    want_mu, want_logvar = opened.tokenizer.encode(opened.x_test).detach().chunk(2, -1)
    assert np.allclose(mu, want_mu.numpy(), atol=1e-4) and np.allclose(logvar, want_logvar.numpy(), atol=1e-4)
    logits, mean = ort.InferenceSession(str(dec)).run(None, {"z": mu})
    assert np.allclose(mean, opened.tokenizer.reconstruct(opened.x_test).reshape(len(x), -1).numpy(), atol=1e-5)
