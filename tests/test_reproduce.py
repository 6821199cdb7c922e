"""``keras-transformer reproduce``: a named recipe trained, scored once and written to a results file."""

import importlib.util
import json
from pathlib import Path

import pytest

from keras_transformer.data.samples import write_imdb_folder
from keras_transformer_cli import reproduce as reproducing

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("results_tables", ROOT / "tools" / "results_tables.py")
tables = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tables)


@pytest.fixture(scope="module")
def shortened(tmp_path_factory):
    """``imdb-bigram`` (10 epochs) shortened to 1 epoch, on a tiny generated IMDB folder."""
    tmp = tmp_path_factory.mktemp("reproduce")
    data = write_imdb_folder(tmp / "imdb", train_per_class=40, test_per_class=20, seed=3)
    argv = ["imdb-bigram", "--data-dir", str(data), "--output-dir", str(tmp / "run"),
            "--results-dir", str(tmp / "results"), "--epochs", "1"]
    assert reproducing.main(argv) == 0
    return tmp, json.loads((tmp / "results" / "imdb-bigram.json").read_text())


def test_a_shortened_run_writes_its_results_file_and_says_it_was_shortened(shortened):
    tmp, record = shortened
    assert record["recipe"] == "imdb-bigram" and record["model"] == "bigram"
    assert record["shortened"] == {"epochs": 1, "recipe_epochs": 10}
    assert record["training"]["epochs_run"] == 1 and record["settings"]["epochs"] == 1
    measures = record["measures"]
    assert measures["test_reviews"] == 40 and 0 <= measures["test_accuracy"] <= 1
    # Exact counts: an accuracy over 40 reviews is a whole number of them.
    assert abs(measures["test_accuracy"] * 40 - round(measures["test_accuracy"] * 40)) < 1e-6
    assert record["machine"]["cores"] >= 1 and record["machine"]["load_average"]["samples"] >= 1
    assert record["versions"]["keras"] and record["date"] and record["commit"] is not None
    assert "--epochs 1" in record["command"] and record["command"].startswith("python -m keras_transformer_cli.reproduce")
    # The tables label the row: a shortened run never passes for the recipe's full length.
    row = tables.readme_table({"imdb-bigram": record}).splitlines()[-1]
    assert "1 of 10, shortened (best 1)" in row
    assert "1 of 10, shortened (1)" in tables.imdb_table({"imdb-bigram": record})


def test_the_command_rerun_after_a_kill_in_scoring_scores_the_trained_model_again(shortened):
    tmp, first = shortened
    (tmp / "run" / "results.json").unlink()  # killed after training, before the results were written
    argv = ["imdb-bigram", "--data-dir", str(tmp / "imdb" / "aclImdb"), "--output-dir", str(tmp / "run"),
            "--results-dir", str(tmp / "again"), "--epochs", "1"]
    assert reproducing.main(argv) == 0
    again = json.loads((tmp / "again" / "imdb-bigram.json").read_text())
    assert again["resumed"] and again["measures"] == first["measures"]


def test_the_full_length_is_not_labelled_shortened():
    record = {"training": {"epochs_run": 10, "best_epoch": 2}, "shortened": None}
    assert tables.epochs(record) == "10 (best 2)"


def test_epochs_below_one_is_a_one_line_error(capsys):
    with pytest.raises(SystemExit) as stop:
        reproducing.main(["imdb-bigram", "--epochs", "0"])
    assert stop.value.code == 2 and "--epochs must be at least 1" in capsys.readouterr().err
