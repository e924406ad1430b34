"""Looking inside a trained VAE: diagnosis, latent maps, interpolation, traversals, attribute vectors, report."""

import base64
import csv
import re
import shutil
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image

from vaekit.analysis import explore
from vaekit.analysis.latent import Selector, decode_images, encode_means, lerp, pca_2d, slerp
from vaekit.analysis.report import build_report
from vaekit.cli import main
from vaekit.config import GaussianConfig, RunConfig
from vaekit.errors import ConfigError
from vaekit.runs.open import open_run
from vaekit.training.loop import train


def _train(npz, out, latent_dim=3, epochs=3, beta=1.0):
    cfg = RunConfig(model=GaussianConfig(preset="test", hidden=(32,), latent_dim=latent_dim))
    cfg.data.dataset, cfg.train.epochs, cfg.train.batch_size, cfg.train.device = str(npz), epochs, 32, "cpu"
    cfg.loss.beta = beta
    train(cfg, out, progress=False)
    return open_run(out)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from conftest import blob_images

    d = tmp_path_factory.mktemp("explore")
    x, y = blob_images()
    np.savez(d / "blobs.npz", x=x, y=y)
    return _train(d / "blobs.npz", d / "run")


def _not_blank(path):
    with Image.open(path) as im:
        im.load()
        return np.asarray(im.convert("L")).std() > 1


def test_diagnose_reports_collapsed_dimensions(run, tmp_path):
    with torch.no_grad():  # make z2 ignore the input and sit at the prior: KL exactly 0
        last = run.model.encoder[-1]
        d = run.model.latent_dim
        for row in (1, d + 1):
            last.weight[row].zero_()
            last.bias[row] = 0.0
    try:
        out = explore.diagnose(run, tmp_path)
    finally:
        run.model.load_state_dict(open_run(run.path).model.state_dict())
    assert set(out) == {"kl_per_dim", "active_units", "collapsed", "kl_total"}
    assert 1 in out["collapsed"] and out["kl_per_dim"][1] < 1e-6
    assert out["kl_total"] == pytest.approx(sum(out["kl_per_dim"]))
    assert out["active_units"] <= d - 1
    assert _not_blank(tmp_path / "kl_per_dim.png")


def test_latent_csv_and_scatter(run, tmp_path):
    r = explore.latent_map(run, tmp_path)
    rows = list(csv.reader(open(r["csv"])))
    assert rows[0] == ["z1", "z2", "z3", "label"]
    assert len(rows) - 1 == run.x_test.shape[0] == r["rows"]
    z = encode_means(run.model, run.x_test).numpy()
    np.testing.assert_allclose(np.array(rows[1][:3], dtype=float), z[0], rtol=1e-4, atol=1e-5)
    assert int(rows[1][3]) == run.y_test[0]
    assert r["method"] == "pca" and _not_blank(r["png"])


def test_pca_recovers_the_dominant_axis():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2000, 3)) * np.array([5.0, 1.0, 0.1])
    proj, ratio = pca_2d(z)
    assert ratio[0] > 0.9 and ratio.sum() <= 1
    assert abs(np.corrcoef(proj[:, 0], z[:, 0])[0, 1]) > 0.99


def test_lerp_and_slerp_endpoints_and_norm():
    a, b = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    t = torch.linspace(0, 1, 5)
    for f in (lerp, slerp):
        p = f(a, b, t)
        torch.testing.assert_close(p[0], a)
        torch.testing.assert_close(p[-1], b)
    torch.testing.assert_close(slerp(a, b, t).norm(dim=1), torch.full((5,), 3.0))


def test_interpolation_ends_decode_the_endpoints(run, tmp_path):
    png, gif = explore.interpolate_run(run, "0", "3", tmp_path, steps=6)
    ia, ib = explore.pick_index("0", run.y_test, len(run.y_test)), explore.pick_index("3", run.y_test, 24)
    assert run.y_test[ia] == 0 and run.y_test[ib] == 3
    with Image.open(png) as im:
        assert im.size == ((6 * (8 + 2) + 2) * 3, (8 + 2 + 2) * 3)
    with Image.open(gif) as im:
        assert im.n_frames == 2 * 6 - 2
    ends = decode_images(run.model, encode_means(run.model, run.x_test[[ia, ib]]))
    frames = __import__("vaekit.analysis.latent", fromlist=["interpolate"]).interpolate(
        run.model, *encode_means(run.model, run.x_test[[ia, ib]]), steps=6
    )
    np.testing.assert_allclose(frames[[0, -1]], ends, atol=1e-6)


def test_manifold_needs_two_dims(run, tmp_path, blob_npz):
    with pytest.raises(ConfigError, match="2-dimensional"):
        explore.manifold(run, tmp_path)
    two = _train(blob_npz, tmp_path / "two", latent_dim=2, epochs=1)
    path = explore.manifold(two, tmp_path, n=5)
    with Image.open(path) as im:
        assert im.size == ((5 * 10 + 2) * 2,) * 2


def test_traverse_orders_rows_by_kl(run, tmp_path):
    path = explore.traverse_run(run, tmp_path, index=2, steps=5)
    assert _not_blank(path)
    with pytest.raises(ConfigError, match="out of range"):
        explore.traverse_run(run, tmp_path, index=10_000)


def test_selectors():
    assert Selector.parse("label=3") == Selector("label", "=", 3.0)
    assert Selector.parse(" ink > 0.6 ") == Selector("ink", ">", 0.6)
    assert str(Selector.parse("ink<0.4")) == "ink<0.4"
    for bad in ("label:3", "ink>1.5", "thickness>0.5", "ink=0.5"):
        with pytest.raises(ConfigError):
            Selector.parse(bad)
    x = np.linspace(0, 1, 100)[:, None] * np.ones((100, 4))
    assert Selector.parse("ink>0.6").mask(x, None).sum() == 40  # values above the 0.6 quantile (0.6)
    with pytest.raises(ConfigError, match="no labels"):
        Selector.parse("label=1").mask(x, None)


def test_attribute_vector_is_the_mean_difference(run, tmp_path):
    res, path = explore.attribute_run(run, "label=1", "label=2", [-1.0, 0.0, 1.0], tmp_path, n_images=4)
    mu = encode_means(run.model, run.x_test).numpy()
    expected = mu[run.y_test == 1].mean(0) - mu[run.y_test == 2].mean(0)
    np.testing.assert_allclose(res.vector, expected, rtol=1e-5, atol=1e-6)
    assert res.norm == pytest.approx(float(np.linalg.norm(expected)), rel=1e-5)
    assert res.images.shape == (3, 4, 8, 8) and len(res.mean_ink) == 3
    assert _not_blank(path)


def test_cli_verbs_and_errors(run, tmp_path, capsys):
    out = ["--out", str(tmp_path), "--overwrite"]
    assert main(["diagnose", str(run.path), "--json", *out]) == 0
    assert '"collapsed"' in capsys.readouterr().out
    assert main(["attribute", str(run.path), "--positive", "ink>0.6", "--negative", "ink<0.4", *out]) == 0
    assert "mean ink" in capsys.readouterr().out
    for args, msg in [
        (["attribute", str(run.path), "--positive", "smile", "--negative", "label=1"], "--positive must be label=K"),
        (["interpolate", str(run.path), "--from", "0", "--to", "7"], "no test image has label 7"),
        (["manifold", str(run.path)], "2-dimensional"),
        (["diagnose", str(tmp_path / "missing")], "no such run"),
    ]:
        assert main([*args, *out]) == 2
        assert msg in capsys.readouterr().err


def test_report_embeds_every_figure(run, tmp_path):
    path = build_report(run, tmp_path)
    text = path.read_text()
    uris = re.findall(r'src="data:image/(png|gif);base64,([^"]+)"', text)
    assert len(uris) >= 7
    for _, data in uris:
        assert base64.b64decode(data)[:4] in (b"\x89PNG", b"GIF8")
    assert "data-images-loaded" in text and "Test metrics" in text
    assert "href='explorer.html'" in text and (tmp_path / "explorer.html").stat().st_size > 1000


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
HEADLESS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian package: chromium)")
def test_report_renders_in_chromium(run, tmp_path):
    path = build_report(run, tmp_path)
    profile = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run(
        [CHROMIUM, *HEADLESS, *profile, "--virtual-time-budget=5000", "--dump-dom", path.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    m = re.search(r'data-images-loaded="(\d+)/(\d+)"', dom.stdout)
    assert m, dom.stderr[-2000:]
    assert m.group(1) == m.group(2) and int(m.group(2)) >= 7
    shot = tmp_path / "report.png"
    subprocess.run(
        [CHROMIUM, *HEADLESS, *profile, "--window-size=1200,2400", f"--screenshot={shot}", path.as_uri()],
        capture_output=True,
        timeout=120,
    )
    assert _not_blank(shot)
