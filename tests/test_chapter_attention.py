import subprocess
import sys
from pathlib import Path

CHAPTERS = Path(__file__).resolve().parents[1] / "chapters"
sys.path.insert(0, str(CHAPTERS))

import ch11_attention  # noqa: E402


def test_walkthrough_prints_every_step_with_shapes_and_saves_heatmap(tmp_path, capsys):
    png = tmp_path / "weights.png"
    ch11_attention.main(["--sentence", "a b c d", "--heads", "2", "--output", str(png)])
    out = capsys.readouterr().out
    assert "scores" in out and "shape=(4, 4)" in out
    assert "weights = softmax" in out and "output = weights" in out
    assert "one head over the full 8-d projections: output shape (4, 8)" in out
    assert "2 heads concatenated: output shape (4, 8)" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_help_and_bad_options():
    script = str(CHAPTERS / "ch11_attention.py")
    result = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "--sentence" in result.stdout
    result = subprocess.run([sys.executable, script, "--heads", "3"], capture_output=True, text=True)
    assert result.returncode == 2 and "divisible" in result.stderr
