"""Clips: Moving MNIST generated as Srivastava et al. 2015 (arXiv 1502.04681) made it, and the readers of a
user's own video (an .npz of (N, T, H, W[, C]), a folder with one sub-folder of frame images per clip, a folder
of animated GIFs). A clip array is uint8 (N, T, H, W, C) with C = 1 or 3: the channel axis is always there, so
that a clip's shape (T, H, W, C) never reads as an image's (H, W, C)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from .readers import IMAGE_SUFFIXES

CANVAS = 64  # Moving MNIST: a 64 x 64 canvas ...
DIGIT = 28  # ... two 28 x 28 digits ...
FRAMES = 20  # ... over 20 frames
DIGITS_PER_CLIP = 2
SPEED = (2.0, 6.0)  # pixels per frame, uniform
TRAIN_CLIPS, TEST_CLIPS = 10_000, 1_000
SEED = 2015  # the generator's fixed seed (the test split draws from SEED + 1)


@dataclass
class Tracks:
    """Where each digit was: ``pos`` (N, T, D, 2) top-left corners (row, col) as drawn, ``velocity`` (N, D, 2)
    the initial velocity (pixels per frame), ``digit`` (N, D) the index of the source digit."""

    pos: np.ndarray
    velocity: np.ndarray
    digit: np.ndarray


def moving_mnist(
    digits: np.ndarray, n: int, frames: int = FRAMES, seed: int = SEED, canvas: int = CANVAS
) -> tuple[np.ndarray, Tracks]:
    """``n`` clips (n, frames, canvas, canvas, 1) uint8 of ``DIGITS_PER_CLIP`` digits drawn from ``digits``
    (M, 28, 28) uint8: each starts at a uniform position with a uniform direction and a speed uniform in
    ``SPEED``, moves in a straight line and bounces off the edges (the velocity component flips, the position is
    reflected back inside); digits are added with clipping at 255. The same seed gives the same bytes."""
    rng = np.random.default_rng(seed)
    room = canvas - DIGIT  # a top-left corner lies in [0, room]
    d = DIGITS_PER_CLIP
    which = rng.integers(0, len(digits), size=(n, d))
    start = rng.uniform(0, room, size=(n, d, 2))
    theta = rng.uniform(0, 2 * np.pi, size=(n, d))
    speed = rng.uniform(*SPEED, size=(n, d))
    velocity = np.stack([np.sin(theta), np.cos(theta)], -1) * speed[..., None]  # (n, d, 2)
    pos = np.empty((n, frames, d, 2))
    p, v = start.copy(), velocity.copy()
    for t in range(frames):
        pos[:, t] = p
        p = p + v
        low, high = p < 0, p > room
        p = np.clip(np.where(low, -p, np.where(high, 2 * room - p, p)), 0, room)  # reflect at the walls
        v = np.where(low | high, -v, v)
    corner = np.rint(pos).astype(np.int64)  # (n, T, d, 2)
    clips = np.zeros((n, frames, canvas, canvas), dtype=np.uint16)
    ar = np.arange(DIGIT)
    for k in range(d):
        glyph = digits[which[:, k]].astype(np.uint16)  # (n, 28, 28)
        for t in range(frames):
            rows = corner[:, t, k, 0, None] + ar  # (n, 28)
            cols = corner[:, t, k, 1, None] + ar
            clips[np.arange(n)[:, None, None], t, rows[:, :, None], cols[:, None, :]] += glyph
    out = np.minimum(clips, 255).astype(np.uint8)[..., None]
    return out, Tracks(corner, velocity, which)


def moving_mnist_splits(
    mnist_train: np.ndarray, mnist_test: np.ndarray, clips: int = TRAIN_CLIPS, frames: int = FRAMES
) -> tuple[np.ndarray, np.ndarray]:
    """Train clips from MNIST's training digits, test clips (a tenth as many, at least one) from its test
    digits, each split from its own fixed seed."""
    train, _ = moving_mnist(mnist_train, clips, frames, seed=SEED)
    test, _ = moving_mnist(mnist_test, max(1, clips // 10), frames, seed=SEED + 1)
    return train, test


# --------------------------------------------------------------------------- checks


def is_clip_array(x: np.ndarray) -> bool:
    """(N, T, H, W, C), or (N, T, H, W) when neither its last axis nor its second is a channel count (an
    (N, H, W, C) or (N, C, H, W) image array otherwise)."""
    return x.ndim == 5 or (x.ndim == 4 and x.shape[3] not in (1, 3, 4) and x.shape[1] not in (1, 3, 4))


def check_clips(x: np.ndarray, name: str) -> np.ndarray:
    """Validate a clip array's shape; returns it as (N, T, H, W, C) with C = 1 or 3 (``datasets.check_pixels``
    then judges the pixels of its frames as images)."""
    x = np.asarray(x)
    if x.ndim == 4:
        x = x[..., None]
    if x.ndim != 5:
        raise DataError(f"{name}: expected clips shaped (N, T, H, W, C) or (N, T, H, W), got {x.shape}")
    n, t, h, w, c = x.shape
    if c not in (1, 3):
        raise DataError(f"{name}: clips shaped {x.shape[1:]} need 1 or 3 channels last, as (N, T, H, W, C)")
    if n * t * h * w == 0:
        raise DataError(f"{name}: no clips (shape {x.shape})")
    return x


def crop_frames(x: np.ndarray, frames: int, name: str) -> np.ndarray:
    """The first ``frames`` frames of every clip (all when 0); a one-line DataError when clips are shorter."""
    if not frames or x.shape[1] == frames:
        return x
    if x.shape[1] < frames:
        raise DataError(f"{name}: clips have {x.shape[1]} frames; --frames {frames} needs at least {frames}")
    return np.ascontiguousarray(x[:, :frames])


# --------------------------------------------------------------------------- readers


def read_gif(path: Path) -> np.ndarray:
    """An animated GIF's frames as (T, H, W, 3) uint8, or a one-line DataError."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            frames = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)]
    except (OSError, UnidentifiedImageError, ValueError, EOFError) as e:
        raise DataError(f"{path}: not a readable GIF ({e.__class__.__name__}: {e})") from None
    return np.stack(frames)


def read_frames(folder: Path) -> np.ndarray:
    """One clip: the images of ``folder`` in name order, as (T, H, W, 3) uint8."""
    from PIL import Image, UnidentifiedImageError

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"{folder}: a clip folder holds frame images (.png, .jpg); found none")
    frames = []
    for p in files:
        try:
            with Image.open(p) as im:
                frames.append(np.asarray(im.convert("RGB")))
        except (OSError, UnidentifiedImageError, ValueError) as e:
            raise DataError(f"{p}: cannot decode this frame ({e.__class__.__name__})") from None
    if len({f.shape for f in frames}) > 1:
        raise DataError(f"{folder}: frames differ in size ({frames[0].shape[:2]} and others); resize them alike")
    return np.stack(frames)


def read_clip_folder(path: Path, frames: int = 0) -> np.ndarray:
    """A folder of animated GIFs, or of sub-folders of frame images (one per clip), as (N, T, H, W, C) uint8
    (C = 1 when every clip is grey). With ``frames``, each clip is cut to its first ``frames`` frames before
    they are stacked, so clips of mixed lengths load when each has enough; otherwise mixed frame counts or
    sizes are a one-line DataError."""
    gifs = sorted(p for p in path.iterdir() if p.suffix.lower() == ".gif")
    subs = sorted(p for p in path.iterdir() if p.is_dir())
    if not gifs and not subs:
        raise DataError(f"{path}: no clips; put animated .gif files, or one folder of frames per clip, in it")
    clips = [read_gif(p) if gifs else read_frames(p) for p in (gifs or subs)]
    if frames:
        clips = [crop_frames(c[None], frames, str(p))[0] for c, p in zip(clips, gifs or subs, strict=True)]
    counts = sorted({c.shape[0] for c in clips})
    if len(counts) > 1:
        raise DataError(f"{path}: clips of mixed frame counts {counts}; use --frames T to cut them to one length")
    if len({c.shape for c in clips}) > 1:
        raise DataError(f"{path}: clips of mixed frame sizes {sorted({c.shape[1:3] for c in clips})}; resize "
                        "them alike")  # fmt: skip
    x = np.stack(clips)
    if (x[..., 0] == x[..., 1]).all() and (x[..., 1] == x[..., 2]).all():
        x = x[..., :1]
    return x
