"""Variable-length tokens from ordered 1-D tokens: the PSNR of every prefix of every image, the shortest prefix
that meets a target, and whether detailed images take more tokens than plain ones.

The lecture's GQ-VAE example (a face 128 tokens, a sky 16) is tested here with a nested-dropout TiTok: each
image's tokens are decoded from a prefix of length 1..K; an image's length is the shortest prefix whose PSNR
meets the target (an absolute PSNR, a loss of at most ``max_loss_db`` against the image's full length, or both
at once), or, for a target on the whole set's mean PSNR, the lengths with the fewest tokens in all that meet it.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError
from .metrics import eval_batch, psnr_per_image

# The rules `adaptive_metrics` chooses lengths by, keyed as it reports them, in the order they are shown: a short
# name, and what the rule is ({loss}: the dB allowed below full length). `evaluate`, the report, the prefix chart
# and the docs' tables read them, so a new rule is one entry here and one in `adaptive_metrics`.
LENGTH_RULES: dict[str, tuple[str, str]] = {
    "model_target": ("one target", "one target for every image, {loss:g} dB below the model's mean full-length PSNR"),
    "image_target": ("a target per image", "a target per image, {loss:g} dB below its own full-length PSNR"),
    "both_targets": ("both targets", "both targets at once: the one target, and at most {loss:g} dB below the "
                     "image's own full length"),
    "set_target": ("a target on the mean", "a target for the mean, {loss:g} dB below full length, with the fewest "
                   "tokens in all"),
}  # fmt: skip


def rule_text(key: str, max_loss_db: float) -> str:
    """What the length rule ``key`` of `LENGTH_RULES` is, at ``max_loss_db``."""
    return LENGTH_RULES[key][1].format(loss=max_loss_db)


def prefix_psnr(model, x: Tensor, batch_size: int = 0, progress: bool = False) -> tuple[Tensor, Tensor]:
    """(tokens (N, K), psnr (N, K)): psnr[i, L-1] is image i's PSNR (dB) decoded from its first L tokens."""
    from tqdm import tqdm

    model.eval()
    batch_size = eval_batch(x, batch_size)
    k = model.cfg.tokens
    tokens, table = [], []
    for i in tqdm(range(0, x.shape[0], batch_size), desc="prefixes", disable=not progress, leave=False):
        xb = x[i : i + batch_size]
        idx = model.tokenize(xb)  # (B, K)
        ref = xb.reshape(xb.shape[0], -1)
        rows = [psnr_per_image(model.decode_prefix(idx, n).reshape(xb.shape[0], -1), ref) for n in range(1, k + 1)]
        tokens.append(idx)
        table.append(torch.stack(rows, 1))
    return torch.cat(tokens), torch.cat(table)


def shortest_prefix(psnr: Tensor, target_psnr: float | None = None, max_loss_db: float | None = None) -> Tensor:
    """(N,) the shortest prefix length (1..K) whose PSNR meets the target; K where none does.

    ``target_psnr``: at least this many dB. ``max_loss_db``: at most this many dB below the image's own
    full-length PSNR. Both: each must hold, so an image that reaches the target loses at most ``max_loss_db``
    against its full length, and one that never reaches it keeps every token."""
    if target_psnr is None and max_loss_db is None:
        raise ConfigError("give --target-psnr, --max-loss-db or both")
    k = psnr.shape[1]
    need = torch.full_like(psnr[:, :1], -float("inf"))  # (N, 1): the PSNR each image's prefix must reach
    if max_loss_db is not None:
        need = psnr[:, -1:] - max_loss_db
    if target_psnr is not None:
        need = need.clamp(min=float(target_psnr))
    meets = psnr >= need  # (N, K)
    first = torch.where(meets.any(1), meets.int().argmax(1) + 1, torch.full_like(meets[:, 0], k, dtype=torch.int64))
    return first.long()


def _upper_hull(curve: list[float]) -> list[int]:
    """The lengths (1-based) on the upper concave hull of one image's PSNR curve, from length 1 to the curve's
    best PSNR (past it more tokens buy nothing)."""
    best = max(range(len(curve)), key=lambda i: (curve[i], -i))  # the shortest of the best
    hull: list[int] = []
    for i in range(best + 1):
        while len(hull) >= 2:  # drop the last point while it lies on or under the chord from hull[-2] to i
            a, b = hull[-2], hull[-1]
            if (curve[b] - curve[a]) * (i - a) <= (curve[i] - curve[a]) * (b - a):
                hull.pop()
            else:
                break
        hull.append(i)
    return [i + 1 for i in hull]


def fewest_tokens(psnr: Tensor, mean_loss_db: float) -> Tensor:
    """(N,) the prefix lengths with the fewest tokens in all whose mean PSNR is at most ``mean_loss_db`` below
    the mean full-length PSNR: a target for the set, not for each image.

    Optimal bit allocation (the rate-distortion way of choosing a length per image): every image starts at one
    token and the tokens go, a hull segment at a time, to whichever image gains the most PSNR per token next,
    until the mean meets the target. On each image's upper concave hull the gains per token only fall, so taking
    segments in order of gain is the Lagrangian choice: no other lengths with as few tokens in all reach a
    higher mean (up to the last segment, which may overshoot). An image whose reconstruction improves fast with
    tokens (detail the next tokens resolve) gets more of them; one that is already good, or never improves,
    gets few."""
    if not mean_loss_db >= 0:
        raise ConfigError(f"--mean-loss-db must be >= 0, not {mean_loss_db}")
    table = psnr.double().cpu().numpy()
    n = table.shape[0]
    lengths = np.ones(n, dtype=np.int64)
    need = (table[:, -1].mean() - mean_loss_db) * n  # the sum of the images' PSNR to reach
    total = table[:, 0].sum()
    segments = []  # (gain per token, image, from length, to length)
    for i in range(n):
        hull = _upper_hull(table[i].tolist())
        for a, b in zip(hull, hull[1:], strict=False):
            segments.append(((table[i, b - 1] - table[i, a - 1]) / (b - a), i, a, b))
    segments.sort(key=lambda s: (-s[0], s[3] - s[2]))  # the most gain per token first (per image: hull order)
    for gain, i, a, b in segments:
        if total >= need - 1e-9:
            break
        lengths[i] = b
        total += gain * (b - a)
    return torch.from_numpy(lengths).to(psnr.device)


def png_bytes(image: np.ndarray) -> int:
    """The size of one (H, W) or (H, W, 3) image in [0, 1] as a PNG file: its complexity."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)).save(buf, format="PNG", optimize=True)
    return buf.tell()


def _choice(psnr: Tensor, lengths: Tensor, sizes: np.ndarray) -> dict[str, Any]:
    """What a choice of lengths gives: its mean, histogram, PSNR, and correlation with image complexity."""
    achieved = psnr.gather(1, (lengths - 1)[:, None]).squeeze(1)
    lens = lengths.cpu().numpy().astype(np.float64)
    corr = float(np.corrcoef(lens, sizes)[0, 1]) if lens.std() > 0 and sizes.std() > 0 else float("nan")
    return {
        "mean_length": float(lens.mean()),
        "length_histogram": np.bincount(lengths.cpu().numpy(), minlength=psnr.shape[1] + 1)[1:].tolist(),
        "psnr_adaptive": float(achieved.mean()),
        "full_length": int((lengths == psnr.shape[1]).sum()),  # images that take every token
        "length_vs_png_bytes": corr,  # Pearson r of the chosen length and the image's PNG size
    }


def adaptive_metrics(model, x: Tensor, max_loss_db: float = 1.0, progress: bool = False) -> dict[str, Any]:
    """What `evaluate` reports for ordered tokens: the mean PSNR at every prefix length, and the lengths chosen
    per image for four targets, ``max_loss_db`` below the full-length PSNR:

    ``model_target``  one PSNR for every image, ``max_loss_db`` below the model's mean full-length PSNR (an
                      image that never reaches it takes all K tokens)
    ``image_target``  ``max_loss_db`` below each image's own full-length PSNR
    ``both_targets``  the two above at once: the model's target, and never more than ``max_loss_db`` below the
                      image's own full length (an image far above the target stops nearer its best)
    ``set_target``    the mean PSNR ``max_loss_db`` below the mean full-length PSNR, with the fewest tokens in
                      all (``fewest_tokens``)

    each with the mean length, the length histogram, the PSNR achieved and the correlation of the length with
    the image's PNG size (its complexity)."""
    _, psnr = prefix_psnr(model, x, progress=progress)
    images = x.float().reshape(-1, *model.cfg.input_shape).cpu().numpy()
    sizes = np.array([png_bytes(im) for im in images], dtype=np.float64)
    full = float(psnr[:, -1].mean())
    target = full - max_loss_db
    return {
        "max_loss_db": max_loss_db,
        "psnr_at_length": [round(v, 4) for v in psnr.mean(0).tolist()],  # index L-1: the first L tokens
        "psnr_full": full,
        "model_target": {"target_psnr": target, **_choice(psnr, shortest_prefix(psnr, target_psnr=target), sizes)},
        "image_target": _choice(psnr, shortest_prefix(psnr, max_loss_db=max_loss_db), sizes),
        "both_targets": _choice(psnr, shortest_prefix(psnr, target, max_loss_db), sizes),
        "set_target": _choice(psnr, fewest_tokens(psnr, max_loss_db), sizes),
    }


def prefix_chart(adaptive: dict[str, Any], path: str | Path) -> Path:
    """PSNR against the number of tokens decoded (mean over the test images), with the histograms of the lengths
    chosen for one target for every image, for both targets and for the target on the mean."""
    from ..plots import pyplot, save_figure

    plt = pyplot()
    curve, chosen = adaptive["psnr_at_length"], adaptive["model_target"]
    lengths = np.arange(1, len(curve) + 1)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.4))
    ax.plot(lengths, curve, marker=".")
    ax.axhline(chosen["target_psnr"], color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("tokens decoded (a prefix of each image's K)")
    ax.set_ylabel("PSNR (dB), test mean")
    ax.set_title("any prefix decodes")
    ax.grid(alpha=0.3)
    for key, colour in (("model_target", "#4c72b0"), ("both_targets", "#55a868"), ("set_target", "#dd8452")):
        if key in adaptive:
            c, what = adaptive[key], LENGTH_RULES[key][0]
            bx.bar(lengths, c["length_histogram"], width=1.0, color=colour, alpha=0.6,
                   label=f"{what}: mean {c['mean_length']:.1f}, r = {c['length_vs_png_bytes']:.2f}")  # fmt: skip
    bx.set_xlabel(f"chosen length ({adaptive['max_loss_db']:g} dB below full length)")
    bx.set_ylabel("test images")
    bx.set_title("lengths chosen; r: with the PNG size")
    bx.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)
