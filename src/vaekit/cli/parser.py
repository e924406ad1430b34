"""The argument parser of every verb (no logic: the verb modules turn parsed flags into one API call)."""

from __future__ import annotations

import argparse

# train flags -> (config section, field)
TRAIN_FLAGS = {
    "epochs": ("train", "epochs"),
    "max_steps": ("train", "max_steps"),
    "batch_size": ("train", "batch_size"),
    "lr": ("train", "lr"),
    "lr_schedule": ("train", "lr_schedule"),
    "adam_eps": ("train", "adam_eps"),
    "seed": ("train", "seed"),
    "device": ("train", "device"),
    "precision": ("train", "precision"),
    "step": ("train", "step"),
    "graph": ("train", "graph"),
    "latent_dim": ("model", "latent_dim"),
    "likelihood": ("model", "likelihood"),
    "sigma": ("model", "sigma"),
    "arch": ("model", "arch"),
    "net": ("model", "net"),
    "downsample": ("model", "downsample"),
    "width": ("model", "width"),
    "res_blocks": ("model", "res_blocks"),
    "hidden": ("model", "hidden"),
    "encoder_paths": ("model", "encoder_paths"),
    "activation": ("model", "activation"),
    "dvae_mask": ("model", "dvae_mask"),
    "dvae_ramp": ("model", "dvae_ramp"),
    "objective": ("loss", "objective"),
    "k": ("loss", "iwae_k"),
    "posterior_sigma": ("model", "posterior_sigma"),
    "beta": ("loss", "beta"),
    "anneal": ("loss", "anneal"),
    "free_bits": ("loss", "free_bits"),
    "model": ("model", "kind"),
    "codebook_size": ("model", "codebook_size"),
    "code_dim": ("model", "code_dim"),
    "levels": ("model", "levels"),
    "groups": ("model", "groups"),
    "codebook_update": ("model", "codebook_update"),
    "commitment": ("model", "commitment"),
    "dataset": ("data", "dataset"),
    "data_dir": ("data", "data_dir"),
    "binarize": ("data", "binarize"),
    "image_size": ("data", "image_size"),
    "channels": ("data", "channels"),
    "skip_bad_images": ("data", "skip_bad_images"),
}


# what `train --resume` may change: the length, and switches that change speed but not the model
RESUME_MAY_CHANGE = {
    ("train", "max_steps"),
    ("train", "epochs"),
    ("train", "precision"),
    ("train", "step"),
    ("train", "graph"),
    ("train", "device"),
}


def _image_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--image-size", type=int, help="image folders: resize the shorter side and centre-crop to S x S")
    p.add_argument("--channels", type=int, choices=[1, 3], help="1 (grey) or 3 (colour); default: as the data is")
    p.add_argument(
        "--skip-bad-images", action="store_const", const=True, help="image folders: leave out files that fail to decode"
    )


def build_parser() -> argparse.ArgumentParser:
    from ..config import (
        ACTIVATIONS,
        ANNEALS,
        ARCHS,
        BINARIZE,
        DEVICES,
        DOWNSAMPLE,
        ENCODER_PATHS,
        GRAPHS,
        LIKELIHOODS,
        LR_SCHEDULES,
        NETS,
        OBJECTIVES,
        PRECISIONS,
        STEPS,
    )
    from ..models import PRESETS
    from ..models.prior import PriorConfig
    from ..runs.prior import PriorTrainConfig

    pd, pt = PriorConfig(), PriorTrainConfig()  # the prior's defaults, said once

    p = argparse.ArgumentParser(prog="vaekit", description="Variational autoencoders, trained fast.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("data", help="fetch datasets and describe them")
    dsub = d.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    f = dsub.add_parser("fetch", help="download (or find locally) a dataset and cache it")
    f.add_argument("name", choices=["mnist", "fashion-mnist", "emoji"])
    f.add_argument("--data-dir", help="folder searched first for the dataset's files")
    i = dsub.add_parser("info", help="counts, shape, value range and checksum of a dataset")
    i.add_argument("name", help="mnist, fashion-mnist, or a path to an .npz / IDX file / image folder")
    i.add_argument("--data-dir")
    _image_flags(i)
    i.add_argument("--json", action="store_true", help="print one JSON object")

    t = argparse.ArgumentParser(add_help=False)  # the settings of a run, shared by `train` and `sweep`
    t.add_argument("--config", help="TOML file with [model] [loss] [data] [train] tables")
    t.add_argument("--preset", choices=sorted(PRESETS), help="model architecture (default classic)")
    t.add_argument("--model", choices=["gaussian", "vq", "fsq", "mgvq"], help="model family (default gaussian)")
    t.add_argument("--arch", choices=ARCHS, help="gaussian: mlp or conv encoder/decoder (the preset decides)")
    t.add_argument(
        "--net", choices=NETS, help="conv layout: resnet (group norm, residual blocks; default) or plain (earlier)"
    )
    t.add_argument(
        "--downsample", type=int, choices=DOWNSAMPLE, help="conv: spatial reduction f; tokens (H/f)x(W/f) (default 4)"
    )
    t.add_argument("--width", type=int, help="conv resnet: channels after the first stride-2 conv (default 32)")
    t.add_argument("--res-blocks", type=int, help="conv resnet: residual blocks at the lowest resolution (default 1)")
    t.add_argument("--hidden", help="gaussian: dense hidden widths, e.g. 512,256 (the decoder mirrors them)")
    t.add_argument("--activation", choices=ACTIVATIONS, help="gaussian: between dense layers (default relu)")
    t.add_argument(
        "--encoder-paths",
        choices=ENCODER_PATHS,
        help="gaussian: shared trunk, split mu/logvar nets, or dvae (path A on x + path B on a masked x)",
    )
    t.add_argument("--dvae-mask", type=float, help="dvae: pixel drop rate of path B's input (default 0.3)")
    t.add_argument("--dvae-ramp", type=int, help="dvae: epochs until alpha = min(1, epoch / ramp) is 1 (default 50)")
    t.add_argument("--posterior-sigma", type=float, help="gaussian: fix q(z|x)'s std to this (learn mu only)")
    t.add_argument("--codebook-size", type=int, help="vq/mgvq: codes per codebook (default 512); fsq: picks levels")
    t.add_argument("--code-dim", type=int, help="vq/mgvq: channels per token vector (default 64)")
    t.add_argument("--levels", help="fsq: levels per channel, e.g. 8,5,5,5 (default)")
    t.add_argument("--groups", type=int, help="mgvq: codebooks per token (default 2)")
    t.add_argument("--codebook-update", choices=["loss", "ema"], help="vq/mgvq: codebook loss or EMA updates")
    t.add_argument("--commitment", type=float, help="vq/mgvq: commitment weight beta_c (default 0.25)")
    t.add_argument("--dead-code-restart", choices=["on", "off"], help="vq/mgvq: re-seed unused codes (default on)")
    t.add_argument("--dataset", help="mnist, fashion-mnist, or a path (default mnist)")
    t.add_argument("--data-dir", help="folder searched first for the dataset's files")
    t.add_argument("--epochs", type=int)
    t.add_argument("--max-steps", type=int, help="stop after this many optimisation steps (0 = no limit)")
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument(
        "--lr-schedule", choices=LR_SCHEDULES, help="constant (default) or iwae: the IWAE paper's 8 stages, stretched"
    )
    t.add_argument("--adam-eps", type=float, help="Adam's epsilon (default 1e-8; the IWAE paper: 1e-4)")
    t.add_argument("--latent-dim", type=int)
    t.add_argument("--beta", type=float)
    t.add_argument("--anneal", choices=ANNEALS)
    t.add_argument("--free-bits", type=float, help="minimum nats per latent dimension")
    t.add_argument("--objective", choices=OBJECTIVES, help="elbo (default) or iwae, the importance-weighted bound")
    t.add_argument("--k", type=int, help="iwae: importance samples per image (default 5)")
    t.add_argument("--likelihood", choices=LIKELIHOODS)
    t.add_argument("--sigma", type=float, help="decoder std for --likelihood gaussian")
    t.add_argument("--binarize", choices=BINARIZE)
    _image_flags(t)
    t.add_argument("--seed", type=int)
    t.add_argument("--device", choices=DEVICES)
    t.add_argument("--precision", choices=PRECISIONS)
    t.add_argument("--step", choices=STEPS, help="fused (hand-derived backward) or autograd; auto picks")
    t.add_argument(
        "--graph", choices=GRAPHS, help="replay the fused step as a CUDA graph (GPU); auto: where it applies"
    )
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    tr = sub.add_parser("train", parents=[t], help="train a model into a run directory")
    tr.add_argument("--out", help="run directory (default runs/PRESET-DATASET-TIME)")
    tr.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    tr.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    tr.add_argument("--no-report", action="store_true", help="skip report.html at the end")
    sw = sub.add_parser(
        "sweep", parents=[t], help="train one MLP VAE per beta and seed at once (batched), a run directory each"
    )
    sw.add_argument("--betas", help="comma list of KL weights, e.g. 0.5,1,2,4")
    sw.add_argument("--seeds", default="0", help="comma list of seeds (default 0)")
    sw.add_argument("--out", help="folder for the runs, sweep.json and sweep.png (default runs/sweep-...-TIME)")
    sw.add_argument("--overwrite", action="store_true", help="replace existing runs of the same names in --out")
    sw.add_argument("--resume", action="store_true", help="continue the sweep in --out (only --epochs may change)")

    e = sub.add_parser("evaluate", help="test-set metrics of a run")
    e.add_argument("run", help="run directory")
    e.add_argument("--iw-samples", type=int, default=0, help="K for the importance-weighted NLL (e.g. 1000)")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--device", choices=DEVICES, default="auto")
    e.add_argument(
        "--samples", type=int, default=0, help="N: add fid of N samples against the test set (and its floor)"
    )

    s = sub.add_parser("sample", help="a PNG grid of samples from the prior (tokenizers: from `vaekit prior`)")
    s.add_argument("run", help="run directory")
    s.add_argument("-n", type=int, default=64, help="number of samples")
    s.add_argument("--out", required=True, help="PNG file to write")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--temperature", type=float, default=1.0, help="tokenizers: divide the prior's logits by T")
    s.add_argument("--top-k", type=int, default=0, help="tokenizers: draw from the K likeliest codes (0 = all)")
    s.add_argument("--label", type=int, help="tokenizers with a --conditional prior: the class to sample")

    pr = sub.add_parser("prior", help="train a token prior (a small transformer) on a tokenizer run's tokens")
    pr.add_argument("run", help="tokenizer run directory (vq, fsq or mgvq)")
    pr.add_argument("--epochs", type=int, default=pt.epochs)
    pr.add_argument("--batch-size", type=int, default=pt.batch_size)
    pr.add_argument("--lr", type=float, default=pt.lr, help=f"AdamW peak learning rate (default {pt.lr})")
    pr.add_argument("--layers", type=int, default=pd.layers, help=f"transformer blocks (default {pd.layers})")
    pr.add_argument("--heads", type=int, default=pd.heads, help=f"attention heads (default {pd.heads})")
    pr.add_argument("--dim", type=int, default=pd.dim, help=f"width of the residual stream (default {pd.dim})")
    pr.add_argument("--conditional", action="store_true", help="a class token first: sample by --label")
    pr.add_argument("--seed", type=int, default=pt.seed)
    pr.add_argument("--device", choices=DEVICES, default="auto")
    pr.add_argument("--resume", action="store_true", help="continue the prior in RUN/prior")
    pr.add_argument("--overwrite", action="store_true", help="replace an existing prior")
    pr.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    pr.add_argument("--no-report", action="store_true", help="skip rebuilding RUN/report.html (with prior samples)")

    def run_verb(name: str, help: str) -> argparse.ArgumentParser:
        v = sub.add_parser(name, help=help)
        v.add_argument("run", help="run directory")
        v.add_argument("--out", help="folder for the files (default: the run directory)")
        v.add_argument("--device", choices=DEVICES, default="cpu")
        return v

    dg = run_verb("diagnose", "posterior-collapse diagnosis: KL per dimension, active units, collapsed dims")
    dg.add_argument("--json", action="store_true", help="print one JSON object")
    run_verb("latent", "encode the test set: latent.csv and a scatter plot latent.png")
    mf = run_verb("manifold", "decode a grid over the prior (2-D latents): manifold.png")
    mf.add_argument("--n", type=int, default=20, help="grid size per axis")
    ip = run_verb("interpolate", "interpolate between two test images: PNG strip and animated GIF")
    ip.add_argument("--from", dest="src", required=True, help="a label (e.g. 0) or index:N")
    ip.add_argument("--to", dest="dst", required=True, help="a label (e.g. 9) or index:N")
    ip.add_argument("--steps", type=int, default=10)
    ip.add_argument("--mode", choices=["linear", "slerp"], default="linear")
    tv = run_verb("traverse", "vary each latent dimension over [-3, 3]: traverse.png")
    tv.add_argument("--index", type=int, default=0, help="test image whose mean is the centre")
    tv.add_argument("--steps", type=int, default=9)
    at = run_verb("attribute", "attribute vectors: mean z of one selection minus another, added at strengths")
    at.add_argument("--positive", required=True, help="label=K, ink>Q or ink<Q (Q a quantile of stroke mass)")
    at.add_argument("--negative", required=True, help="label=K, ink>Q or ink<Q")
    at.add_argument("--strengths", default="-2,-1,0,1,2", help="comma list of multiples of the vector")
    at.add_argument("--json", action="store_true", help="print one JSON object")
    rc = run_verb("recon", "test images above their reconstructions, and prior samples")
    rc.add_argument("-n", type=int, default=16)
    run_verb("report", "report.html: config, metrics, curves, KL chart, images, latent map, interpolation")
    run_verb("explorer", "explorer.html: sliders and a 2-D pad that decode latents live in the browser")

    ex = sub.add_parser("export", help="a run's encoder and decoder as ONNX models (VAEs and tokenizers)")
    ex.add_argument("run", help="run directory")
    ex.add_argument("--out", help="folder for encoder.onnx and decoder.onnx (default: the run directory)")

    tk = sub.add_parser("tokenize", help="a tokenizer run's tokens for a data split, as an .npy array")
    tk.add_argument("run", help="run directory of a vq / fsq / mgvq model")
    tk.add_argument("--out", required=True, help=".npy file to write: (N, 7, 7) or (N, 7, 7, G) integers")
    tk.add_argument("--split", choices=["test", "train"], default="test")
    dt = sub.add_parser("detokenize", help="decode an .npy array of tokens into a PNG grid")
    dt.add_argument("run", help="run directory of a vq / fsq / mgvq model")
    dt.add_argument("tokens", help=".npy file written by vaekit tokenize")
    dt.add_argument("--out", required=True, help="PNG file to write")
    dt.add_argument("-n", type=int, default=64, help="decode at most this many token grids")

    b = sub.add_parser("bench", help="the textbook loop vs the engine, side by side on the same data")
    b.add_argument("--epochs", type=int, default=3, help="timed epochs per variant (after one warm-up epoch)")
    b.add_argument(
        "--variants",
        default="naive,fp32,auto,jax",
        help="comma list of naive, fp32, fp32-nograph, fp32-dynamic, bf16, bf16-autograd, auto, jax",
    )
    b.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    b.add_argument("--dataset", default="mnist")
    b.add_argument("--json", dest="json_out", help="write the report as JSON to this file")
    b.add_argument("--plot", help="write a bar chart of seconds per epoch against the roofline to this PNG")

    tn = sub.add_parser("tiny", help="the mini-project checklist: tiny VAE, four PASS/FAIL lines")
    tn.add_argument("--out", help="run directory (default runs/tiny-TIME)")
    tn.add_argument("--epochs", type=int, help="training epochs (default from the recipe)")
    tn.add_argument("--data-dir")
    tn.add_argument("--overwrite", action="store_true")
    tn.add_argument("--quiet", action="store_true")

    st = sub.add_parser("study", help="pre-registered experiments: collapse (the lecture's remedies, measured)")
    st.add_argument("study", choices=["collapse"], help="collapse: the remedies x 3 seeds in the IWAE-paper setting")
    st.add_argument("--out", help="study folder (default runs/study-collapse-DATASET)")
    st.add_argument("--quick", action="store_true", help="the whole pipeline at a test's size (2 epochs, 1 seed)")
    st.add_argument("--epochs", type=int, help="epochs per model (default 40)")
    st.add_argument("--seeds", help="comma list of seeds (default 0,1,2)")
    st.add_argument("--dataset", help="mnist (default), or a path, as for train")
    st.add_argument("--data-dir")
    st.add_argument("--iw-samples", type=int, help="K of the IW-NLL (default 1000)")
    st.add_argument("--iw-images", type=int, help="IW-NLL on the first N test images (default 2000; 0 = all)")
    st.add_argument("--precision", choices=PRECISIONS)
    st.add_argument("--device", choices=DEVICES)
    st.add_argument("--resume", action="store_true", help="continue the study in --out from its plan")
    st.add_argument("--overwrite", action="store_true", help="replace the study in --out")
    st.add_argument("--quiet", action="store_true", help="no progress bars")
    return p
