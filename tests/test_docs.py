"""The front door stays a front door: README.md is short, the guides live in docs/, every relative link
resolves, and every result table is what its JSON says (no number copied by hand)."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_the_readme_is_a_front_door_and_the_guides_are_in_docs():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250
    assert len(list((ROOT / "docs").glob("*.md"))) >= 4


def test_every_relative_link_and_image_resolves():
    missing = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" not in target and not (page.parent / target).exists():
                missing.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not missing, missing


def test_every_table_is_generated_from_its_json():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "tables.py"), "--check"], capture_output=True,
                          text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for page in PAGES:  # every table marker has its JSON
        for name in re.findall(r"<!-- table: ([\w.-]+) -->", page.read_text()):
            assert (ROOT / "docs" / "data" / f"{name}.json").is_file(), name
