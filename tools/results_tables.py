#!/usr/bin/env python
"""Write the results tables of README.md and docs/results.md from the committed results/*.json.

Every figure in those tables comes from a file that ``keras-transformer reproduce RECIPE``
wrote; nothing is typed by hand. The tables sit between marker comments
(``<!-- results:NAME -->`` ... ``<!-- /results:NAME -->``) and are rewritten in place::

    python tools/results_tables.py           # rewrite the tables
    python tools/results_tables.py --check   # exit 1 if a table differs from the files (a test runs this)

Standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = {"README.md": ("readme",), "docs/results.md": ("imdb", "translation", "runs")}


def load(results_dir):
    """``{recipe: record}`` of every ``results/*.json`` (``RECIPE@MACHINE.json`` under that name)."""
    found = {}
    for path in sorted(Path(results_dir).glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        found[path.stem] = record
    return found


def pct(value):
    return "–" if value is None else f"{100 * value:.2f}%"


def num(value):
    return "–" if value is None else f"{value:.2f}"


def minutes(seconds):
    return "–" if seconds is None else f"{seconds / 60:.1f} min"


def machine(record):
    m = record["machine"]
    where = ", ".join(m["gpus"]) if m.get("gpus") else f"{m['cores']}-core {m['cpu']}"
    load = (m.get("load_average") or {}).get("mean")
    return where + ("" if load is None else f", load {load:.1f}") + f", {record['date'][:10]}"


def book_label(record):
    figure, measure = record["book"]["figure"], record["book"]["measure"]
    epochs = record["book"]["epochs"]
    return "–" if figure is None else f"{100 * figure:g}% {measure.split()[0]} ({epochs} epochs)"


def epochs(record, best="best "):
    """``"2 (best 2)"``; a shortened run says so: ``"3 of 20, shortened (best 3)"``."""
    t, short = record["training"], record.get("shortened")
    run = f"{t['epochs_run']}" if not short else f"{t['epochs_run']} of {short['recipe_epochs']}, shortened"
    return f"{run} ({best}{t['best_epoch']})"


def time_to_book(record):
    reached = record["training"].get("time_to_book")
    return "not reached" if record["settings"].get("clock_every") and not reached else (
        "–" if not reached else minutes(reached["train_seconds"]))


def readme_table(records):
    rows = ["| chapter model, recipe | the book | this package | epochs | training | validation sample at the book's figure | machine |",
            "|---|---|---|---|---|---|---|"]
    for name, r in records.items():
        m, t = r["measures"], r["training"]
        if r["chapter"] == "imdb":
            ours = f"**{pct(m['test_accuracy'])}** test (validation {pct(m['validation_accuracy'])})"
        else:
            ours = (f"**{pct(m['validation_a'])}** validation (a), {pct(m['test_a'])} test (a); "
                    f"BLEU {num(m['bleu_raw'])} raw / {num(m['bleu_prepared'])} prepared")
        rows.append(f"| `{r['model']}`, [`{name}`](docs/results.md#{r['chapter']}) | {book_label(r)} | {ours} "
                    f"| {epochs(r)} | {minutes(t['train_seconds'])} "
                    f"| {time_to_book(r)} | {machine(r)} |")
    return "\n".join(rows)


def imdb_table(records):
    rows = ["| recipe | model | book (test) | validation | test | epochs (best) | training | to the book's figure | machine | commit |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in records.items():
        if r["chapter"] != "imdb":
            continue
        m, t = r["measures"], r["training"]
        rows.append(f"| `{name}` | `{r['model']}` | {pct(r['book']['figure'])} | {pct(m['validation_accuracy'])} "
                    f"| **{pct(m['test_accuracy'])}** | {epochs(r, best='')} "
                    f"| {minutes(t['train_seconds'])} | {time_to_book(r)} | {machine(r)} | {r['commit']} |")
    return "\n".join(rows)


def translation_table(records):
    rows = ["| recipe | model | book val. (a) | val. (a) | test (a) | test (b) | BLEU / chrF raw | BLEU / chrF raw, unseen "
            "| BLEU / chrF prepared | `[UNK]` | decoding | epochs (best) | training | to the book's figure | machine | commit |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in records.items():
        if r["chapter"] != "translation":
            continue
        m, t = r["measures"], r["training"]
        rows.append(
            f"| `{name}` | `{r['model']}` | {pct(r['book']['figure'])} | **{pct(m['validation_a'])}** "
            f"| {pct(m['test_a'])} | {pct(m['test_b'])} | {num(m['bleu_raw'])} / {num(m['chrf_raw'])} "
            f"| {num(m['bleu_raw_unseen'])} / {num(m['chrf_raw_unseen'])} "
            f"| {num(m['bleu_prepared'])} / {num(m['chrf_prepared'])} | {pct(m['unk_share'])} | {m['decoding']} "
            f"| {epochs(r, best='')} | {minutes(t['train_seconds'])} | {time_to_book(r)} "
            f"| {machine(r)} | {r['commit']} |")
    return "\n".join(rows)


def runs_table(records):
    rows = ["| recipe | command | versions |", "|---|---|---|"]
    for name, r in records.items():
        v = r["versions"]
        rows.append(f"| `{name}` | `{r['command']}` | Keras {v.get('keras')}, TensorFlow {v.get('tensorflow')}, "
                    f"sacreBLEU {v.get('sacrebleu')} |")
    return "\n".join(rows)


TABLES = {"readme": readme_table, "imdb": imdb_table, "translation": translation_table, "runs": runs_table}


def render(text, records):
    """``text`` with every marked table rewritten from ``records``."""
    def replace(match):
        name = match.group(1)
        return f"<!-- results:{name} -->\n{TABLES[name](records)}\n<!-- /results:{name} -->"

    return re.sub(r"<!-- results:(\w+) -->.*?<!-- /results:\1 -->", replace, text, flags=re.S)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 naming each file that differs")
    parser.add_argument("--results-dir", default=str(ROOT / "results"), help="folder of the results files")
    args = parser.parse_args(argv)
    records = load(args.results_dir)
    stale = []
    for doc, names in DOCS.items():
        path = ROOT / doc
        text = path.read_text(encoding="utf-8")
        missing = [n for n in names if f"<!-- results:{n} -->" not in text]
        if missing:
            print(f"{doc}: no marker for table(s) {', '.join(missing)}", file=sys.stderr)
            return 1
        new = render(text, records)
        if new != text:
            stale.append(doc)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    if args.check and stale:
        print(f"tables differ from results/: {', '.join(stale)}; run python tools/results_tables.py", file=sys.stderr)
        return 1
    print(("checked " if args.check else "wrote ") + ", ".join(DOCS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
