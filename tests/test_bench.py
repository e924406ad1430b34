"""`vaekit bench`: every variant, the roofline and efficiency, and the JAX peer's loss against vaekit's."""

import statistics

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import blob_images
from vaekit.config import GaussianConfig
from vaekit.losses import vae_loss
from vaekit.measure import compare as bench_mod
from vaekit.measure import jaxpeer
from vaekit.measure import roofline as roof_mod
from vaekit.measure.compare import (
    bench,
    bench_chart,
    markdown_table,
    paired_speedup,
    race,
    race_chart,
    race_table,
)
from vaekit.measure.roofline import best_product, last_level_cache_bytes, product_shapes, triad
from vaekit.models import GaussianVAE

SMALL_STREAM = 1 << 20  # the out-of-cache triad at a test's size (the bench's own default is 4x the LLC)


class FakeClock:
    """A clock that advances ``tick`` seconds every time it is read."""

    def __init__(self, tick: float):
        self.t, self.tick = 0.0, tick

    def __call__(self) -> float:
        self.t += self.tick
        return self.t


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
    report = bench(1, variants, "cpu", str(mnist_sized_npz), stream_bytes=SMALL_STREAM)
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
    assert report["speedup"]["naive"] == 1.0 and report["paired_speedup"]["naive"] == 1.0
    assert report["machine"]["denormals"] == "flush"
    table = markdown_table(report)
    assert all(f"| {name} |" in table for name in variants)


def test_jax_is_skipped_with_a_note_where_it_is_not_installed(mnist_sized_npz, monkeypatch, tmp_path):
    monkeypatch.setattr(bench_mod.jaxpeer, "available", lambda: False)
    report = bench(1, ("fp32", "jax"), "cpu", str(mnist_sized_npz), stream_bytes=SMALL_STREAM)
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


@pytest.mark.parametrize("tick", [1e-9, 1e3])
def test_an_efficiency_above_one_is_reported_as_a_wrong_floor(mnist_sized_npz, tick):
    """With a fake clock, epochs take 2 ns (faster than any floor) or 2000 s: the bench never passes off an
    efficiency above 1 as a result."""
    report = bench(1, ("naive", "fp32"), "cpu", str(mnist_sized_npz), clock=FakeClock(tick), stream_bytes=SMALL_STREAM)
    for name, v in report["variants"].items():
        assert v["sec_per_epoch"] == pytest.approx(tick)
        assert (v["efficiency"] > 1) == (name in report["floor_wrong"]), name
    table = markdown_table(report)
    if tick < 1:
        assert report["floor_wrong"] == ["naive", "fp32"] and table.count("(floor wrong)") == 2
    else:
        assert report["floor_wrong"] == [] and "floor wrong" not in table


def test_the_floor_takes_the_fastest_path_of_each_product(monkeypatch):
    """Every path is timed with and without threads, and the floor keeps the best repeat of the fastest."""
    fake = {"blas": [3e-3, 2e-3], "blas-bt": [5e-3, 5e-3], "blas-at": [4e-3, 4e-3], "bmm": [9e-3, 9e-3],
            "onednn": [1.5e-3, 3e-3]}  # fmt: skip
    calls = []

    def time_repeats(fn, device, repeats=7, inner=None, target_s=0.004):
        calls.append(torch.get_num_threads())
        return fake[fn.path]

    def paths(m, k, n, dtype, device):
        def make(name):
            fn = lambda: None  # noqa: E731
            fn.path = name
            return fn

        return {name: make(name) for name in fake}

    monkeypatch.setattr(roof_mod, "time_repeats", time_repeats)
    monkeypatch.setattr(roof_mod, "gemm_paths", paths)
    threads = torch.get_num_threads()
    best = best_product(8, 8, 8, torch.float32, torch.device("cpu"))
    assert best["seconds"] == 1.5e-3 and best["path"] == "onednn"
    assert best["spread"] == pytest.approx(statistics.median([1.5e-3, 3e-3]) / 1.5e-3 - 1)
    assert calls.count(threads) == len(fake) and (threads == 1 or calls.count(1) == len(fake))
    assert torch.get_num_threads() == threads  # the thread count is put back


def test_every_gemm_path_computes_the_same_product():
    """In both dtypes on every CPU (oneDNN's bf16 path exists only where the CPU runs it: an AVX2-only CPU has
    none, and offering it there failed the roofline)."""
    for dtype in (torch.float32, torch.bfloat16):
        paths = roof_mod.gemm_paths(5, 7, 3, dtype, torch.device("cpu"))
        assert ("onednn" in paths) == roof_mod.onednn_matmul(dtype)
        reference = paths["blas"]().clone()
        for name, fn in paths.items():
            out = fn()
            assert out.shape == (5, 3) or out.shape == (1, 5, 3), name
            torch.testing.assert_close(out.reshape(5, 3), reference, msg=name)


def test_the_triad_and_the_cache_size(tmp_path):
    for level, kind, size in ((1, "Data", "48K"), (2, "Unified", "2048K"), (3, "Unified", "105M")):
        d = tmp_path / f"index{level}"
        d.mkdir()
        (d / "level").write_text(f"{level}\n")
        (d / "type").write_text(kind)
        (d / "size").write_text(f"{size}\n")
    assert last_level_cache_bytes(tmp_path) == 105 << 20
    assert last_level_cache_bytes(tmp_path / "absent") is None
    t = triad(1 << 16, torch.device("cpu"), repeats=3)
    assert t["gb_s"] > 0 and t["spread"] >= 0 and t["bytes"] == 3 * 4 << 16


def test_time_to_quality_excludes_the_evaluations(mnist_sized_npz, monkeypatch):
    """Each variant trains until its test loss reaches the target; the seconds it reports are training seconds
    only: here every evaluation costs a fake 100 s, and none of it is counted."""
    clock = FakeClock(1e-3)
    real = bench_mod._Engine.test_loss

    def slow_test_loss(self):
        clock.t += 100.0
        return real(self)

    monkeypatch.setattr(bench_mod._Engine, "test_loss", slow_test_loss)
    report = race(1e6, ("fp32",), "cpu", str(mnist_sized_npz), eval_every=2, max_epochs=1, clock=clock)
    v = report["variants"]["fp32"]
    assert v["steps"] == 2 and v["seconds"] is not None and v["seconds"] < 1  # reached at the first evaluation
    report = race(1.0, ("naive", "fp32"), "cpu", str(mnist_sized_npz), eval_every=2, max_epochs=2, clock=clock)
    for name, v in report["variants"].items():  # out of reach: every 2 steps and at each end of 3-step epochs
        steps = [c[0] for c in v["curve"]]
        assert v["seconds"] is None and steps == [2, 3, 5, 6] and v["loss"] == min(c[2] for c in v["curve"]), name
        seconds = [c[1] for c in v["curve"]]
        assert seconds == sorted(seconds) and seconds[-1] < 1, name
    assert "not reached in 2 epochs" in race_table(report)


@pytest.mark.skipif(not jaxpeer.available(), reason="jax and optax are the [peers] extra")
def test_time_to_quality_for_every_variant(mnist_sized_npz, tmp_path):
    variants = ("naive", "fp32", "auto", "jax")
    report = race(1e6, variants, "cpu", str(mnist_sized_npz), eval_every=3)
    assert tuple(report["variants"]) == variants
    for name, v in report["variants"].items():
        assert v["seconds"] is not None and v["seconds"] > 0 and v["steps"] == 3, name
    assert report["variants"]["jax"]["compile_s"] > 0
    table = race_table(report)
    assert all(f"| {name} | **" in table for name in variants)
    with Image.open(race_chart(report, tmp_path / "race.png")) as im:
        assert np.asarray(im.convert("L")).std() > 10


@pytest.mark.skipif(not jaxpeer.available(), reason="jax and optax are the [peers] extra")
def test_jax_peer_trains_in_chunks_and_compiles_without_training():
    x = np.random.default_rng(0).random((300, 784), dtype=np.float32)  # 4 full batches of 64 and one of 44
    peer = jaxpeer.JaxVAE(x, batch_size=64)
    before = peer.state_dict()
    peer.compile_chunks(3)
    assert all(torch.equal(before[k], t) for k, t in peer.state_dict().items())  # compiling trained nothing
    assert list(peer.epoch_in_chunks(3)) == [3, 5] and list(peer.epoch_in_chunks(5)) == [10]
    assert not torch.equal(before["encoder.0.weight"], peer.state_dict()["encoder.0.weight"])
    peer.run_epoch()
    assert peer.steps == 15


def test_the_machine_record_names_the_cpu_family_and_model():
    """A bare model name ("AMD EPYC" under a hypervisor) says nothing of the generation; the numbers do."""
    from vaekit.measure.compare import cpu_identity

    text = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\nmodel name\t: AMD EPYC\n\n"
    text += "processor\t: 1\ncpu family\t: 23\nmodel\t\t: 49\nmodel name\t: other\n"
    assert cpu_identity(text) == {"cpu": "AMD EPYC", "cpu_id": "family 25 model 1"}
    assert cpu_identity("model name\t: Some CPU\n") == {"cpu": "Some CPU"}
    assert cpu_identity("") == {}


def test_the_paired_speedup_compares_epochs_of_the_same_round():
    """Rounds 2-3 ran on a slowed machine (both variants 1.5x slower), and a second slow spell began in round 4
    between the naive epoch and the fp32 one: the ratio of the medians says 1.35x, the rounds' own ratios 2x."""
    naive = [2.7, 4.2, 4.0, 2.6, 2.65]
    fp32 = [1.35, 2.1, 2.0, 2.05, 1.3]
    assert statistics.median(naive) / statistics.median(fp32) == pytest.approx(1.35)
    assert paired_speedup(naive, fp32) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        paired_speedup(naive, fp32[:3])
    report = {"variants": {n: {"precision": "fp32", "floor_s": 1.0, "efficiency": 1.0 / statistics.median(t),
                               "sec_per_epoch": statistics.median(t), "spread": 0.0, "warmup_sec": 1.0,
                               "test_loss": 100.0, "peak_rss_mb": 1.0, "rss_added_mb": 1.0, "epoch_seconds": t}
                           for n, t in (("naive", naive), ("fp32", fp32))},
              "speedup": {"naive": 1.0, "fp32": statistics.median(naive) / statistics.median(fp32)}}  # fmt: skip
    assert "| 1.35x | 2.00x |" in markdown_table(report)  # a report without paired_speedup: from its epochs
