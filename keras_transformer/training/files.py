"""The files a training run writes, each whole or not at all, and what they record.

`replace_atomically` writes beside the target and renames: a kill leaves the
old file or the new one, never half of one. `history.csv` and `curves.png`
hold a run's epochs; `machine()` says where a result was measured.

    write_json("output/run/results.json", {"test": {"accuracy": 0.89}})
    plot_history(read_history_csv("output/run/history.csv"), "output/run/curves.png")
"""

import csv
import json
import os
import platform
import shutil
from pathlib import Path

import keras


def replace_atomically(path, write):
    """Call `write(partial_path)`, then rename the result onto `path`.

    A kill leaves either the old file or the new one, never half of one.
    Works for files and folders (a folder's old copy is removed first).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".partial-{path.stem}{path.suffix}")
    remove_path(partial)
    try:
        write(partial)
    except BaseException:  # a failed or interrupted write leaves the old file and nothing beside it
        remove_path(partial)
        raise
    if partial.is_dir() and path.exists():
        old = path.with_name(f".old-{path.name}")
        remove_path(old)
        os.replace(path, old)
        os.replace(partial, path)
        remove_path(old)
    else:
        os.replace(partial, path)
    return path


def remove_path(path):
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def write_json(path, data):
    """Write a JSON file atomically."""
    return replace_atomically(path, lambda p: p.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n"))


def save_model(model, path):
    """`model.save(path)` (a `.keras` file), atomically."""
    return replace_atomically(path, lambda p: model.save(p))


def read_history_csv(path):
    """The run's history from `history.csv`, as `History.history`; `NA` entries left out."""
    history = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key != "epoch" and value not in ("NA", ""):
                    history.setdefault(key, []).append(float(value))
    return history


def plot_history(history, path, metric="accuracy", title=None):
    """Training and validation curves, as the book plots them, to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, name in zip(axes, ("loss", metric)):
        if name not in history:
            ax.set_visible(False)
            continue
        epochs = range(1, len(history[name]) + 1)
        ax.plot(epochs, history[name], "bo-", label=f"training {name}")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], "r.-", label=f"validation {name}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    replace_atomically(path, lambda p: fig.savefig(p, dpi=100, format="png"))
    plt.close(fig)


def machine():
    """The machine and versions a result was measured with."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    info = {"cpu": cpu, "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "keras": keras.__version__, "backend": keras.backend.backend()}
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        info.update(tensorflow=tf.__version__, gpus=[d.name for d in tf.config.list_physical_devices("GPU")])
    elif keras.backend.backend() == "jax":
        import jax

        info.update(jax=jax.__version__, gpus=[d.device_kind for d in jax.devices() if d.platform == "gpu"])
    return info
