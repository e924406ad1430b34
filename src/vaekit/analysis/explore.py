"""The functions behind `vaekit diagnose / latent / manifold / interpolate / traverse / attribute / recon`.

Each takes an opened run (``runs.open_run``), writes its files into ``out_dir`` (the run directory by
default) and returns what it found, so that the report and the CLI share one implementation.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._io import atomic_write
from ..config.verbs import IMAGE, IMAGE_FORM
from ..errors import ConfigError
from ..evaluation.metrics import elbo_metrics
from ..plots import (
    kl_bar_chart,
    labeled_grid,
    latent_scatter,
    save_clip_gif,
    save_clip_strip,
    save_gif,
    save_grid,
)
from ..runs.open import Run
from .latent import AttributeResult, Selector, attribute, decode_images, encode_means, interpolate, pca_2d, traversal

COLLAPSE_THRESHOLD = 0.01  # nats: a dimension whose test-set mean KL is below this carries no information


def diagnose(run: Run, out_dir: Path) -> dict[str, Any]:
    """Posterior-collapse diagnosis: ``kl_per_dim``, ``active_units``, ``collapsed`` dims, ``kl_total``.

    Writes ``kl_per_dim.png``. KL is the closed form averaged over the test set (it does not depend on the
    posterior sample); active units follow Burda et al. (variance of E[z|x] over the test set > 0.01).
    """
    m = elbo_metrics(run.vae, run.x_test)
    kl = m["kl_per_dim"]
    kl_bar_chart(kl, out_dir / "kl_per_dim.png", COLLAPSE_THRESHOLD)
    return {
        "kl_per_dim": kl,
        "active_units": m["active_units"],
        "collapsed": [d for d, v in enumerate(kl) if v < COLLAPSE_THRESHOLD],
        "kl_total": sum(kl),
    }


def latent_map(run: Run, out_dir: Path) -> dict[str, Any]:
    """Encode the test set; write ``latent.csv`` (z1..zK,label) and ``latent.png`` (PCA when K > 2)."""
    z = encode_means(run.vae, run.x_test).cpu().numpy()  # (N, K)
    k = z.shape[1]
    labels = run.y_test

    def write_csv(tmp: Path) -> None:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([f"z{i + 1}" for i in range(k)] + ["label"])
        for i, row in enumerate(z):
            w.writerow([f"{v:.6g}" for v in row] + ["" if labels is None else int(labels[i])])
        tmp.write_text(buf.getvalue())

    atomic_write(out_dir / "latent.csv", write_csv)
    if k == 1:
        points, xl, yl, method = np.c_[z[:, 0], np.zeros(len(z))], "z1", "(no second dimension)", "z"
    elif k == 2:
        points, xl, yl, method = z, "z1", "z2", "z"
    else:
        points, ratio = pca_2d(z)
        xl, yl = f"PC1 ({100 * ratio[0]:.0f}% of variance)", f"PC2 ({100 * ratio[1]:.0f}% of variance)"
        method = "pca"
    title = f"posterior means of {len(z):,} test images" + (f" (PCA of {k} dims)" if method == "pca" else "")
    latent_scatter(points, labels, out_dir / "latent.png", xl, yl, title)
    return {"csv": out_dir / "latent.csv", "png": out_dir / "latent.png", "rows": len(z), "method": method}


def manifold(run: Run, out_dir: Path, n: int = 20) -> Path:
    """For a 2-D latent: decode an n x n grid over the prior's quantiles 0.05..0.95 into ``manifold.png``."""
    if run.vae.latent_dim != 2:
        raise ConfigError(
            f"manifold needs a 2-dimensional latent; this run has {run.vae.latent_dim} (train with --latent-dim 2)"
        )
    if n < 2:
        raise ConfigError("--n must be >= 2")
    q = torch.special.ndtri(torch.linspace(0.05, 0.95, n))  # prior quantiles
    zy, zx = torch.meshgrid(q.flip(0), q, indexing="ij")  # z2 grows upwards
    z = torch.stack([zx.reshape(-1), zy.reshape(-1)], 1).to(run.x_test.device)
    return save_grid(decode_images(run.vae, z), out_dir / "manifold.png", ncol=n, scale=2)


def pick_index(spec: str, y: np.ndarray | None, n: int) -> int:
    """``7`` -> the first test image with label 7 (or index 7 when unlabeled); ``index:123`` -> test image 123."""
    m = re.fullmatch(IMAGE, str(spec))
    if not m:
        raise ConfigError(f"cannot read {spec!r}; give {IMAGE_FORM}")
    if m["index"] is not None:
        i = int(m["index"])
        if not 0 <= i < n:
            raise ConfigError(f"index {i} out of range: the test set has {n} images")
        return i
    value = int(m["label"])
    if y is None:
        return pick_index(f"index:{value}", None, n)
    hits = np.flatnonzero(np.asarray(y) == value)
    if not len(hits):
        raise ConfigError(f"no test image has label {value}; labels are {sorted(set(np.asarray(y).tolist()))}")
    return int(hits[0])


def interpolation_stem(src: str, dst: str, mode: str) -> str:
    """The file name (without suffix) of an interpolation strip and its GIF."""
    return f"interpolate_{src}_{dst}_{mode}".replace(":", "")


def interpolate_run(
    run: Run, src: str, dst: str, out_dir: Path, steps: int = 10, mode: str = "linear"
) -> tuple[Path, Path]:
    """Interpolate between two test images' posterior means; writes a PNG strip and an animated GIF."""
    n = run.x_test.shape[0]
    ia, ib = pick_index(src, run.y_test, n), pick_index(dst, run.y_test, n)
    mu = encode_means(run.vae, run.x_test[[ia, ib]])
    frames = interpolate(run.vae, mu[0], mu[1], steps, mode)
    stem = interpolation_stem(src, dst, mode)
    png = save_grid(frames, out_dir / f"{stem}.png", ncol=steps, scale=3)
    gif = save_gif(frames, out_dir / f"{stem}.gif")
    return png, gif


def traverse_run(run: Run, out_dir: Path, index: int = 0, steps: int = 9, max_dims: int = 20) -> Path:
    """One row per latent dimension (most informative first), each varied over [-3, 3] around one image's mean."""
    n = run.x_test.shape[0]
    if not 0 <= index < n:
        raise ConfigError(f"--index {index} out of range: the test set has {n} images")
    kl = elbo_metrics(run.vae, run.x_test)["kl_per_dim"]
    dims = sorted(range(len(kl)), key=lambda d: -kl[d])[:max_dims]
    z0 = encode_means(run.vae, run.x_test[index : index + 1])[0]
    values = torch.linspace(-3, 3, steps, device=z0.device)
    images = traversal(run.vae, z0, dims, values)
    return labeled_grid(
        images,
        out_dir / "traverse.png",
        [f"z{d + 1} ({kl[d]:.2f} nats)" for d in dims],
        [f"{v:+.1f}" for v in values.tolist()],
        f"latent traversal around test image {index}; rows by KL, most informative first",
    )


def attribute_run(
    run: Run,
    positive: str,
    negative: str,
    strengths: list[float],
    out_dir: Path,
    n_images: int = 8,
    split: str = "test",
    apply_to: str = "random",
    name: str = "attribute.png",
    targets: str | None = None,
) -> tuple[AttributeResult, Path]:
    """The attribute-vector trick; writes ``attribute.png`` (a row per strength) and returns the numbers. The
    selections (and the probe) come from ``split``; the vector is added to random test images, to those the
    negative selector picks (``apply_to`` "negative"), or to those the selector ``targets`` picks."""
    pos, neg = Selector.parse(positive), Selector.parse(negative)
    x, y, meta = run.split(split)
    target = Selector.parse(targets) if targets is not None else neg if apply_to == "negative" else None
    picked = None
    if target is not None:
        _, _, meta_test = run.split("test")
        picked = run.x_test[torch.from_numpy(target.mask(run.x_test, run.y_test, meta_test)).to(run.x_test.device)]
    res = attribute(run.vae, x, y, pos, neg, strengths, n_images, meta=meta, targets=picked)
    path = labeled_grid(
        res.images,
        out_dir / name,
        [f"{s:+g} (p {p:.2f})" for s, p in zip(res.strengths, res.probe, strict=True)],
        title=f"z + s * (mean z[{pos}] - mean z[{neg}]), |v| = {res.norm:.2f}; p: the probe's P({pos})",
    )
    return res, path


def reconstructions(run: Run, out_dir: Path, n: int = 16, groups_used: int | None = None) -> Path:
    """Originals (top row) above their reconstructions from the posterior mean: ``reconstructions.png``. Clips:
    ``reconstructions.png`` holds a row of frames per clip, input then reconstruction, for up to 4 clips, and
    ``reconstructions.gif`` plays up to 8 clips (input left, reconstruction right). ``groups_used``: a
    multi-group tokenizer decodes from its first k groups."""
    clips = len(run.image_shape) == 4
    n = min(n, 8 if clips else n, run.x_test.shape[0])
    x = run.x_test[:n]
    if groups_used is not None:
        recon = run.tokenizer.reconstruct(x, groups_used).cpu().numpy()
    else:
        recon = run.model.reconstruct(x).cpu().numpy()
    orig = x.reshape(n, *run.image_shape).cpu().numpy()
    if clips:
        pairs = np.stack([orig, recon], 1).reshape(2 * n, *orig.shape[1:])  # input, reconstruction, ...
        save_clip_gif(pairs, out_dir / "reconstructions.gif", ncol=4)
        return save_clip_strip(pairs[:8], out_dir / "reconstructions.png")
    return save_grid(np.concatenate([orig, recon]), out_dir / "reconstructions.png", ncol=n, scale=2)


def samples(run: Run, out_dir: Path, n: int = 64, seed: int = 0) -> Path:
    """Decoder means of ``n`` draws from the prior: ``samples.png``."""
    from .sampling import prior_grid

    return prior_grid(run.vae, n, out_dir / "samples.png", seed)
