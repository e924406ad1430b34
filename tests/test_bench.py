"""`vaekit bench`: every variant, the roofline and efficiency, and the JAX peer's loss against vaekit's."""

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import blob_images
from vaekit.config import GaussianConfig
from vaekit.losses import vae_loss
from vaekit.measure import compare as bench_mod
from vaekit.measure import jaxpeer
from vaekit.measure.compare import bench, bench_chart, markdown_table, product_shapes
from vaekit.models import GaussianVAE


@pytest.fixture
def mnist_sized_npz(tmp_path):
    x, y = blob_images(n=400, side=28)
    path = tmp_path / "blobs28.npz"
    np.savez(path, x=x, y=y)
    return path


def test_product_shapes_of_one_step():
    layers = [(400, 784), (40, 400), (400, 20), (784, 400)]  # the classic VAE's Linear layers (out, in)
    shapes = product_shapes(layers, 128)
    assert len(shapes) == 4 + 4 + 3  # forward, weight gradient, and input gradient but for the first layer
    assert (128, 784, 400) in shapes and (400, 128, 784) in shapes and (128, 400, 784) in shapes
    assert sum(2 * m * k * n for m, k, n in shapes) == 2 * 128 * (3 * sum(o * i for o, i in layers) - 400 * 784)


@pytest.mark.skipif(not jaxpeer.available(), reason="jax and optax are the [peers] extra")
def test_every_variant_is_measured_against_the_roofline(mnist_sized_npz):
    variants = ("naive", "fp32", "fp32-dynamic", "bf16", "bf16-autograd", "auto", "jax")
    report = bench(1, variants, "cpu", str(mnist_sized_npz))
    assert tuple(report["variants"]) == variants
    roof = report["roofline"]
    assert "fp32" in roof and "bf16" in roof  # bf16 variants ran, so their floor is measured too
    for precision in ("fp32", "bf16"):
        assert len(roof[precision]["products"]) == 11
        assert 0 < roof[precision]["floor_products_s"] < roof[precision]["floor_s"]
    for name, v in report["variants"].items():
        assert v["sec_per_epoch"] > 0 and np.isfinite(v["test_loss"]), name
        assert v["floor_s"] == roof[v["precision"]]["floor_s"]
        assert v["efficiency"] == pytest.approx(v["floor_s"] / v["sec_per_epoch"])
    assert report["variants"]["bf16"]["precision"] == "bf16" and report["variants"]["jax"]["precision"] == "fp32"
    assert report["speedup"]["naive"] == 1.0
    assert report["machine"]["denormals"] == "flush"
    table = markdown_table(report)
    assert all(f"| {name} |" in table for name in variants)


def test_jax_is_skipped_with_a_note_where_it_is_not_installed(mnist_sized_npz, monkeypatch, tmp_path):
    monkeypatch.setattr(bench_mod.jaxpeer, "available", lambda: False)
    report = bench(1, ("fp32", "jax"), "cpu", str(mnist_sized_npz))
    assert tuple(report["variants"]) == ("fp32",) and "[peers]" in report["skipped"]["jax"]
    assert "| jax | skipped" in markdown_table(report)
    with Image.open(bench_chart(report, tmp_path / "bench.png")) as im:
        assert np.asarray(im.convert("L")).std() > 10  # a chart, not a blank canvas


def test_bench_cli_refuses_a_plot_that_is_not_png(capsys):
    from vaekit.cli import main

    assert main(["bench", "--plot", "bench.svg"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --plot bench.svg") and err.count("\n") == 1


@pytest.mark.skipif(not jaxpeer.available(), reason="jax and optax are the [peers] extra")
def test_jax_peer_computes_vaekits_negative_elbo():
    """Parity: the JAX peer's loss of given weights and noise equals vaekit's vae_loss (same model, same maths)."""
    import jax.numpy as jnp

    torch.manual_seed(0)
    model = GaussianVAE(GaussianConfig(input_shape=(6, 6), hidden=(16,), latent_dim=3))
    layers = [model.encoder[0], model.encoder[2], model.decoder[0], model.decoder[2]]
    params = [(jnp.asarray(m.weight.detach().numpy().T), jnp.asarray(m.bias.detach().numpy())) for m in layers]
    x, eps = torch.rand(10, 36), torch.randn(10, 3)
    out = model(x, eps=eps)
    want = vae_loss(out.logits, x, out.mu, out.logvar).total.item()
    got = float(jaxpeer.neg_elbo(params, jnp.asarray(x.numpy()), jnp.asarray(eps.numpy())))
    assert got == pytest.approx(want, rel=1e-5)


@pytest.mark.skipif(not jaxpeer.available(), reason="jax and optax are the [peers] extra")
def test_jax_peer_trains_and_hands_back_vaekit_weights():
    x = np.random.default_rng(0).random((300, 784), dtype=np.float32)
    peer = jaxpeer.JaxVAE(x, batch_size=64)
    losses = [peer.run_epoch() for _ in range(3)]
    assert losses[-1] < losses[0]
    model = GaussianVAE(GaussianConfig(input_shape=(28, 28), hidden=(400,), latent_dim=20))
    model.load_state_dict(peer.state_dict())  # the names and shapes of vaekit's model
