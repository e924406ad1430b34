"""The real download code against a local HTTP server, and the search order for built-in datasets."""

import gzip
import hashlib
import http.server
import threading
import time
import zipfile
from functools import partial

import numpy as np
import pytest

from vaekit.data import Resource, encode_idx, fetch_resources, load_builtin
from vaekit.data import datasets as dsmod
from vaekit.data.fetch import read_zip_member
from vaekit.errors import DataError


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_root(tmp_path):
    """Serve tmp_path/www on 127.0.0.1; yields (folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_download_with_checksum(http_root, tmp_path):
    root, url = http_root
    payload = gzip.compress(b"hello idx")
    (root / "f.gz").write_bytes(payload)
    out = fetch_resources([Resource("f.gz", (_sha(payload),))], [url], tmp_path / "dest", quiet=True)
    assert out["f.gz"].read_bytes() == payload


def test_checksum_of_decompressed_content_is_accepted(http_root, tmp_path):
    root, url = http_root
    (root / "f.gz").write_bytes(gzip.compress(b"content", mtime=0))
    out = fetch_resources([Resource("f.gz", (_sha(b"content"),))], [url], tmp_path / "dest", quiet=True)
    assert gzip.decompress(out["f.gz"].read_bytes()) == b"content"


def test_checksum_mismatch_is_an_error_and_nothing_is_kept(http_root, tmp_path):
    root, url = http_root
    (root / "f.gz").write_bytes(b"tampered")
    with pytest.raises(DataError, match="sha256 mismatch"):
        fetch_resources([Resource("f.gz", (_sha(b"original"),))], [url], tmp_path / "dest", quiet=True)
    assert not (tmp_path / "dest" / "f.gz").exists()


def test_next_mirror_is_tried(http_root, tmp_path):
    root, url = http_root
    (root / "good").mkdir()
    (root / "good" / "f").write_bytes(b"data")
    out = fetch_resources([Resource("f", (_sha(b"data"),))], [url + "missing/", url + "good/"], tmp_path, quiet=True)
    assert out["f"].read_bytes() == b"data"


def test_unreachable_mirror_fails_fast(tmp_path):
    t0 = time.perf_counter()
    with pytest.raises(DataError, match="download failed"):
        fetch_resources([Resource("f", ("0" * 64,))], ["http://127.0.0.1:9/"], tmp_path, timeout=2, quiet=True)
    assert time.perf_counter() - t0 < 10


def _fake_mnist(n_train=60000, n_test=10000):
    rng = np.random.default_rng(0)
    return (
        rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, n_train).astype(np.uint8),
        rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, n_test).astype(np.uint8),
    )


def test_mnist_download_then_cache(http_root, monkeypatch):
    root, url = http_root
    arrays = _fake_mnist()
    resources = []
    for stem, a in zip(dsmod.IDX_FILES, arrays, strict=True):
        blob = gzip.compress(encode_idx(a), compresslevel=1)
        (root / f"{stem}.gz").write_bytes(blob)
        resources.append(Resource(f"{stem}.gz", (_sha(blob),)))
    monkeypatch.setattr(dsmod, "MNIST_MIRRORS", (url,))
    monkeypatch.setattr(dsmod, "MNIST_RESOURCES", tuple(resources))
    monkeypatch.setattr(dsmod, "KERAS_DIR", root / "no-keras")
    monkeypatch.chdir(root)
    ds = load_builtin("mnist", quiet=True)
    np.testing.assert_array_equal(ds.x_test, arrays[2])
    for f in root.glob("*.gz"):
        f.unlink()  # the second load must come from the cache
    again = load_builtin("mnist", quiet=True)
    assert again.source.endswith("mnist.npz")  # the uncompressed uint8 cache
    np.testing.assert_array_equal(again.x_train, arrays[0])
    np.testing.assert_array_equal(again.y_train, arrays[1])


def test_torchvision_layout_in_data_dir(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    arrays = _fake_mnist()
    for stem, a in zip(dsmod.IDX_FILES, arrays, strict=True):
        (raw / stem).write_bytes(encode_idx(a))
    ds = load_builtin("mnist", data_dir=tmp_path, quiet=True)
    np.testing.assert_array_equal(ds.y_test, arrays[3])


def test_wrong_sized_mnist_is_rejected(tmp_path):
    for stem, a in zip(dsmod.IDX_FILES, _fake_mnist(100, 10), strict=True):
        (tmp_path / stem).write_bytes(encode_idx(a))
    with pytest.raises(DataError, match="expected 60000"):
        load_builtin("mnist", data_dir=tmp_path, quiet=True)


def test_fashion_mnist_unavailable_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(dsmod, "FASHION_MIRRORS", ("http://127.0.0.1:9/",))
    monkeypatch.setattr(dsmod, "DEBIAN_FASHION_DIR", tmp_path / "none")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_builtin("fashion-mnist", quiet=True)


def test_wheel_member_checksum(tmp_path):
    whl = tmp_path / "pkg-0.1-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as z:
        z.writestr("pkg/data.bin", b"payload")
    assert read_zip_member(whl, "pkg/data.bin", _sha(b"payload")) == b"payload"
    with pytest.raises(DataError, match="sha256 mismatch"):
        read_zip_member(whl, "pkg/data.bin", _sha(b"other"))
    with pytest.raises(DataError, match="has no"):
        read_zip_member(whl, "pkg/missing", _sha(b"payload"))
