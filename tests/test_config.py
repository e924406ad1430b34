"""Settings are declared once: every field has its flag and its TOML key, every flag is a field, and every
domain is checked (NaN and infinity too) before any work."""

import math
from dataclasses import fields

import pytest

from vaekit.cli import main
from vaekit.cli.parser import build_parser, run_flags
from vaekit.config import MODEL_CONFIGS, DataConfig, LossConfig, RunConfig, TrainConfig, update
from vaekit.config.fields import coerce, default_of, domain_of, flag_name
from vaekit.config.prior import PriorConfig, PriorTrainConfig
from vaekit.errors import ConfigError

TABLES = [("loss", LossConfig), ("data", DataConfig), ("train", TrainConfig)]
ALL_TABLES = [("model", c) for c in MODEL_CONFIGS] + TABLES


def _train_actions():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return {a.dest: a for a in sub.choices["train"]._actions}


def test_every_field_has_a_flag_and_every_flag_a_field():
    actions = _train_actions()
    flags = run_flags()
    for section, cls in ALL_TABLES:
        for f in fields(cls):
            if domain_of(f).cli:
                dest = flag_name(f).replace("-", "_")
                assert dest in actions, f"{section}.{f.name} has no flag"
                assert flags[dest] == (section, f.name)
            else:  # filled in by vaekit: the image shape from the data
                assert (section, f.name) == ("model", "input_shape")
    not_settings = {"help", "config", "quiet", "out", "resume", "overwrite", "no_report", "tensorboard"}
    assert set(actions) - not_settings == set(flags)


def test_prior_flags_are_its_fields():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    actions = {a.dest for a in sub.choices["prior"]._actions}
    for cls in (PriorConfig, PriorTrainConfig):
        for f in fields(cls):
            assert (f.name in actions) == domain_of(f).cli, f.name


@pytest.mark.parametrize("section, cls", ALL_TABLES)
def test_every_field_is_a_toml_key(section, cls):
    """Each field, set from a TOML-like table to a value other than its default, arrives in the config."""
    for f in fields(cls):
        d, default = domain_of(f), default_of(f)
        kind = cls.KINDS[-1] if section == "model" else None
        if f.name == "kind" or (isinstance(default, str) and d.choices is None) or default is None:
            continue
        value = _another_value(d, default)
        cfg = RunConfig()
        table = {"kind": kind, f.name: value} if kind else {f.name: value}
        update(cfg, {section: table}, "test.toml")
        got = getattr(getattr(cfg, section), f.name)
        assert got == (tuple(value) if isinstance(value, list) else value), f"{section}.{f.name}"


def _another_value(d, default):
    if d.choices is not None:
        return next(c for c in d.choices if c != default)
    if isinstance(default, bool):
        return not default
    if isinstance(default, tuple):
        lo = max(1, d.length[0]) if d.length else 1
        return [int(d.ge or 1) + 1] * lo
    if isinstance(default, int):
        return default + 1 if d.le is None or default + 1 <= d.le else default - 1
    return default / 2 if default else 0.5


@pytest.mark.parametrize(
    "flag, value",
    [("--beta", "nan"), ("--free-bits", "nan"), ("--lr", "inf"), ("--commitment", "nan"), ("--sigma", "-inf"),
     ("--dvae-mask", "nan"), ("--posterior-sigma", "inf"), ("--adam-eps", "nan"), ("--epochs", "0"),
     ("--epochs", "1.5"), ("--hidden", "16,x"), ("--batch-size", "-3"), ("--width", "100000")],
)  # fmt: skip
def test_a_value_outside_its_domain_is_one_line_before_any_work(flag, value, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["train", f"{flag}={value}", "--quiet"]
    if flag == "--commitment":
        args += ["--model", "vq"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert not any(tmp_path.iterdir())  # nothing written, not even a run directory


def test_non_finite_numbers_are_refused_in_toml_too():
    for section, key in [("loss", "beta"), ("train", "lr"), ("model", "sigma")]:
        cfg = update(RunConfig(), {section: {key: math.nan}}, "test.toml")
        with pytest.raises(ConfigError, match=f"{section}.{key} must be a finite number"):
            cfg.validate()


def test_a_setting_of_another_kind_is_refused_in_a_config_file_and_on_the_command_line():
    with pytest.raises(ConfigError, match="model.codebook_size is a setting of --model vq"):
        update(RunConfig(), {"model": {"codebook_size": 16}}, "test.toml")
    with pytest.raises(ConfigError, match="model.latent_dim is a setting of --model gaussian"):
        update(RunConfig(), {"model": {"kind": "vq", "latent_dim": 4}}, "test.toml")


def test_a_usage_error_is_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--no-such-flag"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "--help" in err[0]


def test_coerce_takes_text_from_the_command_line():
    assert coerce("x", "3", 0) == 3 and coerce("x", "0.5", 1.0) == 0.5 and coerce("x", "8x8", (1,)) == (8, 8)
    assert coerce("x", "off", True) is False
    for text, default in [("3.5", 0), ("", 0), ("x", 1.0), ("a,b", (1,))]:
        with pytest.raises(ConfigError):
            coerce("x", text, default)
