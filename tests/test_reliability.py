"""Kill-and-resume, bit-identical reruns, and a NaN loss that stops cleanly."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import keras

WORKER = str(Path(__file__).with_name("tiny_training.py"))
pytestmark = pytest.mark.skipif(
    os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow", reason="deterministic TF ops"
)


def train(output_dir, *extra, timeout=900):
    result = subprocess.run(
        [sys.executable, WORKER, str(output_dir), *extra], capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def weights(output_dir):
    with np.load(Path(output_dir) / "final.npz") as data:
        return [data[k] for k in sorted(data.files, key=lambda k: int(k.split("_")[1]))]


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


def test_sigkill_mid_epoch_then_rerun_resumes_and_matches_uninterrupted(uninterrupted, tmp_path):
    command = [sys.executable, WORKER, str(tmp_path), "--epochs", "4", "--batch-sleep", "0.05"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while epochs_logged(tmp_path) < 2 and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # into the third epoch (12 batches of 0.05 s each)
    assert process.poll() is None, "training finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert epochs_logged(tmp_path) == 2
    assert (tmp_path / "resume").exists() and not (tmp_path / "final.npz").exists()

    result = train(tmp_path, "--epochs", "4")
    # The rerun did only the two missing epochs, restoring weights and optimizer state.
    assert "epochs in this process: 2" in result.stdout
    assert epochs_logged(tmp_path) == 4
    for a, b in zip(weights(uninterrupted), weights(tmp_path)):
        np.testing.assert_array_equal(a, b)
    assert not (tmp_path / "resume").exists()  # cleaned up after a finished run


def test_nan_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(tmp_path):
    result = train(tmp_path, "--epochs", "5", "--nan-at-epoch", "3")
    assert "Training stopped: the loss became nan" in result.stderr
    assert "best checkpoint" in result.stderr and "is intact" in result.stderr
    import keras_transformer  # noqa: F401  (registers the layers for loading)

    best = keras.saving.load_model(tmp_path / "best.keras")
    assert all(np.all(np.isfinite(w)) for w in best.get_weights())
    assert "epochs in this process: 3" in result.stdout
