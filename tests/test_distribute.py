"""The real tf.distribute engines on one machine: two logical CPUs, two worker processes."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from keras_transformer.training.distribute import global_batch_size, is_chief, make_strategy, worker_output_dir

WORKER = str(Path(__file__).with_name("distributed_worker.py"))
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow", reason="tf.distribute engines"
)]


def run_worker(mode, out, env=None, timeout=300):
    return subprocess.Popen(
        [sys.executable, WORKER, mode, str(out)],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process, timeout=300):
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        pytest.fail(f"worker did not finish in {timeout}s:\n{stderr[-3000:]}")
    assert process.returncode == 0, stderr[-3000:]
    return stdout


def load(path):
    data = np.load(path)
    weights = [data[f"w{i}"] for i in range(len([k for k in data.files if k.startswith("w")]))]
    return data, weights


def test_mirrored_over_two_cpus_trains_like_one_device(tmp_path):
    single = run_worker("single", tmp_path / "single.npz")
    finish(single)
    mirrored = run_worker("mirrored", tmp_path / "mirrored.npz")
    finish(mirrored)
    one, one_weights = load(tmp_path / "single.npz")
    two, two_weights = load(tmp_path / "mirrored.npz")
    assert int(two["replicas"]) == 2
    # Same global batches, same initial weights, plain SGD, no target padding
    # (see the worker): the replicas' averaged gradient is the full-batch
    # gradient up to float32 summation order (~1e-7 relative per step). 1e-4
    # leaves room for that to compound over 24 steps yet fails for a
    # mis-scaled gradient (summed instead of averaged doubles the step), which
    # moves the loss by percent.
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-4)
    for a, b in zip(one_weights, two_weights):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_multi_worker_processes_on_loopback_agree(tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    workers = [
        run_worker(
            "multi-worker",
            tmp_path / f"worker{i}.npz",
            env={"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})},
        )
        for i in range(2)
    ]
    try:
        for w in workers:
            finish(w, timeout=300)
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    first, first_weights = load(tmp_path / "worker0.npz")
    second, second_weights = load(tmp_path / "worker1.npz")
    assert int(first["replicas"]) == 2
    assert np.all(np.isfinite(first["loss"])) and first["loss"][-1] < first["loss"][0]
    for a, b in zip(first_weights, second_weights):
        np.testing.assert_array_equal(a, b)


def test_chief_and_scratch_dirs(monkeypatch, tmp_path):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert is_chief() and worker_output_dir(tmp_path) == tmp_path
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}}))
    assert not is_chief()
    assert worker_output_dir(tmp_path).endswith(".worker-worker-1")
    strategy = make_strategy("default")
    assert global_batch_size(64, strategy) == 64
    with pytest.raises(ValueError, match="strategy must be one of"):
        make_strategy("horovod")
