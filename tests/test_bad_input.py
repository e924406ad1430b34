"""A property test of the promise that every bad input is one `error:` line and exit code 2, found before any
work, with nothing written or changed: Hypothesis draws a verb, one of its flags (from the settings' own
declarations: `config/`) and a value outside that flag's domain or on its edge, or a file-system fault, and runs
the command in-process against copies of the old-layout fixture runs.

Bounded to well under a minute (400 drawn flag values, then every file-system fault). What it found when it was
written: `detokenize` given an .npz archive (an AttributeError) and an explore verb given a file as its --out
folder (a FileExistsError); both are one line now and stay in FAULTS as regression cases.
"""

import shutil
from dataclasses import fields
from pathlib import Path

import pytest

from vaekit.cli import main
from vaekit.config import run_settings
from vaekit.config.fields import coerce, default_of, domain_of, flag_name
from vaekit.config.prior import PriorConfig, PriorTrainConfig
from vaekit.config.verbs import VERB_SETTINGS

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "runs-0.1"

# the command line of each verb before the flag under test: a cheap, valid call into the fixtures
BASE = {
    "train": ["train", "--dataset", "blobs.npz", "--max-steps", "1", "--out", "new", "--quiet", "--no-report"],
    "sweep": ["sweep", "--dataset", "blobs.npz", "--betas", "1", "--max-steps", "1", "--out", "new", "--quiet"],
    "prior": ["prior", "vq", "--overwrite", "--quiet", "--no-report"],
    "evaluate": ["evaluate", "gaussian"],
    "sample": ["sample", "gaussian", "--out", "s.png"],
    "manifold": ["manifold", "gaussian"],
    "interpolate": ["interpolate", "gaussian", "--from", "0", "--to", "1"],
    "traverse": ["traverse", "gaussian"],
    "attribute": ["attribute", "gaussian", "--positive", "label=0", "--negative", "label=1"],
    "recon": ["recon", "gaussian"],
    "tokenize": ["tokenize", "vq", "--out", "t.npy"],
    "detokenize": ["detokenize", "vq", "tokens.npy", "--out", "d.png"],
    "bench": ["bench", "--variants", "fp32", "--dataset", "blobs.npz"],
    "tiny": ["tiny", "--out", "tiny"],
    "study": ["study", "collapse", "--dataset", "blobs.npz"],
}


def _flags() -> list[tuple[str, str, object]]:
    """(verb, flag, field) for every flag whose domain is declared in config/."""
    out = [("train", flag_name(f), f) for _, _, fs in run_settings() for f in fs if f.name != "dataset"]
    out += [("prior", flag_name(f), f) for cls in (PriorConfig, PriorTrainConfig) for f in fields(cls)
            if domain_of(f).cli]  # fmt: skip
    out += [(verb, flag_name(f), f) for verb, cls in VERB_SETTINGS.items() for f in fields(cls)]
    return out


FLAGS = _flags()


def _outside(f) -> list[str]:
    """Values outside the field's domain (as command-line text)."""
    d, default = domain_of(f), default_of(f)
    if isinstance(default, bool):
        return ["maybe", "2"]
    if d.choices is not None and not isinstance(default, tuple):
        return ["no-such-choice", ""]
    if d.pattern is not None:  # a grammar (selectors): text that does not parse, and numbers past its bounds
        return ["", "x", "label=", "index:-1", "ink>1", "ink<0", "ink>0.0", "-3", "label=1e9", "index:1e9"]
    if isinstance(default, str) or (default is None and d.cast is None):
        return []  # free text (paths, names): covered by the file-system faults
    bad = ["x", "nan", "inf", "-inf", "1e999"]
    beyond = [d.ge - 1 if d.ge is not None else None, d.gt, d.le + 1 if d.le is not None else None, d.lt]
    edges = [str(int(v)) if float(v).is_integer() else repr(float(v)) for v in beyond if v is not None]
    bad += edges
    if isinstance(default, tuple):
        bad = ["a,b", *(f"{v},{v}" for v in edges)]
        if d.length is not None:
            bad.append(",".join(["2"] * (d.length[1] + 1)))
    elif isinstance(default, int) or d.cast is int:
        bad.append("1.5")
    return bad


CASES = [(verb, flag, value) for verb, flag, f in FLAGS for value in _outside(f)]


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and
            p.name != ".lock"}  # fmt: skip


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-input")
    shutil.copytree(FIXTURES, root / "runs")
    import numpy as np

    np.save(root / "runs" / "tokens.npy", np.zeros((2, 2, 2), dtype=np.int64))
    return root / "runs"


def _run(pristine: Path, tmp: Path, argv: list[str], capsys) -> tuple[int, str, dict, dict]:
    work = tmp / "work"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(pristine, work)
    before = snapshot(work)
    import os

    cwd = os.getcwd()
    os.chdir(work)
    try:
        capsys.readouterr()
        try:
            code = main(argv)
        except SystemExit as e:  # argparse's own errors
            code = e.code
        err = capsys.readouterr().err
    finally:
        os.chdir(cwd)
    return code, err, before, snapshot(work)


def _assert_refused(code, err, before, after, argv):
    lines = err.strip().splitlines()
    assert code == 2, (argv, code, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), (argv, err)
    assert "Traceback" not in err
    assert after == before, (argv, sorted(set(after) ^ set(before)))


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=st.sampled_from(CASES))
def test_a_value_outside_a_flags_domain_is_one_line_and_changes_nothing(pristine, tmp_path_factory, capsys, case):
    verb, flag, value = case
    argv = [*BASE[verb], f"--{flag}={value}" if len(flag) > 1 else f"-{flag}{value}"]
    _assert_refused(*_run(pristine, tmp_path_factory.mktemp("h"), argv, capsys), argv)


def test_every_flag_has_cases_outside_its_domain():
    """The draw above reaches every numeric and choice flag of every verb."""
    covered = {(v, f) for v, f, _ in CASES}
    for verb, flag, f in FLAGS:
        d, default = domain_of(f), default_of(f)
        if d.choices is not None or isinstance(default, int | float | tuple) or d.cast or d.pattern:
            assert (verb, flag) in covered, (verb, flag)


def test_edge_values_inside_a_domain_are_accepted():
    """The bounds are inclusive as declared: a value on an edge passes the checks (it is not run here)."""
    from vaekit.config.fields import check

    for _, _, f in FLAGS:
        d, default = domain_of(f), default_of(f)
        kind = d.cast or (type(default[0]) if isinstance(default, tuple) and default else type(default))
        if kind not in (int, float) or isinstance(default, bool) or d.choices is not None:
            continue
        for edge in (d.ge, d.le):
            if edge is None:
                continue
            text = str(kind(edge))
            if isinstance(default, tuple):  # as many values as the list must have
                text = ",".join([text] * max(1, d.length[0] if d.length else 1))
            check(f.name, coerce(f.name, text, default, d.cast), d)


FAULTS = [
    ["train", "--config", "."],  # a folder where a file is expected
    ["train", "--config", "missing.toml"],
    ["train", "--config", "utf16.toml"],
    ["train", "--config", "blobs.npz"],  # binary, not TOML
    ["train", "--dataset", "blobs.npz", "--out", "blobs.npz/run", "--quiet"],  # a file where a folder is wanted
    ["train", "--dataset", "no/such.npz", "--quiet"],
    ["sample", "gaussian", "--out", "blobs.npz/s.png"],
    ["sample", "gaussian", "--out", "gaussian"],  # a folder where a file is wanted
    ["tokenize", "vq", "--out", "blobs.npz/t.npy"],
    ["latent", "gaussian", "--out", "blobs.npz"],
    ["export", "gaussian", "--out", "blobs.npz"],
    ["evaluate", "no-such-run"],
    ["evaluate", "blobs.npz"],
    ["detokenize", "vq", "blobs.npz", "--out", "d.png"],
    ["detokenize", "vq", "missing.npy", "--out", "d.png"],
    ["data", "info", "gaussian/config.json"],
    ["bench", "--variants", "fp32", "--json", "gaussian"],
    ["train", "--resume", "--out", "gaussian", "--lr", "0.1"],
    ["prior", "gaussian", "--quiet"],  # a Gaussian run has no tokens
]


@pytest.mark.parametrize("argv", FAULTS, ids=" ".join)
def test_file_system_faults_are_one_line_and_change_nothing(pristine, tmp_path, capsys, argv):
    (pristine / "utf16.toml").write_bytes("[train]\nepochs = 1\n".encode("utf-16"))
    _assert_refused(*_run(pristine, tmp_path, argv, capsys), argv)


def test_a_write_that_fails_in_the_file_system_is_one_line_and_leaves_no_temp_file(tmp_path, monkeypatch):
    """A full disk (or a folder gone read-only) while writing: the atomic writer's one line, no temp file."""
    import errno
    import os

    from vaekit._io import atomic_write_json
    from vaekit.errors import RunError

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(RunError, match="No space left on device.*free some space"):
        atomic_write_json(tmp_path / "x.json", {"a": 1})
    assert list(tmp_path.iterdir()) == []
