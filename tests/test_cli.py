"""The keras-transformer command: the same outputs as the Python objects, bad input handled.

Most tests call ``cli.main(argv)`` in this process (fast); two run the
installed console script in a fresh process, as a user would.
"""

import io
import shutil
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
    start,
    tiny_classifier,
    tiny_translator,
)

from keras_transformer import cli  # noqa: E402


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


def test_console_script_translates_piped_lines_and_reports_bad_paths_in_one_line(models):
    script = shutil.which("keras-transformer") or pytest.skip("console script not installed (pip install -e .)")
    piped = b"Red green blue.\nGray \xff black.\n\n"
    translate = start([script, "translate", "--model", str(models["translator"])], stdin=piped)
    missing = start([script, "classify", "--model", str(models["root"] / "nope.keras"), "great"])

    status, out, err = finish(missing)
    ours = [line for line in err.splitlines() if line.startswith("keras-transformer")]
    assert status == 2 and "Traceback" not in err
    assert ours == [line for line in ours if "error: no such file or folder" in line] and len(ours) == 1
    assert "nope.keras" in ours[0] and out == ""

    status, out, err = finish(translate)
    assert status == 0, err[-2000:]
    assert "Traceback" not in err
    assert [l for l in err.splitlines() if "keras-transformer: warning" in l] == [
        "keras-transformer: warning: line 2: invalid UTF-8 (byte b'\\xff' at 5) replaced with U+FFFD"
    ]
    lines = out.splitlines()
    assert len(lines) == 3 and lines[0] == models["translations"][0] and lines[2] == ""


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
        notes: "is not a model (keras cannot load it",
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
