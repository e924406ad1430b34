from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's ~/.cache or ./data from a test."""
    monkeypatch.setenv("VAEKIT_CACHE", str(tmp_path_factory.mktemp("cache")))


def blob_images(n: int = 240, side: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Digit-like data: each class is a bright square at its own position, plus noise; uint8 (n, side, side)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, size=n)
    x = rng.integers(0, 40, size=(n, side, side)).astype(np.float64)
    half = side // 2
    for i, c in enumerate(y):
        r, col = divmod(int(c), 2)
        x[i, r * half : (r + 1) * half, col * half : (col + 1) * half] += 200
    return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.int64)


@pytest.fixture
def blob_npz(tmp_path):
    x, y = blob_images()
    path = tmp_path / "blobs.npz"
    np.savez(path, x=x, y=y)
    return path
