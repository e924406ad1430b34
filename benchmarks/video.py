"""Measure what the temporal axis buys on Moving MNIST: the causal video tokenizer (t = 4, f = 4: 5 x 16 x 16 =
1,280 tokens per 17-frame clip) against an image tokenizer applied frame by frame at about the same token budget
(f = 8: 17 x 8 x 8 = 1,088 tokens per clip), both FSQ with the same levels 8,8,8,6,5 (15,360 codes, 13.9 bits a
token), so the budget is matched in tokens and in bits to within 15 % (the image tokenizer gets the smaller).
Writes docs/data/video-moving-mnist.json, docs/video-frame-psnr.png and docs/video-moving-mnist.gif.

    python benchmarks/video.py --runs DIR

A run is trained into DIR/NAME unless DIR/NAME already holds a finished one. The image tokenizer trains on the
frames of the same training clips (DIR/frames.npz, written once) for about the same wall time. Both are scored
on the frames of the same 1,000 test clips: PSNR and SSIM per frame, by frame index. `python benchmarks/tables.py`
writes the table in docs/video.md from the JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from common import machine, run_record, train_once

from vaekit.analysis.evaluate import evaluate_run
from vaekit.data.datasets import load_builtin
from vaekit.evaluation.metrics import psnr_per_image, ssim_per_image
from vaekit.models.tokenizer import Tokenizer
from vaekit.plots import pyplot, save_clip_gif, save_figure
from vaekit.runs.checkpoint import load_model

FRAMES = 17
LEVELS = "8,8,8,6,5"
VIDEO = ["--model", "video", "--dataset", "moving-mnist", "--frames", str(FRAMES), "--time-downsample", "4",
         "--downsample", "4", "--levels", LEVELS, "--batch-size", "16", "--epochs", "3"]  # fmt: skip
# 2 epochs of the 170,000 training frames: 25 minutes here, against the video tokenizer's 30
IMAGE = ["--model", "fsq", "--downsample", "8", "--levels", LEVELS, "--batch-size", "64", "--epochs", "2"]


def frames_npz(runs: Path) -> Path:
    """The frames of Moving MNIST's clips (first 17 of each) as an image dataset, clip by clip in order."""
    path = runs / "frames.npz"
    if not path.is_file():
        ds = load_builtin("moving-mnist")
        xtr, xte = ds.x_train[:, :FRAMES, ..., 0], ds.x_test[:, :FRAMES, ..., 0]
        np.savez(path, x_train=xtr.reshape(-1, *xtr.shape[2:]), x_test=xte.reshape(-1, *xte.shape[2:]))
    return path


@torch.no_grad()
def frame_scores(model: Tokenizer, clips: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PSNR and SSIM (N, T) of each test frame, and the reconstructions (N, T, H, W) of the first 8 clips, by
    a video run (clips whole) or an image run (frame by frame)."""
    n, t, h, w = clips.shape
    psnr, ssim, first = [], [], None
    for i in range(0, n, 25):
        x = clips[i : i + 25]
        if len(model.cfg.input_shape) == 4:
            rec = model.reconstruct(x.reshape(len(x), -1))[..., 0]  # (B, T, H, W)
        else:
            rec = model.reconstruct(x.reshape(-1, h * w)).reshape(x.shape)
        first = rec[:8] if first is None else first
        psnr.append(psnr_per_image(rec.flatten(0, 1), x.flatten(0, 1)).reshape(len(x), t))
        ssim.append(ssim_per_image(rec.flatten(0, 1), x.flatten(0, 1)).reshape(len(x), t))
    return torch.cat(psnr).numpy(), torch.cat(ssim).numpy(), first.numpy()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", required=True, help="folder of the runs (kept, reused when finished)")
    p.add_argument("--out", default="docs/data/video-moving-mnist.json")
    args = p.parse_args()
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    frames = ["--dataset", str(frames_npz(runs))]
    rows = {
        "video": ("causal video tokenizer, t = 4, f = 4 (Haar + 1 level)", VIDEO, runs / "video"),
        "video-vae": ("video VAE (`--video-quantizer gaussian`, 5 channels, as FSQ's), t = 4, f = 4",
                      [*VIDEO, "--video-quantizer", "gaussian", "--code-dim", "5"], runs / "video-vae"),
        "image": ("image tokenizer frame by frame, f = 8", [*IMAGE, *frames], runs / "image"),
        "image-small": ("the same, `--width 11` (about the video tokenizer's parameters)",
                        [*IMAGE, "--width", "11", *frames], runs / "image-small"),
    }  # fmt: skip
    for _, targs, run in rows.values():
        train_once(run, targs)
    test = load_builtin("moving-mnist").x_test[:, :FRAMES, ..., 0]
    clips = torch.from_numpy(test).float().div_(255.0)  # (N, T, H, W)
    out: dict = {"rows": {}, "machine": machine()}
    recon = {}
    for name, (what, targs, run) in rows.items():
        model, cfg = load_model(run, torch.device("cpu"))
        psnr, ssim, recon[name] = frame_scores(model, clips)
        shape = model.token_shape
        per_clip = int(np.prod(shape)) * (1 if len(cfg.model.input_shape) == 4 else FRAMES)
        evaluation = evaluate_run(run) if name.startswith("video") else {}
        out["rows"][name] = {
            **run_record(run, what, targs), "tokens_per_clip": per_clip,
            "bits_per_clip": per_clip * float(np.log2(np.prod([int(v) for v in LEVELS.split(",")])))
            if model.discrete else None,  # a continuous latent has no bits to count
            "psnr": float(psnr.mean()), "ssim": float(ssim.mean()), "psnr_per_frame": psnr.mean(0).tolist(),
            "ssim_per_frame": ssim.mean(0).tolist(), "evaluate": evaluation,
        }  # fmt: skip
    path = Path(args.out)
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for row in out["rows"].values():
        ax.plot(range(FRAMES), row["psnr_per_frame"], "o-", label=f"{row['model']}: {row['tokens_per_clip']} tokens")
    ax.set_xlabel("frame index")
    ax.set_ylabel("PSNR (dB, 1,000 test clips)")
    ax.set_title("Moving MNIST, 17-frame clips")
    ax.legend(fontsize=8)
    fig.tight_layout()
    print(save_figure(fig, "docs/video-frame-psnr.png"))
    triples = np.stack([test[:4] / 255.0, recon["video"][:4], recon["image-small"][:4]], 1)  # input, video, image
    print(save_clip_gif(triples.reshape(-1, *triples.shape[2:]), "docs/video-moving-mnist.gif", ncol=6))


if __name__ == "__main__":
    main()
