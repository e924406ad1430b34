"""The emoji data set's real download path against a local npm-registry stand-in: metadata, tarball, integrity
(a bad hash is an error and nothing is kept), reading the PNGs from the tarball, labels, and the cache."""

import io
import json
import tarfile

import numpy as np
import pytest
from PIL import Image

from test_fetch import http_root  # noqa: F401  (the local HTTP server fixture)
from vaekit.data import emoji, load_builtin
from vaekit.errors import DataError


def _tarball() -> bytes:
    """A package tarball like emoji-datasource-google's: emoji.json and 64x64 RGBA PNGs."""
    meta = [
        {"image": "1f600.png", "category": "Smileys & Emotion", "name": "GRINNING FACE", "subcategory": "face-smiling"},
        {"image": "1f44d.png", "category": "People & Body", "name": "THUMBS UP SIGN",
         "subcategory": "hand-fingers-closed", "skin_variations": {"1F3FB": {"image": "1f44d-1f3fb.png"}}},
        {"image": "1f697.png", "category": "Travel & Places", "name": "AUTOMOBILE", "subcategory": "transport-ground"},
    ]  # fmt: skip
    files = {"package/emoji.json": json.dumps(meta).encode()}
    for i, name in enumerate(["1f600", "1f44d", "1f44d-1f3fb", "1f697"]):
        rgba = np.zeros((64, 64, 4), np.uint8)
        rgba[16:48, 16:48] = (200, 40 * i, 10, 255)  # an opaque square on a transparent background
        buf = io.BytesIO()
        Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
        files[f"package/img/google/64/{name}.png"] = buf.getvalue()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.fixture
def registry(http_root, monkeypatch):  # noqa: F811
    root, url = http_root
    data = _tarball()
    (root / "tarballs").mkdir()
    (root / "tarballs" / "emoji.tgz").write_bytes(data)
    meta_dir = root / emoji.PACKAGE
    meta_dir.mkdir()
    dist = {"integrity": emoji.integrity_of(data), "tarball": f"{url}tarballs/emoji.tgz"}
    (meta_dir / emoji.VERSION).write_text(json.dumps({"dist": dist}))
    monkeypatch.setenv("VAEKIT_NPM_REGISTRY", url)
    return data


def test_the_tarball_is_fetched_checked_and_read(registry):
    data = emoji.fetch_tarball(expected=emoji.integrity_of(registry), use_npm=False, quiet=True)
    assert data == registry
    x, y, classes, meta = emoji.read_tarball(data)
    assert meta["name"].tolist() == ["thumbs up sign", "thumbs up sign", "grinning face", "automobile"]
    assert meta["subcategory"].tolist()[2] == "face-smiling"  # the skin-tone variant takes its base emoji's name
    assert x.shape == (4, 64, 64, 3) and x.dtype == np.uint8
    assert classes == ["People & Body", "Smileys & Emotion", "Travel & Places"]
    assert y.tolist() == [0, 0, 1, 2]  # sorted file names; the skin-tone variant takes its base emoji's category
    assert (x[:, 0, 0] == 255).all()  # transparent corners composited over white
    assert tuple(x[2, 32, 32]) == (200, 0, 10)  # 1f600, the third name in sorted order


def test_a_tarball_with_another_hash_is_refused(registry):
    with pytest.raises(DataError, match="publishes"):  # the registry's metadata disagrees with the pinned hash
        emoji.fetch_tarball(expected=emoji.INTEGRITY, use_npm=False, quiet=True)


def test_bad_bytes_are_refused_and_nothing_is_cached(registry, tmp_path, monkeypatch, http_root):  # noqa: F811
    root, _ = http_root
    (root / "tarballs" / "emoji.tgz").write_bytes(registry[:-10] + b"0123456789")  # same size, other bytes
    monkeypatch.setattr(emoji, "INTEGRITY", emoji.integrity_of(registry))
    monkeypatch.setenv("VAEKIT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DataError, match="integrity mismatch"):
        load_builtin("emoji", quiet=True)
    assert not (tmp_path / "cache" / "emoji.npz").exists()


def test_emoji_downloads_once_then_comes_from_the_cache(registry, tmp_path, monkeypatch):
    monkeypatch.setattr(emoji, "INTEGRITY", emoji.integrity_of(registry))
    monkeypatch.setattr(emoji.shutil, "which", lambda _name: None)  # no npm: the registry path
    monkeypatch.setenv("VAEKIT_CACHE", str(tmp_path / "cache"))
    ds = load_builtin("emoji", quiet=True)
    assert ds.image_shape == (64, 64, 3) and len(ds.x_train) + len(ds.x_test) == 4
    assert (tmp_path / "cache" / "emoji.npz").is_file()
    monkeypatch.setenv("VAEKIT_NPM_REGISTRY", "http://127.0.0.1:9/")  # nothing there: the cache must serve
    again = load_builtin("emoji", quiet=True)
    assert np.array_equal(np.concatenate([again.x_train, again.x_test]), np.concatenate([ds.x_train, ds.x_test]))
