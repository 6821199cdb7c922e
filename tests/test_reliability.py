"""Kill-and-resume, bit-identical reruns, and a NaN loss that stops cleanly."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import keras

WORKER = str(Path(__file__).with_name("tiny_training.py"))
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow", reason="deterministic TF ops"
)]


def train(output_dir, *extra, timeout=900):
    result = subprocess.run(
        [sys.executable, WORKER, str(output_dir), *extra], capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def weights(output_dir):
    with np.load(Path(output_dir) / "final.npz") as data:
        return [data[k] for k in sorted(data.files, key=lambda k: int(k.split("_")[1]))]


def backed_up_epochs(output_dir):
    """Epochs the resume backup holds (Keras's BackupAndRestore metadata), 0 before the first."""
    try:
        return json.loads((Path(output_dir) / "resume" / "training_metadata.json").read_text())["epoch"]
    except (OSError, ValueError, KeyError):
        return 0


def epochs_logged(output_dir):
    path = Path(output_dir) / "history.csv"
    return max(len(path.read_text().splitlines()) - 1, 0) if path.exists() else 0


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    train(out, "--epochs", "4")
    return out


def test_two_runs_with_the_same_seed_are_bit_identical(uninterrupted, tmp_path):
    train(tmp_path, "--epochs", "4")
    for a, b in zip(weights(uninterrupted), weights(tmp_path)):
        np.testing.assert_array_equal(a, b)


def _start(output_dir, *extra):
    return subprocess.Popen([sys.executable, WORKER, str(output_dir), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _kill(process):
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def _wait_for(condition, process, seconds=240):
    deadline = time.time() + seconds
    while not condition() and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)


def _same_weights(a, b):
    for x, y in zip(weights(a), weights(b)):
        np.testing.assert_array_equal(x, y)


def _results(output_dir):
    return json.loads((Path(output_dir) / "results.json").read_text())


def test_sigkill_mid_epoch_then_rerun_resumes_and_matches_uninterrupted(uninterrupted, tmp_path):
    process = _start(tmp_path, "--epochs", "4", "--batch-sleep", "0.05")
    # Two epochs logged and backed up (the backup comes last: a kill before it retrains the epoch).
    _wait_for(lambda: epochs_logged(tmp_path) >= 2 and backed_up_epochs(tmp_path) >= 2, process)
    time.sleep(0.3)  # into the third epoch (12 batches of 0.05 s each)
    assert process.poll() is None, "training finished before it could be killed"
    _kill(process)
    assert epochs_logged(tmp_path) == 2
    assert (tmp_path / "resume").exists() and not (tmp_path / "final.npz").exists()

    result = train(tmp_path, "--epochs", "4")
    # The rerun did only the two missing epochs, with the shuffle orders, dropout
    # draws, weights and optimizer state of the uninterrupted run.
    assert "epochs in this process: 2" in result.stdout
    assert epochs_logged(tmp_path) == 4
    _same_weights(uninterrupted, tmp_path)
    assert _results(tmp_path)["training"]["epochs_run"] == 4
    assert not (tmp_path / "resume").exists()  # cleaned up after a finished run


def test_sigkill_during_evaluation_then_rerun_only_evaluates(uninterrupted, tmp_path):
    process = _start(tmp_path, "--epochs", "4", "--eval-sleep", "0.5")
    _wait_for(lambda: (tmp_path / "trained.json").exists(), process)
    time.sleep(0.5)  # inside the test split's evaluation (4 batches of 0.5 s)
    assert process.poll() is None, "the run finished before it could be killed"
    _kill(process)
    assert not (tmp_path / "results.json").exists() and epochs_logged(tmp_path) == 4

    result = train(tmp_path, "--epochs", "4")
    assert "epochs in this process: 0" in result.stdout  # nothing retrained
    assert epochs_logged(tmp_path) == 4 and _results(tmp_path)["training"]["epochs_run"] == 4
    assert _results(tmp_path)["resumed"] is True
    _same_weights(uninterrupted, tmp_path)


@pytest.mark.slow
def test_six_sigkills_at_random_moments_then_one_rerun_finishes_the_same_run(uninterrupted, tmp_path):
    rng = random.Random(7)
    for _ in range(6):
        process = _start(tmp_path, "--epochs", "4", "--batch-sleep", "0.02", "--eval-sleep", "0.2")
        # Python, TensorFlow and the model take a few seconds to start; kill anywhere after that.
        time.sleep(rng.uniform(4.0, 14.0))
        if process.poll() is None:
            _kill(process)
        if (tmp_path / "results.json").exists():
            break
        # Whatever the moment, every file is whole: the history parses and has no repeated epoch.
        if (tmp_path / "history.csv").exists():
            epochs = [row.split(",")[0] for row in (tmp_path / "history.csv").read_text().splitlines()[1:]]
            assert epochs == [str(e) for e in range(len(epochs))]
    train(tmp_path, "--epochs", "4")
    assert epochs_logged(tmp_path) == 4 and _results(tmp_path)["training"]["epochs_run"] == 4
    _same_weights(uninterrupted, tmp_path)
    assert not list(tmp_path.glob(".partial-*"))


def test_nan_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(tmp_path):
    result = train(tmp_path, "--epochs", "5", "--nan-at-epoch", "3")
    assert "Training stopped: the loss became nan" in result.stderr
    assert "best checkpoint" in result.stderr and "is intact" in result.stderr
    import keras_transformer  # noqa: F401  (registers the layers for loading)

    best = keras.saving.load_model(tmp_path / "best.keras")
    assert all(np.all(np.isfinite(w)) for w in best.get_weights())
    assert "epochs in this process: 3" in result.stdout
