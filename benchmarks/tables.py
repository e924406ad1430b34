"""Write the result tables of README.md and docs/ from the JSON that the measuring commands wrote, so that no
number in them is copied by hand.

    python benchmarks/tables.py           # rewrite every table in place
    python benchmarks/tables.py --check   # exit 1 when a table differs from its JSON (the test suite checks this)

A table sits between ``<!-- table: NAME -->`` and ``<!-- /table -->`` in a markdown file. Its sources:
  results    docs/data/results.json     written by benchmarks/results.py (`vaekit train` + `vaekit evaluate`)
  bench-*    docs/data/bench-*.json     written by `vaekit bench --json` (the part after bench- names the machine)
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "docs" / "data"
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(<!-- table: (?P<name>[\w.-]+) -->\n)(?P<body>.*?)(<!-- /table -->)", re.S)


def _machine(m: dict) -> str:
    flags = ", ".join(f"`{f}`" for f in m.get("bf16_flags", [])) or "no bf16 units"
    return f"{m.get('cpu', '?')} ({flags}), {m.get('threads', '?')} threads, torch {m.get('torch', '?')}"


def results_table() -> str:
    rows = json.loads((DATA / "results.json").read_text())["rows"]
    lines = [
        "| model | test loss (−ELBO) | recon (BCE) | KL | IW-NLL | active units | params | train time | step |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    machines = set()
    for r in rows.values():
        s, e = r["summary"], r["summary"]["engine"]
        iw = f"{s['nll_iw']:.2f} (K={s['iw_samples']})" if "nll_iw" in s else "–"
        latent = r["config"]["model"]["latent_dim"]
        lines.append(
            f"| {r['model']} | **{s['loss']:.2f}** | {s['recon']:.2f} | {s['kl']:.2f} | {iw} | "
            f"{s['active_units']}/{latent} | {s['params']:,} | {s['train_seconds']:.0f} s | "
            f"{e['step']}, {e['precision']} |"
        )
        machines.add(_machine(r["machine"]))
    recipe = next(iter(rows.values()))["recipe"]
    return "\n".join(lines) + f"\n\nRecipe: {recipe}. Measured on {'; '.join(sorted(machines))}.\n"


def bench_table(name: str) -> str:
    sys.path.insert(0, str(ROOT / "src"))
    from vaekit.measure.compare import markdown_table

    report = json.loads((DATA / f"{name}.json").read_text())
    return markdown_table(report) + f"\n\nMeasured on {_machine(report['machine'])}.\n"


def render(name: str) -> str:
    return results_table() if name == "results" else bench_table(name)


def main() -> int:
    check = "--check" in sys.argv[1:]
    stale = []
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        new = BLOCK.sub(lambda m: m.group(1) + render(m.group("name")) + m.group(4), text)
        if new != text:
            stale.append(path.relative_to(ROOT))
            if not check:
                path.write_text(new, encoding="utf-8")
    if check and stale:
        print(f"tables differ from their JSON in {', '.join(map(str, stale))}; run python benchmarks/tables.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
