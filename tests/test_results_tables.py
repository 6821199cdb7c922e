"""The README's and docs/results.md's tables are the results files, not numbers typed by hand."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("results_tables", ROOT / "tools" / "results_tables.py")
tables = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tables)

RECORDS = sorted((ROOT / "results").glob("*.json"))


def test_readme_and_docs_tables_agree_with_the_results_files(capsys):
    assert tables.main(["--check"]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("path", RECORDS, ids=[p.stem for p in RECORDS])
def test_every_results_file_says_what_ran_where_and_counts_exactly(path):
    record = json.loads(path.read_text())
    from keras_transformer import recipes

    assert path.stem.split("@")[0] == record["recipe"] and record["recipe"] in recipes.names()
    assert record["commit"] and record["date"] and record["command"] and record["versions"]["keras"]
    assert record["machine"]["cpu"] and record["machine"]["cores"] >= 1
    measures = record["measures"]
    if record["chapter"] == "imdb":
        assert measures["test_reviews"] == 25000 and 0.5 < measures["test_accuracy"] <= 1
    else:
        assert measures["test_pairs"] == 17844 and measures["validation_pairs"] == 17844
        assert 0 < measures["validation_a"] <= 1 and 0 <= measures["bleu_raw"] <= 100


def test_a_row_shows_the_files_numbers_and_the_book_beside_them():
    record = {
        "recipe": "translation-fast", "chapter": "translation", "model": "transformer",
        "settings": {"clock_every": 160}, "book": {"figure": 0.67, "measure": "validation accuracy (a)", "epochs": 30},
        "measures": {"validation_a": 0.69337, "test_a": 0.6928, "test_b": 0.6494, "bleu_raw": 17.29, "chrf_raw": 47.66,
                     "bleu_raw_unseen": 17.57, "chrf_raw_unseen": 47.89, "bleu_prepared": 31.65, "chrf_prepared": 53.5,
                     "unk_share": 0.179, "decoding": "greedy"},
        "training": {"epochs_run": 2, "best_epoch": 2, "train_seconds": 299.0,
                     "time_to_book": {"train_seconds": 250.0}},
        "machine": {"cpu": "AMD EPYC", "cores": 2, "gpus": [], "load_average": {"mean": 2.04}},
        "date": "2026-12-04T17:00:00+00:00", "commit": "abc", "command": "keras-transformer reproduce translation-fast",
        "versions": {"keras": "3.15.1"},
    }
    row = tables.translation_table({"translation-fast": record}).splitlines()[-1]
    for text in ("67.00%", "**69.34%**", "69.28%", "64.94%", "17.29 / 47.66", "31.65 / 53.50", "17.90%", "5.0 min",
                 "4.2 min", "2-core AMD EPYC, load 2.0, 2026-12-04"):
        assert text in row
    readme = tables.render("a\n<!-- results:readme -->\nold\n<!-- /results:readme -->\nb", {"translation-fast": record})
    assert "old" not in readme and "**69.34%** validation (a)" in readme and readme.endswith("b")


def test_the_docs_stay_within_their_budgets():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150
    for doc in ("docs/results.md", "docs/benchmarks.md"):
        assert len((ROOT / doc).read_text().split()) <= 1500, doc
