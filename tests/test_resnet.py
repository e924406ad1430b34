"""The resnet conv layout (stride-2 convolutions, group norm, SiLU, residual blocks) for any (H, W, C) and f:
shapes, the torch <-> NumPy <-> ONNX parity of colour tokenizers and conv VAEs, and old runs loading as plain."""

import json
import math

import numpy as np
import pytest
import torch

from vaekit.arch import res_decoder, res_encoder, tokenizer_encoder
from vaekit.config import GaussianConfig, TokenizerConfig, load_json_config
from vaekit.export import portable
from vaekit.models import ConvTokenizer, GaussianVAE
from vaekit.models.nets import build


@pytest.mark.parametrize("f", [4, 8, 16])
def test_encoder_reaches_the_token_grid_and_the_decoder_mirrors_it(f):
    ws = [8 * 2**i for i in range(int(math.log2(f)))]
    enc, dec = build(res_encoder(3, ws, blocks=2)), build(res_decoder(3, ws, blocks=2))
    x = torch.rand(2, 3, 32, 48)
    h = enc(x)
    assert h.shape == (2, ws[-1], 32 // f, 48 // f)
    assert dec(h).shape == x.shape


@pytest.mark.parametrize("kind", ["vq", "fsq", "mgvq"])
@pytest.mark.parametrize("shape,f", [((16, 24, 3), 8), ((16, 16), 4)], ids=["rgb-f8", "grey-f4"])
def test_tokenizer_grid_and_tokens_follow_f(kind, shape, f):
    cfg = TokenizerConfig(kind=kind, input_shape=shape, downsample=f, width=8, code_dim=8, codebook_size=16)
    tok = ConvTokenizer(cfg)
    x = torch.rand(3, math.prod(shape))
    tokens = tok.tokenize(x)
    assert tok.grid == (shape[0] // f, shape[1] // f)
    assert tokens.shape[:3] == (3, *tok.grid)
    assert tok.detokenize(tokens).shape == (3, *shape)
    assert tok.reconstruct(x).shape == (3, *shape)


def test_channel_last_pixels_are_read_as_channels():
    """Images are stored (H, W, C): the encoder must see a red image as channel 0 set, not a scrambled mix."""
    tok = ConvTokenizer(TokenizerConfig(kind="vq", input_shape=(8, 8, 3), width=4, code_dim=4)).eval()
    chw = torch.zeros(1, 3, 8, 8)
    chw[:, 0] = 1.0  # pure red, channel-first
    hwc = chw.permute(0, 2, 3, 1).reshape(1, -1)  # as the data stores it
    with torch.no_grad():
        torch.testing.assert_close(tok.encode(hwc), tok.encoder(chw).permute(0, 2, 3, 1))
        out = tok.decoder(tok.encoder(chw))  # (1, 3, 8, 8)
        torch.testing.assert_close(
            tok.decode(tok.encoder(chw).permute(0, 2, 3, 1)), out.permute(0, 2, 3, 1).reshape(1, -1)
        )


def _perturbed(model):
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))  # group-norm scales and shifts away from 1 and 0
    return model.eval()


def _save(tmp_path, model, cfg):
    from safetensors.torch import save_file

    from vaekit.config import RunConfig

    run = tmp_path / "run"
    run.mkdir()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(run / "model.safetensors"))
    (run / "config.json").write_text(json.dumps(RunConfig(model=cfg).to_dict()))
    return run


@pytest.mark.parametrize("kind,likelihood", [("fsq", "bernoulli"), ("vq", "gaussian"), ("mgvq", "bernoulli")])
def test_numpy_and_onnx_tokenizers_match_torch_on_colour(tmp_path, kind, likelihood):
    cfg = TokenizerConfig(
        kind=kind, input_shape=(16, 16, 3), downsample=8, width=8, code_dim=8, codebook_size=32, likelihood=likelihood
    )
    tok = _perturbed(ConvTokenizer(cfg))
    run = _save(tmp_path, tok, cfg)
    x = torch.rand(4, 16 * 16 * 3, generator=torch.Generator().manual_seed(2))
    want_tokens, want_images = tok.tokenize(x).numpy(), tok.reconstruct(x).numpy()
    np_tok = portable.load(run)
    assert np.array_equal(np_tok.encode(x.numpy()), want_tokens)
    np.testing.assert_allclose(np_tok.decode(want_tokens), tok.detokenize(torch.as_tensor(want_tokens)), atol=1e-5)
    assert np_tok.reconstruct(x.numpy()).shape == want_images.shape == (4, 16, 16, 3)

    ort = pytest.importorskip("onnxruntime")
    from vaekit.export.onnx import export_onnx

    enc_path, dec_path = export_onnx(run)
    enc = ort.InferenceSession(str(enc_path), providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(str(dec_path), providers=["CPUExecutionProvider"])
    (tokens,) = enc.run(None, {"x": x.numpy()})
    assert np.array_equal(tokens, want_tokens)
    _, mean = dec.run(None, {"tokens": tokens})
    np.testing.assert_allclose(mean.reshape(want_images.shape), want_images, atol=1e-5)


@pytest.mark.parametrize("f", [4, 8])
def test_numpy_and_onnx_conv_vae_match_torch_on_colour(tmp_path, f):
    cfg = GaussianConfig(arch="conv", input_shape=(16, 8, 3), downsample=f, width=8, hidden=(12,), latent_dim=3)
    vae = _perturbed(GaussianVAE(cfg))
    run = _save(tmp_path, vae, cfg)
    x = torch.rand(5, 16 * 8 * 3, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        mu, logvar = vae.encode(x)
        img = vae.reconstruct(x).numpy()
    np_vae = portable.load(run)
    got_mu, got_logvar = np_vae.encode(x.numpy())
    np.testing.assert_allclose(got_mu, mu.numpy(), atol=1e-5)
    np.testing.assert_allclose(got_logvar, logvar.numpy(), atol=1e-5)
    np.testing.assert_allclose(np_vae.reconstruct(x.numpy()), img, atol=1e-5)
    assert img.shape == (5, 16, 8, 3)

    ort = pytest.importorskip("onnxruntime")
    from vaekit.export.onnx import export_onnx

    enc_path, dec_path = export_onnx(run)
    enc = ort.InferenceSession(str(enc_path), providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(str(dec_path), providers=["CPUExecutionProvider"])
    o_mu, _ = enc.run(None, {"x": x.numpy()})
    np.testing.assert_allclose(o_mu, mu.numpy(), atol=1e-5)
    _, mean = dec.run(None, {"z": mu.numpy()})
    np.testing.assert_allclose(mean.reshape(img.shape), img, atol=1e-5)


def test_a_config_written_before_the_resnet_layout_loads_as_plain(tmp_path):
    """config.json files without model.net come from the plain ReLU stack; they must rebuild that model."""
    old = {"model": {"kind": "fsq", "input_shape": [28, 28]}, "train": {"epochs": 1}}
    (tmp_path / "config.json").write_text(json.dumps(old))
    cfg = load_json_config(tmp_path / "config.json")
    assert cfg.model.net == "plain"
    assert tokenizer_encoder(cfg.model, 4)[0] == ("conv", 1, 32)
    assert GaussianConfig().net == "resnet"  # new runs get the resnet layout


def test_bicubic_yardstick_is_exact_on_flat_images_and_worse_on_finer_detail():
    from vaekit.evaluation.metrics import bicubic_psnr

    flat = torch.full((2, 16 * 16 * 3), 0.4)
    assert bicubic_psnr(flat, (16, 16, 3), (4, 4)) == pytest.approx(100.0)  # MSE clamped at 1e-10
    yy, xx = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    smooth = (0.5 + 0.4 * torch.sin(xx / 5) * torch.cos(yy / 7)).reshape(1, -1)
    noise = torch.rand(1, 256, generator=torch.Generator().manual_seed(0))
    coarse, fine = bicubic_psnr(smooth, (16, 16), (4, 4)), bicubic_psnr(smooth, (16, 16), (8, 8))
    assert bicubic_psnr(noise, (16, 16), (8, 8)) < coarse < fine  # a bigger grid keeps more
