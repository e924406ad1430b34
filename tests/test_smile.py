"""Attribute vectors by image names (emoji: "grinning face", subcategory "face-smiling"): the selectors, the
names kept through the cache, and the probe that scores each strength."""

import json

import numpy as np
import pytest

from vaekit.analysis.latent import Selector
from vaekit.cli import main
from vaekit.data import load_path
from vaekit.errors import ConfigError


@pytest.fixture
def named_npz(tmp_path):
    """Faces as bright (smiling) or dark (neutral) squares, with names and subcategories per image."""
    rng = np.random.default_rng(0)

    def split(n):
        smile = np.arange(n) % 2 == 0
        x = rng.integers(0, 40, size=(n, 8, 8)).astype(np.uint8)
        x[smile, 2:6, 2:6] += 200
        names = np.where(smile, "grinning face", "neutral face")
        subs = np.where(smile, "face-smiling", "face-neutral-skeptical")
        return x, names, subs

    (xtr, ntr, str_), (xte, nte, ste) = split(60), split(20)
    path = tmp_path / "faces.npz"
    np.savez(path, x_train=xtr, x_test=xte, meta_name_train=ntr, meta_name_test=nte, meta_subcategory_train=str_,
             meta_subcategory_test=ste)  # fmt: skip
    return path


def test_selectors_parse_and_select_by_name_and_subcategory():
    names = np.array(["grinning face", "Smiling Face With Halo", "neutral face", "frowning face"])
    subs = np.array(["face-smiling", "face-smiling", "face-neutral-skeptical", "face-concerned"])
    meta = {"name": names, "subcategory": subs}
    x = np.zeros((4, 4))
    assert Selector.parse("name~smil|grin").mask(x, None, meta).tolist() == [True, True, False, False]
    assert Selector.parse("subcategory=face-neutral-skeptical").mask(x, None, meta).tolist() == [0, 0, 1, 0]
    assert Selector.parse(r"name~^(?!.*(smil|grin)).*\bface\b").mask(x, None, meta).tolist() == [0, 0, 1, 1]
    assert Selector.parse("subcategory~^face-(neutral|concerned)").mask(x, None, meta).tolist() == [0, 0, 1, 1]
    with pytest.raises(ConfigError, match="not a regular expression"):
        Selector.parse("name~smil(")
    with pytest.raises(ConfigError, match="has no image names"):
        Selector.parse("name~smil").mask(x, None, {})
    with pytest.raises(ConfigError, match="matches no image"):
        Selector.parse("subcategory=face-hat").mask(x, None, meta)


def test_names_survive_the_npz(named_npz):
    ds = load_path(named_npz)
    assert ds.meta_test["name"][0] == "grinning face" and len(ds.meta_train["subcategory"]) == 60
    assert ds.info()["meta"]["name"]["values"] == 2


def test_the_vector_from_names_moves_the_probe_up(tmp_path, named_npz, capsys):
    run = tmp_path / "run"
    assert main(["train", "--dataset", str(named_npz), "--preset", "tiny", "--epochs", "30", "--batch-size", "20",
                 "--precision", "fp32", "--out", str(run), "--quiet", "--no-report"]) == 0  # fmt: skip
    capsys.readouterr()
    args = ["attribute", str(run), "--positive", "name~grin", "--negative", "subcategory=face-neutral-skeptical",
            "--split", "train", "--apply-to", "negative", "--json", "--out", str(tmp_path / "a")]  # fmt: skip
    assert main(args) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n_positive"] == 30 and res["n_negative"] == 30  # the training split's faces
    probe = res["probe"]
    assert all(b > a for a, b in zip(probe, probe[1:], strict=False)), probe  # rises with the strength
    assert (tmp_path / "a" / "attribute.png").exists()
    assert main(["attribute", str(run), "--positive", "name~(", "--negative", "label=1"]) == 2
    assert "not a regular expression" in capsys.readouterr().err
