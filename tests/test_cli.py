"""The keras-transformer command: the same outputs as the Python objects, bad input handled.

Most tests call ``cli.main(argv)`` in this process (fast); the rest run the
installed console script, or its launcher module ``keras_transformer_cli``,
in a fresh process, as a user would: help and every argument or path error
answer without importing TensorFlow, and no TensorFlow/absl log line reaches
standard error.
"""

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).parent))
from tiny_models import (  # noqa: E402
    LENGTH,
    REVIEWS,
    SENTENCES,
    finish,
    reference_translations,
    tiny_classifier,
    tiny_translator,
)

import keras_transformer_cli  # noqa: E402
from keras_transformer_cli import run as cli  # noqa: E402

# A line of TensorFlow's C++ (absl) log: "I0000 00:00:...", or its banners.
NATIVE_LOG = re.compile(r"^[IWEF]\d{4} |absl|cuda|onednn", re.IGNORECASE)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Saved tiny models and what their Python objects give: the CLI must agree."""
    root = tmp_path_factory.mktemp("cli_models")
    translator = tiny_translator()
    translator.save(root / "translator")
    raw, bare, _ = tiny_classifier()
    raw.save(root / "imdb.keras")
    bare.save(root / "token_ids.keras")  # a classifier without its vectorizer
    return {
        "root": root,
        "translator": root / "translator",
        "classifier": root / "imdb.keras",
        "translations": reference_translations(translator, SENTENCES),
        "probabilities": np.asarray(raw(tf.constant(REVIEWS))).reshape(-1),
    }


class FakeStdin:
    """A piped standard input holding ``data`` bytes."""

    def __init__(self, data):
        self.buffer = io.BytesIO(data)

    def isatty(self):
        return False


def run_cli(capsys, monkeypatch, argv, stdin=None):
    """``(status, stdout lines, stderr lines)`` of ``keras-transformer argv``."""
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", FakeStdin(stdin))
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out.splitlines(), err.splitlines()


def parse_classified(lines):
    labels, probabilities = zip(*(line.split("\t") for line in lines))
    return list(labels), np.array([float(p) for p in probabilities])


# ---- the console script, in a fresh process --------------------------------


def start_user_process(command, stdin=None):
    """:func:`tiny_models.start`, in a user's environment: no ``TF_CPP_MIN_LOG_LEVEL`` set."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", keras_transformer_cli.NATIVE_LOG_VARIABLE)}
    return subprocess.Popen(
        command, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    ), stdin


def test_console_script_runs_with_only_its_own_lines_on_stderr(models, tmp_path):
    """Real translate, classify and export runs: no TensorFlow/absl log line, ours all there."""
    script = shutil.which("keras-transformer") or pytest.skip("console script not installed (pip install -e .)")
    piped = b"Red green blue.\nGray \xff black.\n\n"
    translate = start_user_process([script, "translate", "--model", str(models["translator"])], stdin=piped)
    classify = start_user_process([script, "classify", "--model", str(models["classifier"]), *REVIEWS])
    target = tmp_path / "imdb"
    export = start_user_process([script, "export", "--model", str(models["classifier"]), "--to", str(target)])
    missing = start_user_process([script, "classify", "--model", str(models["root"] / "nope.keras"), "great"])

    # A missing model: exactly one line on standard error, exit status 2.
    status, out, err = finish(missing)
    assert (status, out) == (2, "") and err.splitlines() == [
        f"keras-transformer: error: no such file or folder: {str(models['root'] / 'nope.keras')!r}; "
        "pass a translator folder, a classifier .keras file or an exported SavedModel folder"
    ], err

    status, out, err = finish(classify)
    assert status == 0, err[-2000:]
    np.testing.assert_allclose(parse_classified(out.splitlines())[1], models["probabilities"], atol=5e-5)
    assert err.splitlines() == [  # the program's own warning still reaches stderr, nothing else
        "keras-transformer: warning: argument 5: 30 tokens, longer than the model's "
        "sequence length 12; only the first 12 are used"
    ]

    status, out, err = finish(export)
    assert status == 0 and out.startswith(f"wrote {target} (serving_default:"), err[-2000:]
    assert err == "" and (target / "saved_model.pb").exists()

    status, out, err = finish(translate)
    assert not [line for line in err.splitlines() if NATIVE_LOG.search(line)], err
    assert status == 0, err[-2000:]
    assert err.splitlines() == [
        "keras-transformer: warning: line 2: invalid UTF-8 (byte b'\\xff' at 5) replaced with U+FFFD"
    ]
    lines = out.splitlines()
    assert len(lines) == 3 and lines[0] == models["translations"][0] and lines[2] == ""


# Runs the launcher as the console script does; then which heavy modules got imported.
PROBE = """
import json, sys
import keras_transformer_cli
try:
    status = keras_transformer_cli.main(sys.argv[1:])
except SystemExit as exit:
    status = exit.code
heavy = [name for name in ("tensorflow", "keras", "keras_transformer", "numpy") if name in sys.modules]
print(json.dumps({"status": status, "heavy": heavy}))
"""


def test_help_and_argument_and_path_errors_answer_without_importing_tensorflow(tmp_path):
    """The launcher answers these before importing TensorFlow (which takes seconds)."""
    notes = tmp_path / "notes.txt"
    notes.write_text("not a model")
    empty = tmp_path / "empty"
    empty.mkdir()
    translator = tmp_path / "translator"  # the file system is all the launcher looks at
    translator.mkdir()
    (translator / "translator.json").write_text("{}")
    saved = tmp_path / "saved"
    saved.mkdir()
    (saved / "saved_model.pb").write_bytes(b"")
    missing = tmp_path / "missing.keras"
    out_dir = str(tmp_path / "out")
    cases = [  # (argv, exit status, stderr lines: None for argparse's usage + error)
        (["--help"], 0, 0),
        (["translate", "--help"], 0, 0),
        (["classify", "--help"], 0, 0),
        (["export", "--help"], 0, 0),
        ([], 2, None),
        (["frobnicate"], 2, None),
        (["translate", "--model", str(missing), "--batch-size", "0", "x"], 2, None),
        (["classify", "--model", str(missing), "--threshold", "high", "x"], 2, None),
        (["export", "--model", str(missing)], 2, None),
        (["classify", "--model", str(missing), "x"], 2, 1),
        (["translate", "--model", str(missing), "x"], 2, 1),
        (["export", "--model", str(missing), "--to", out_dir], 2, 1),
        (["translate", "--model", str(notes), "x"], 2, 1),
        (["classify", "--model", str(empty), "x"], 2, 1),
        (["classify", "--model", str(translator), "x"], 2, 1),
        (["export", "--model", str(saved), "--to", out_dir], 2, 1),
        (["export", "--model", str(translator), "--to", str(notes)], 1, 1),
    ]
    started = [
        (argv, code, lines, start_user_process([sys.executable, "-c", PROBE, *argv]))
        for argv, code, lines in cases
    ]
    for argv, code, lines, process in started:
        status, out, err = finish(process, timeout=60)
        assert status == 0, (argv, err)
        result = json.loads(out.strip().splitlines()[-1])
        assert result == {"status": code, "heavy": []}, (argv, result, err)
        if lines is None:  # argparse: its usage, then one error line
            assert err.splitlines()[-1].startswith("keras-transformer") and ": error: " in err, (argv, err)
        else:
            assert len(err.splitlines()) == lines, (argv, err)
            assert lines == 0 or err.startswith("keras-transformer: error: "), (argv, err)
        if argv[-1:] == ["--help"]:
            assert out.startswith("usage: keras-transformer"), (argv, out)
    # One parser and one set of checks, shared by the launcher and keras_transformer_cli.run.
    assert cli.build_parser is keras_transformer_cli.build_parser
    assert cli.CommandError is keras_transformer_cli.CommandError


# ---- translate ---------------------------------------------------------------


def test_translate_arguments_gives_the_decoders_translations_one_warning_for_long_input(
    models, capsys, monkeypatch
):
    status, out, err = run_cli(capsys, monkeypatch, ["translate", "--model", models["translator"], *SENTENCES])
    assert status == 0
    # Empty, whitespace-only and "?!" give empty lines; accents, non-Latin and emoji pass.
    assert out == models["translations"]
    long_warnings = [line for line in err if "longer than" in line]
    assert long_warnings == [
        f"keras-transformer: warning: argument 6: 11 tokens, longer than the model's "
        f"sequence length {LENGTH}; only the first {LENGTH} are used"
    ]


def test_translate_standard_input_batched_with_progress_and_invalid_utf8(models, capsys, monkeypatch):
    lines = [s.encode("utf-8") for s in SENTENCES]
    lines[1] = b"Gray \xc3\x28 black."  # invalid UTF-8 on line 2
    status, out, err = run_cli(
        capsys, monkeypatch, ["translate", "--model", models["translator"], "--batch-size", "4"],
        stdin=b"\n".join(lines) + b"\n",
    )
    assert status == 0
    assert len(out) == len(SENTENCES)  # one line out per line in, in order
    assert out[0] == models["translations"][0] and out[2:] == models["translations"][2:]
    assert "keras-transformer: warning: line 2: invalid UTF-8 (byte b'\\xc3' at 5) replaced with U+FFFD" in err
    assert any("longer than" in line and "line 6" in line for line in err)
    assert [line for line in err if line.startswith("translated")][-1].startswith(
        f"translated {len(SENTENCES)}/{len(SENTENCES)}"
    )


def test_empty_standard_input_gives_empty_output(models, capsys, monkeypatch):
    for command, model in (("translate", "translator"), ("classify", "classifier")):
        status, out, err = run_cli(capsys, monkeypatch, [command, "--model", models[model]], stdin=b"")
        assert (status, out, err) == (0, [], [])


# ---- classify ----------------------------------------------------------------


def test_classify_prints_label_tab_probability_of_the_keras_model(models, capsys, monkeypatch):
    status, out, err = run_cli(capsys, monkeypatch, ["classify", "--model", models["classifier"], *REVIEWS])
    assert status == 0
    labels, probabilities = parse_classified(out)
    np.testing.assert_allclose(probabilities, models["probabilities"], rtol=0, atol=5e-5)
    assert labels == ["positive" if p >= 0.5 else "negative" for p in models["probabilities"]]
    assert [line for line in err if "longer than" in line] == [
        "keras-transformer: warning: argument 5: 30 tokens, longer than the model's "
        "sequence length 12; only the first 12 are used"
    ]


# ---- export ------------------------------------------------------------------


def test_export_command_writes_savedmodels_the_cli_serves_identically(models, capsys, monkeypatch, tmp_path):
    for model, command, texts in (
        ("translator", "translate", SENTENCES),
        ("classifier", "classify", REVIEWS),
    ):
        target = tmp_path / model
        status, out, err = run_cli(capsys, monkeypatch, ["export", "--model", models[model], "--to", target])
        assert status == 0, err
        assert out == [line for line in out if line.startswith(f"wrote {target} (serving_default: text tf.string")]
        status, out, err = run_cli(capsys, monkeypatch, [command, "--model", target, *texts])
        assert status == 0, err
        if model == "translator":
            assert out == models["translations"]
        else:
            np.testing.assert_allclose(parse_classified(out)[1], models["probabilities"], atol=5e-5)
    # A second export to the same folder needs --overwrite.
    status, out, err = run_cli(capsys, monkeypatch, ["export", "--model", models["classifier"], "--to", tmp_path / "classifier"])
    assert status == 1 and err == [
        f"keras-transformer: error: --to {str(tmp_path / 'classifier')!r} exists and is not empty; "
        "pass --overwrite to replace it"
    ]


# ---- errors --------------------------------------------------------------------


def test_help_on_every_command(capsys):
    for argv in ([], ["translate"], ["classify"], ["export"]):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv + ["--help"])
        assert exit_info.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: keras-transformer")
        assert "--model" in out or argv == []


def test_missing_or_non_model_paths_are_one_line_errors_with_status_2(models, capsys, monkeypatch, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a model")
    fake = tmp_path / "fake.keras"
    fake.write_bytes(b"PK\x03\x04 not really a zip")
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    cases = {
        tmp_path / "missing": "no such file or folder",
        notes: "is not a model (a file that is not a .keras archive)",
        fake: "is not a model (keras cannot load it",
        empty_dir: "is not a model (a folder without translator.json or saved_model.pb)",
    }
    for path, message in cases.items():
        for command in ("translate", "classify", "export"):
            argv = [command, "--model", path] + (["--to", tmp_path / "out"] if command == "export" else ["x"])
            status, out, err = run_cli(capsys, monkeypatch, argv)
            assert status == 2 and out == [], (path, command)
            assert len(err) == 1 and err[0].startswith("keras-transformer: error: "), err
            assert message in err[0] and str(path) in err[0]
    status, _, err = run_cli(capsys, monkeypatch, ["classify", "--model", models["root"] / "token_ids.keras", "x"])
    assert status == 2 and len(err) == 1 and "is a model of token ids, not of raw text; save end_to_end(" in err[0]
    # The wrong kind of model for the command: also status 2, one line.
    status, _, err = run_cli(capsys, monkeypatch, ["classify", "--model", models["translator"], "x"])
    assert status == 2 and err == [
        f"keras-transformer: error: {str(models['translator'])!r} is a translator; "
        "use `keras-transformer translate` for it"
    ]


def test_bad_options_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["translate", "--model", "m", "--batch-size", "0", "x"])
    assert exit_info.value.code == 2
    assert "'0' is not a positive integer" in capsys.readouterr().err


def test_reproduce_refuses_fewer_than_one_epoch_in_one_line(capsys, monkeypatch):
    status, out, err = run_cli(capsys, monkeypatch, ["reproduce", "imdb-bigram", "--epochs", "0"])
    assert status == 2 and out == [] and len(err) == 1 and "--epochs must be at least 1" in err[0]
