"""Write the result tables of README.md and docs/ from the JSON that the measuring commands wrote, so that no
number in them is copied by hand.

    python benchmarks/tables.py           # rewrite every table in place
    python benchmarks/tables.py --check   # exit 1 when a table differs from its JSON (the test suite checks this)

A table sits between ``<!-- table: NAME -->`` and ``<!-- /table -->`` in a markdown file. Its sources:
  results    docs/data/results.json     written by benchmarks/results.py (`vaekit train` + `vaekit evaluate`)
  bench-*    docs/data/bench-*.json     written by `vaekit bench --json` (the part after bench- names the machine)
  race-*     docs/data/race-*.json      written by `vaekit bench --to-loss L --json` (time to quality)
  tokens1d-* docs/data/tokens1d-*.json  written by benchmarks/tokens1d.py (TiTok and a conv VAE, emoji or MNIST)
  video-*    docs/data/video-*.json     written by benchmarks/video.py (video vs image tokenizer, Moving MNIST)
  grid-*     docs/data/grid-*.json      written by benchmarks/grid.py (the grid tokenizers on MNIST and emoji)
  generation-* docs/data/generation-*.json written by benchmarks/generation.py (samples: Gaussian VAEs, token priors)
  mgvq-priors-* docs/data/mgvq-priors-*.json written by benchmarks/mgvq_priors.py (both kinds of token prior)
  mgvq-*     docs/data/mgvq-*.json      written by benchmarks/mgvq.py (nested multi-group VQ on emoji and MNIST)
  smile-*    docs/data/smile-*.json     written by benchmarks/smile.py (the smile vector on emoji faces)
  study-*    docs/data/study-*.json     `vaekit study collapse`'s study.json, with the machine it ran on
  tiny*      docs/data/tiny*.json       written by benchmarks/tiny.py (the candidates for `vaekit tiny`, the checklist)
  iwae-paper docs/data/iwae-paper.json  written by benchmarks/iwae_paper.py (the IWAE paper's MNIST row)
  step-bound-* docs/data/step-bound-*.json written by benchmarks/step_bound.py (the fused step against its bound)
"""

from __future__ import annotations

import json
import math
import re
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "docs" / "data"
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(<!-- table: (?P<name>[\w.-]+) -->\n)(?P<body>.*?)(<!-- /table -->)", re.S)


def _machine(m: dict) -> str:
    flags = ", ".join(f"`{f}`" for f in m.get("bf16_flags", [])) or "no bf16 units"
    threads = m.get("threads", "?")
    threads = _threads(threads) if isinstance(threads, int) else threads
    cpu = m.get("cpu", "?") + (f" ({m['cpu_id']})" if "cpu_id" in m else "")
    return f"{cpu} ({flags}), {threads}, torch {m.get('torch', '?')}"


def _where(data: dict, threads: str | None = "the threads in each row") -> str:
    """The sentence "Measured on ...": the one machine of a result JSON's rows, or each machine with its rows
    (counted from 1) when they differ. A row names its machine, or (written before rows did) shares the JSON's;
    ``threads``, when given, replaces their thread counts (a column of the table shows them)."""
    machines: dict[int, str] = {}
    for i, r in enumerate(data["rows"].values(), 1):
        m = (r.get("machine") or data["machine"]) | ({"threads": threads} if threads else {})
        machines[i] = _machine(m)
    return _measured_on(machines)


def _measured_on(machines: dict[int, str]) -> str:
    """The sentence for table rows (numbered from 1) and their machines: "Measured on M.", or each machine with
    its rows when they differ."""
    rows: dict[str, list[int]] = {}
    for i, m in machines.items():
        rows.setdefault(m, []).append(i)
    if len(rows) == 1:
        return f"Measured on {next(iter(rows))}."
    return "Measured on " + "; ".join(f"{m} (row{'s' * (len(ix) > 1)} {_spans(ix)})" for m, ix in rows.items()) + "."


def _spans(numbers: list[int]) -> str:
    """[1, 2, 3, 5, 7, 8] -> "1-3, 5, 7-8"."""
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in spans)


def results_table() -> str:
    data = json.loads((DATA / "results.json").read_text())
    rows = data["rows"]
    lines = [
        "| model | test loss (−ELBO) | recon (BCE) | KL | IW-NLL | active units | params | train time | step |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows.values():
        s, e = r["summary"], r["summary"]["engine"]
        iw = f"{s['nll_iw']:.2f} (K={s['iw_samples']})" if "nll_iw" in s else "–"
        latent = r["config"]["model"]["latent_dim"]
        lines.append(
            f"| {r['model']} | **{s['loss']:.2f}** | {s['recon']:.2f} | {s['kl']:.2f} | {iw} | "
            f"{s['active_units']}/{latent} | {s['params']:,} | {s['train_seconds']:.0f} s | "
            f"{e['step']}, {e['precision']} |"
        )
    recipe = next(iter(rows.values()))["recipe"]
    return "\n".join(lines) + f"\n\nRecipe: {recipe}. {_where(data, threads=None)}\n"


def bench_table(name: str) -> str:
    sys.path.insert(0, str(ROOT / "src"))
    from vaekit.measure.compare import markdown_table, race_table

    report = json.loads((DATA / f"{name}.json").read_text())
    table = race_table(report) if name.startswith("race") else markdown_table(report)
    return table + f"\n\nMeasured on {_machine(report['machine'])}.\n"


def tokens1d_table(name: str) -> str:
    from vaekit.evaluation.lengths import LENGTH_RULES, rule_text  # (imports torch: only the tables that need it)

    data = json.loads((DATA / f"{name}.json").read_text())
    samples = data.get("samples", 379)  # the first emoji JSON did not name its count
    m = next(r["config"]["model"] for r in data["rows"].values() if r["config"]["model"]["kind"] == "titok")
    grid = "x".join(str(side // m["patch"]) for side in m["input_shape"][:2])
    lines = [
        f"| model | tokens | test psnr (dB) | ssim | bicubic at {grid} (dB) | codebook usage | prior NLL (nats) | "
        f"fid ({samples:,} samples) | 64 samples (s) | params | train time |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for r in data["rows"].values():
        e, s, m = r["evaluate"], r["summary"], r["config"]["model"]
        tokens = str(m["tokens"]) if m["kind"] == "titok" else f"{m['latent_dim']} Gaussian latents"
        usage = f"{e['codebook_usage']:.3f}" if "codebook_usage" in e else "–"
        prior = f"{e['prior_nll']:.1f}" if "prior_nll" in e else "–"
        sample = f"{r['sample_64_seconds']:.2f}" if "sample_64_seconds" in r else "–"
        bicubic = f"{e['psnr_bicubic']:.2f}" if "psnr_bicubic" in e else "–"
        fid = f"{e['fid']:.2f}" if "fid" in e else "–"
        lines.append(
            f"| {r['model']} | {tokens} | **{e['psnr']:.2f}** | {e['ssim']:.3f} | {bicubic} | {usage} | {prior} | "
            f"{fid} | {sample} | {s['params']:,} | {s['train_seconds'] / 60:.1f} min "
            f"({_threads(s['engine']['threads'])}, {s['engine']['precision']}) |"
        )
        if "adaptive" in e:
            a = e["adaptive"]
            k = len(a["psnr_at_length"])
            for key in LENGTH_RULES:
                if key not in a:  # measured before the rule existed
                    continue
                c, what = a[key], rule_text(key, a["max_loss_db"])
                if key == "model_target":
                    what += f", {c['target_psnr']:.2f} dB"
                notes.append(
                    f"{r['model']}, lengths chosen per image ({what}): mean {c['mean_length']:.1f} of {k} tokens "
                    f"({c['full_length']} images take all {k}), PSNR {c['psnr_adaptive']:.2f} dB against "
                    f"{a['psnr_full']:.2f} at full length, correlation of the length with the image's PNG size "
                    f"r = {c['length_vs_png_bytes']:.2f}."
                )
    floor = next(r["evaluate"] for r in data["rows"].values() if "fid_floor" in r["evaluate"])
    text = "\n".join(lines) + "\n\n" + " ".join(notes)
    text += (
        f" The fid floor ({samples:,} training images against the test set) is {floor['fid_floor']:.2f}; the reference"
        f" classifier's test accuracy is {floor['classifier_accuracy']:.3f}."
    )
    return text + f" {_where(data)}\n"


def _threads(n: int) -> str:
    return f"{n} thread{'' if n == 1 else 's'}"


def video_table(name: str) -> str:
    def bits(r: dict) -> str:  # a continuous latent's rate is its KL (the bits-back cost), in bits
        b = r["bits_per_clip"]
        return f"{b:,.0f}" if b is not None else f"{r['evaluate']['quant'] / math.log(2):,.0f} (the KL)"

    data = json.loads((DATA / f"{name}.json").read_text())
    lines = [
        "| model | tokens per clip | bits per clip | test PSNR (dB, per frame) | SSIM | PSNR frame 0 | PSNR frames "
        "1-16 | params | epochs | train time |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in data["rows"].values():
        s, p = r["summary"], r["psnr_per_frame"]
        rest = sum(p[1:]) / max(1, len(p) - 1)
        lines.append(
            f"| {r['model']} | {r['tokens_per_clip']:,} | {bits(r)} | **{r['psnr']:.2f}** | "
            f"{r['ssim']:.3f} | {p[0]:.2f} | {rest:.2f} | {s['params']:,} | {s['epochs']} | "
            f"{s['train_seconds'] / 60:.1f} min ({_threads(s['engine']['threads'])}) |"
        )
    video = data["rows"].get("video", {}).get("evaluate", {})
    text = "\n".join(lines) + "\n"
    if "psnr_first_frame_alone" in video:
        text += (
            f"\nThe video tokenizer's frame 0: {video['psnr_per_frame'][0]:.2f} dB in the clip, "
            f"{video['psnr_first_frame_alone']:.2f} dB fed alone as an image; codebook usage "
            f"{video['codebook_usage']:.3f}, perplexity {video['perplexity']:,.0f} of 15,360 codes."
        )
    where = _machine(data["machine"] | {"threads": "the threads in each row"})
    return text + f" Measured on {where}.\n"


def _codes(m: dict) -> str:
    if m["kind"] == "fsq":
        n = 1
        for v in m["levels"]:
            n *= v
        return f"{n:,}"
    if m["kind"] == "mgvq":
        return " x ".join([f"{m['codebook_size']:,}"] * m["groups"])
    return f"{m['codebook_size']:,}"


def grid_table(name: str) -> str:
    data = json.loads((DATA / f"{name}.json").read_text())
    rows = data["rows"].values()
    if name == "grid-mnist":
        lines = [
            "| model | codes | test mse (per pixel) | test recon (nats) | codebook usage | perplexity | dead codes | "
            "params |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            e, m = r["evaluate"], r["config"]["model"]
            lines.append(
                f"| {r['model']} | {_codes(m)} | {e['mse']:.4f} | {e['recon']:.2f} | **{e['codebook_usage']:.3f}** | "
                f"{e['perplexity']:.1f} | {e['dead_codes']} | {e['params']:,} |"
            )
    else:
        lines = [
            "| tokenizer | f | tokens | codes | test psnr (dB) | bicubic at the grid (dB) | ssim | codebook usage | "
            "params | train time |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            e, m, s = r["evaluate"], r["config"]["model"], r["summary"]
            side = 64 // m["downsample"]
            lines.append(
                f"| {r['model']} | {m['downsample']} | {side}x{side} | {_codes(m)} | **{e['psnr']:.2f}** | "
                f"{e['psnr_bicubic']:.2f} | {e['ssim']:.3f} | {e['codebook_usage']:.3f} | {e['params']:,} | "
                f"{s['train_seconds']:.0f} s ({s['epochs']} epochs, {s['engine']['precision']}) |"
            )
    return "\n".join(lines) + f"\n\nMeasured on {_machine(data['machine'])}.\n"


def generation_table(name: str) -> str:
    data = json.loads((DATA / f"{name}.json").read_text())
    rows = list(data["rows"].values())
    first = rows[0]["evaluate"]
    lines = [
        "| model | loss (nats; tokenizers: the bound) | recon | KL or prior_nll | fid | sample labels 0..9 "
        "| training |",
        "|---|---|---|---|---|---|---|",
        f"| test set vs {first['fid_samples']:,} training images (the floor) | – | – | – "
        f"| **{first['fid_floor']:.2f}** | – | – |",
    ]
    for r in rows:
        e, s = r["evaluate"], r["summary"]
        third = e["prior_nll"] if "prior_nll" in e else e["kl"]
        labels = " ".join(str(c) for c in e["sample_labels"])
        took = f"{s['train_seconds']:.0f} s" + (f" + {r['prior_seconds']:.0f} s" if "prior_seconds" in r else "")
        lines.append(
            f"| {r['model']} | {e['loss']:.2f} | {e['recon']:.2f} | {third:.2f} | {e['fid']:.2f} | {labels} | {took} |"
        )
    accuracy = 100 * first["classifier_accuracy"]
    return "\n".join(lines) + f"\n\nThe reference classifier's test accuracy: {accuracy:.2f} %. {_where(data, None)}\n"


def mgvq_table(name: str) -> str:
    data = json.loads((DATA / f"{name}.json").read_text())
    rows = list(data["rows"].values())
    prior = any("prior_nll" in r["evaluate"] for r in rows)  # the prior's columns once a row has them
    head = ["model", "codes per group", "bits per token", "PSNR from group 1", "groups 1-2", "all groups (dB)",
            "SSIM (all)", "codebook usage per group",
            *(["prior NLL (nats): groups 1 + ... + G", "fid"] if prior else []), "params", "train time"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        e, m, s = r["evaluate"], r["config"]["model"], r["summary"]
        if m["kind"] == "fsq":
            sizes, psnr = [math.prod(m["levels"])], [None, None, e["psnr"]]
            usage = f"{e['codebook_usage']:.3f}"
        else:
            sizes, psnr = m["group_codes"], e["groups"]["psnr"]
            usage = ", ".join(f"{u:.2f}" for u in e["codebook_usage_per_group"])
        cells = [f"{v:.2f}" if v is not None else "–" for v in psnr]
        bits = sum(math.log2(k) for k in sizes)
        took = f"{s['train_seconds']:.0f} s" + (f" + {r['prior_seconds']:.0f} s" if "prior_seconds" in r else "")
        took += f" ({_threads(s['engine']['threads'])}, {s['engine']['precision']})"
        extra = [_prior_nll(e), f"{e['fid']:.2f}"] if "prior_nll" in e else ["–", "–"]
        lines.append(
            f"| {r['model']} | {', '.join(f'{k:,}' for k in sizes)} | {bits:.0f} | {cells[0]} | {cells[1]} | "
            f"**{cells[2]}** | {e['ssim']:.3f} | {usage} | {' | '.join(extra) + ' | ' if prior else ''}"
            f"{s['params']:,} | {took} |"
        )
    return "\n".join(lines) + f"\n\n{_where(data)}\n"


def _prior_nll(scored: dict) -> str:
    """A prior's test NLL, and its terms per group when the evaluation has them (written before: the sum alone)."""
    terms = " + ".join(f"{v:.1f}" for v in scored.get("prior_nll_groups", []))
    return f"{scored['prior_nll']:.1f}" + (f" = {terms}" if terms else "")


def mgvq_priors_table(name: str) -> str:
    data = json.loads((DATA / f"{name}.json").read_text())
    head = ["tokenizer run", "prior", "params", "epochs", "test NLL after epoch 1, 2, 4, 8, ... and the last "
            "(nats per image)", "the last = groups 1 + ... + G", "fid", "s per epoch (median)"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in data["rows"].values():
        n, e = r["group_layers"], r["evaluate"]
        kind = "one step per token" if not n else f"one step per position, {n} depth block{'s' * (n > 1)}"
        kind += f", {r['precision']}" if "precision" in r else ""  # (rows before it was kept: fp32)
        last = len(r["test_nll"])  # epochs 1, 2, 4, 8, ... and the last: every epoch's is in the JSON
        shown = [k for k in range(1, last + 1) if k & (k - 1) == 0 or k == last]
        nll = ", ".join(f"{k}: {r['test_nll'][k - 1]:.1f}" for k in shown)
        fids = e.get("fid_sets", [e["fid"]] if "fid" in e else [])  # rows before fid_sets: seed 0's set alone
        if not fids:
            fid = "–"
        elif len(fids) == 1:
            fid = f"{fids[0]:.2f} ({e['fid_samples']:,} samples, floor {e['fid_floor']:.2f})"
        else:
            fid = (f"{statistics.mean(fids):.2f} ({min(fids):.2f}-{max(fids):.2f} over {len(fids)} sets of "
                   f"{e['fid_samples']:,} samples; floor {e['fid_floor']:.2f})")  # fmt: skip
        lines.append(
            f"| {r['model']} | {kind} | {r['params']:,} | {len(r['test_nll'])} | {nll} | "
            f"{_prior_nll(e) if 'prior_nll_groups' in e else '–'} | {fid} | "
            f"{statistics.median(r['seconds']):.0f} |"
        )
    return "\n".join(lines) + f"\n\n{_where(data, None)}\n"


def _checklist(c: dict) -> tuple[str, str]:
    """`vaekit tiny`'s lines as a block, and the threads it ran on."""
    return "```text\n$ vaekit tiny\n" + "\n".join(c["lines"]) + "\n```\n", _threads(c["summary"]["engine"]["threads"])


def tiny_table(name: str) -> str:
    data = json.loads((DATA / f"{name}.json").read_text())
    if not data["rows"]:  # the checklist alone (`--only checklist`)
        block, threads = _checklist(data["checklist"])
        return block + f"\nMeasured on {_machine(data['machine'] | {'threads': threads})}.\n"
    most_params, most_loss = data["limits"]["params"], data["limits"]["loss"]
    lines = [
        f"| candidate | params | test loss (−ELBO, nats) | recon | KL | train time | under {most_params:,} and at "
        f"most {most_loss:.0f} nats |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in data["rows"].values():
        s = r["summary"]
        ok = "yes" if s["params"] < most_params and s["loss"] <= most_loss else "no"
        lines.append(
            f"| {r['model']} | {s['params']:,} | **{s['loss']:.2f}** | {s['recon']:.2f} | {s['kl']:.2f} | "
            f"{s['train_seconds']:.0f} s ({_threads(s['engine']['threads'])}) | {ok} |"
        )
    where = _machine(data["machine"] | {"threads": "the threads in each row"})
    text = "\n".join(lines) + f"\n\nMeasured on {where}.\n"
    if "checklist" in data:
        block, threads = _checklist(data["checklist"])
        text += f"\nThe checklist itself ({threads}):\n\n" + block
    return text


def smile_table(name: str) -> str:
    d = json.loads((DATA / f"{name}.json").read_text())
    head = "| strength | " + " | ".join(f"{v:+g}" for v in d["strengths"]) + " |"
    row = "| probe's mean P(smiling) | " + " | ".join(f"{v:.3f}" for v in d["probe"]) + " |"
    rises = all(b > a for a, b in zip(d["probe"], d["probe"][1:], strict=False))
    return (
        "\n".join([head, "|---" * (len(d["strengths"]) + 1) + "|", row])
        + f"\n\nThe vector: `{d['positive']}` ({d['n_positive']} training faces) minus `{d['negative']}` "
        f"({d['n_negative']}), |v| = {d['norm']:.2f}; added to the test faces `{d['targets']}` picks. The probe "
        f"tells the two selections' reconstructions apart with accuracy {d['probe_accuracy']:.2f}; its mean "
        f"P(smiling) {'rises' if rises else 'does not rise'} monotonically with the strength. Conv Gaussian VAE, "
        f"{d['summary']['epochs']} epochs, {d['summary']['train_seconds']:.0f} s. Measured on "
        f"{_machine(d['machine'])}.\n"
    )


def study_table(name: str) -> str:
    sys.path.insert(0, str(ROOT / "src"))
    from vaekit.measure.study import StudyConfig, markdown_table

    data = json.loads((DATA / f"{name}.json").read_text())
    plan = {k: tuple(v) if isinstance(v, list) else v for k, v in data["plan"]["config"].items()}
    table = markdown_table(StudyConfig(**plan), data["remedies"])
    return table + f"\n\nMeasured on {_machine(data['machine'])}.\n"


def iwae_paper_table(name: str) -> str:
    data = json.loads((DATA / f"{name}.json").read_text())
    lines = [
        "| model | passes | test NLL (IW, K = 5000) | test -ELBO | active units | training | evaluation |",
        "|---|---|---|---|---|---|---|",
    ]
    machines: dict[int, str] = {}  # table row (from 1) -> machine

    def scored(key: str) -> None:
        row = data["rows"].get(key)
        for s in row["scored"] if row else []:
            total = s["passes"] if s["finished"] else f"{s['passes']:,} (stopped there)"
            k = "" if s["iw_samples"] == 5000 else f" (K = {s['iw_samples']})"
            lines.append(
                f"| {row['model']} | {total} | **{s['nll_iw']:.2f}**{k} | {s['loss']:.2f} | {s['active_units']} | "
                f"{s['train_seconds'] / 60:.0f} min | {s['eval_seconds'] / 60:.1f} min |"
            )
            machines[len(lines) - 2] = _machine(s["machine"])

    for ref, keys in (("VAE (k = 1)", ("vae-750", "paper")), ("IWAE (k = 5)", ("iwae-450",))):
        lines.append(f"| Burda et al. 2015, {ref} | 3,280 | {data['paper'][ref]:.2f} | – | – | – | – |")
        for key in keys:
            scored(key)
    return "\n".join(lines) + (f"\n\n{_measured_on(machines)}\n" if machines else "\n")


def step_bound_table(name: str) -> str:
    sys.path.insert(0, str(ROOT / "src"))
    from step_bound import targets  # (imports torch: only the tables that need it)

    data = json.loads((DATA / f"{name}.json").read_text())
    med, rounds = data["median_ms"], data["rounds_ms"]
    lines = [
        f"| per step (batch {data['batch']}) | " + " | ".join(med) + " |",
        "|---" * (len(med) + 1) + "|",
        "| ms, median | " + " | ".join(f"{v:.3f}" for v in med.values()) + " |",
        "",
        "| target | a step of at most | bound | its share | fused step | its share |",
        "|---|---|---|---|---|---|",
    ]
    for t in targets(rounds):
        lines.append(
            f"| {t['target']} | {t['allowed_ms']:.3f} ms | {t['bound']}: {t['bound_ms']:.3f} ms | "
            f"**{t['bound_share']:.2f}** | {t['step_ms']:.3f} ms | {t['step_share']:.2f} |"
        )
    runs = f"{len(next(iter(rounds.values())))} interleaved rounds of {data['steps']} steps"
    return "\n".join(lines) + f"\n\nMedians of {runs}. Measured on {_machine(data['machine'])}.\n"


def render(name: str) -> str:
    if name.startswith("step-bound"):
        return step_bound_table(name)
    if name == "iwae-paper":
        return iwae_paper_table(name)
    if name.startswith("tiny"):
        return tiny_table(name)
    if name.startswith("smile"):
        return smile_table(name)
    if name.startswith("mgvq-priors"):
        return mgvq_priors_table(name)
    if name.startswith("mgvq"):
        return mgvq_table(name)
    if name.startswith("generation"):
        return generation_table(name)
    if name.startswith("grid"):
        return grid_table(name)
    if name.startswith("study"):
        return study_table(name)
    if name == "results":
        return results_table()
    if name.startswith("video"):
        return video_table(name)
    return tokens1d_table(name) if name.startswith("tokens1d") else bench_table(name)


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
