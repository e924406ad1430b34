"""The argument parser of every verb (no logic: the verb modules turn parsed flags into one API call)."""

from __future__ import annotations

import argparse
from typing import NoReturn, TypeVar

T = TypeVar("T")


def run_flags() -> dict[str, tuple[str, str]]:
    """Every run setting's flag destination -> (config section, field), generated from the config's fields."""
    from ..config import run_settings
    from ..config.fields import dest

    return {dest(f): (sec, f.name) for sec, _, fs in run_settings() for f in fs}


def resume_may_change() -> set[tuple[str, str]]:
    """What `train --resume` may change: the length, and the switches that change speed but not the model."""
    from ..config import run_settings
    from ..config.fields import domain_of

    return {(sec, f.name) for sec, _, fs in run_settings() for f in fs if domain_of(f).resume}


def settings_from(args: argparse.Namespace, cls: type[T], section: str | None) -> T:
    """The dataclass ``cls`` with the flags given on the command line applied and checked (the rest default)."""
    from dataclasses import fields

    from ..config.fields import check_all, dest, from_table

    given = {f.name: getattr(args, dest(f), None) for f in fields(cls)}  # type: ignore[arg-type]
    cfg = from_table(cls, {k: v for k, v in given.items() if v is not None}, section)
    check_all(section, cfg)
    return cfg


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one ``error:`` line and a pointer to ``--help`` (not the usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message}; see `{self.prog} --help`\n")


def _settings(p: argparse.ArgumentParser, cls: type, names: tuple[str, ...] | None = None) -> None:
    """The flags of the dataclass ``cls``'s settings (those in ``names``, or all that a user may give)."""
    from dataclasses import fields

    from ..config.fields import add_flag, domain_of

    group = p.add_argument_group(getattr(cls, "TITLE", None))
    for f in fields(cls):
        if domain_of(f).cli and (names is None or f.name in names):
            add_flag(group, f)


def build_parser() -> argparse.ArgumentParser:
    from ..config import DEVICES, PRECISIONS, DataConfig, run_settings
    from ..config.fields import add_flag
    from ..config.prior import PriorConfig, PriorTrainConfig
    from ..config.verbs import VERB_SETTINGS, FetchSettings

    p = _Parser(prog="vaekit", description="Variational autoencoders, trained fast.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    d = sub.add_parser("data", help="fetch datasets and describe them")
    dsub = d.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    f = dsub.add_parser("fetch", help="download (or find locally) a dataset and cache it")
    f.add_argument("name", choices=["mnist", "fashion-mnist", "emoji", "moving-mnist"])
    f.add_argument("--data-dir", help="folder searched first for the dataset's files")
    _settings(f, FetchSettings)
    i = dsub.add_parser("info", help="counts, shape, value range and checksum of a dataset")
    i.add_argument("name", help="mnist, fashion-mnist, or a path to an .npz / IDX file / image folder")
    _settings(i, DataConfig, ("data_dir", "image_size", "channels", "skip_bad_images", "frames"))
    i.add_argument("--json", action="store_true", help="print one JSON object")

    t = _Parser(add_help=False)  # the settings of a run, shared by `train` and `sweep`, generated from the config
    t.add_argument("--config", help="TOML file with [model] [loss] [data] [train] tables")
    for _, title, fs in run_settings():
        group = t.add_argument_group(title)
        for setting in fs:
            add_flag(group, setting)
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    tr = sub.add_parser("train", parents=[t], help="train a model into a run directory")
    tr.add_argument("--out", help="run directory (default runs/PRESET-DATASET-TIME)")
    tr.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    tr.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    tr.add_argument("--no-report", action="store_true", help="skip report.html at the end")
    tr.add_argument(
        "--tensorboard", action="store_true", help="write TensorBoard events into RUN/tensorboard (extra [tensorboard])"
    )
    sw = sub.add_parser(
        "sweep", parents=[t], help="train one MLP VAE per beta and seed at once (batched), a run directory each"
    )
    sw.add_argument("--out", help="folder for the runs, sweep.json and sweep.png (default runs/sweep-...-TIME)")
    sw.add_argument("--overwrite", action="store_true", help="replace existing runs of the same names in --out")
    sw.add_argument("--resume", action="store_true", help="continue the sweep in --out (only --epochs may change)")

    e = sub.add_parser("evaluate", help="test-set metrics of a run")
    e.add_argument("run", help="run directory")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--device", choices=DEVICES, default="auto")

    s = sub.add_parser("sample", help="a PNG grid of samples from the prior (tokenizers: from `vaekit prior`)")
    s.add_argument("run", help="run directory")
    s.add_argument("--out", required=True, help="PNG file to write")
    s.add_argument("--overwrite", action="store_true", help="replace --out if it exists")

    pr = sub.add_parser("prior", help="train a token prior (a small transformer) on a tokenizer run's tokens")
    pr.add_argument("run", help="tokenizer run directory (vq, fsq, mgvq or titok)")
    _settings(pr, PriorConfig)
    _settings(pr, PriorTrainConfig)
    pr.add_argument("--conditional", action="store_true", help="a class token first: sample by --label")
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
        v.add_argument("--overwrite", action="store_true", help="replace files of the same names in --out")
        return v

    dg = run_verb("diagnose", "posterior-collapse diagnosis: KL per dimension, active units, collapsed dims")
    dg.add_argument("--json", action="store_true", help="print one JSON object")
    run_verb("latent", "encode the test set: latent.csv and a scatter plot latent.png")
    run_verb("manifold", "decode a grid over the prior (2-D latents): manifold.png")
    run_verb("interpolate", "interpolate between two test images: PNG strip and animated GIF")
    run_verb("traverse", "vary each latent dimension over [-3, 3]: traverse.png")
    at = run_verb("attribute", "attribute vectors: mean z of one selection minus another, added at strengths")
    at.add_argument("--json", action="store_true", help="print one JSON object")
    run_verb("recon", "test images above their reconstructions, and prior samples")
    run_verb("report", "report.html: config, metrics, curves, KL chart, images, latent map, interpolation")
    run_verb("explorer", "explorer.html: sliders and a 2-D pad that decode latents live in the browser")

    ex = sub.add_parser("export", help="a run's encoder and decoder as ONNX models (VAEs and tokenizers)")
    ex.add_argument("run", help="run directory")
    ex.add_argument("--out", help="folder for encoder.onnx and decoder.onnx (default: the run directory)")
    ex.add_argument("--overwrite", action="store_true", help="replace the ONNX files in --out")

    tk = sub.add_parser("tokenize", help="a tokenizer run's tokens for a data split, as an .npy array")
    tk.add_argument("run", help="run directory of a vq / fsq / mgvq / titok model")
    tk.add_argument("--out", required=True, help=".npy file to write: (N, h, w), (N, h, w, G) or (N, K) integers; "
                    "with --adaptive an .npz of tokens and lengths")  # fmt: skip
    tk.add_argument("--split", choices=["test", "train"], default="test")
    tk.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    dt = sub.add_parser("detokenize", help="decode an .npy array of tokens into a PNG grid")
    dt.add_argument("run", help="run directory of a vq / fsq / mgvq / titok model")
    dt.add_argument("tokens", help=".npy (or adaptive .npz) file written by vaekit tokenize")
    dt.add_argument("--out", required=True, help="PNG file to write")
    dt.add_argument("--overwrite", action="store_true", help="replace --out if it exists")

    b = sub.add_parser("bench", help="the textbook loop vs the engine, side by side on the same data")
    b.add_argument(
        "--variants",
        default="naive,fp32,auto,jax",
        help="comma list of naive, fp32, fp32-nograph, fp32-dynamic, bf16, bf16-autograd, auto, jax",
    )
    b.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    b.add_argument("--dataset", default="mnist")
    b.add_argument("--json", dest="json_out", help="write the report as JSON to this file")
    b.add_argument("--plot", help="write a bar chart of seconds per epoch against the roofline to this PNG")
    b.add_argument("--overwrite", action="store_true", help="replace --json and --plot files that exist")

    tn = sub.add_parser("tiny", help="the mini-project checklist: tiny VAE, four PASS/FAIL lines")
    tn.add_argument("--out", help="run directory (default runs/tiny-TIME)")
    tn.add_argument("--data-dir")
    tn.add_argument("--overwrite", action="store_true")
    tn.add_argument("--quiet", action="store_true")

    st = sub.add_parser("study", help="pre-registered experiments: collapse (the lecture's remedies, measured)")
    st.add_argument("study", choices=["collapse"], help="collapse: the remedies x 3 seeds in the IWAE-paper setting")
    st.add_argument("--out", help="study folder (default runs/study-collapse-DATASET)")
    st.add_argument("--quick", action="store_true", help="the whole pipeline at a test's size (2 epochs, 1 seed)")
    st.add_argument("--dataset", help="mnist (default), or a path, as for train")
    st.add_argument("--data-dir")
    st.add_argument("--precision", choices=PRECISIONS)
    st.add_argument("--device", choices=DEVICES)
    st.add_argument("--resume", action="store_true", help="continue the study in --out from its plan")
    st.add_argument("--overwrite", action="store_true", help="replace the study in --out")
    st.add_argument("--quiet", action="store_true", help="no progress bars")
    for name, cls in VERB_SETTINGS.items():
        _settings(sub.choices[name], cls)
    return p


def apply_verb_settings(args: argparse.Namespace) -> None:
    """Replace the text of a verb's own flags by checked values (the defaults where not given), before any work."""
    from dataclasses import asdict

    from ..config.verbs import VERB_SETTINGS

    cls = VERB_SETTINGS.get(args.command)
    if cls is not None:
        vars(args).update(asdict(settings_from(args, cls, None)))
