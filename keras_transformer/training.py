"""What every chapter script does around `model.fit`: options, seeds, callbacks, curves.

Keeping this in one place means the IMDB and translation scripts resume,
checkpoint, log and plot the same way.
"""

import json
import math
import os
import sys
import time
from pathlib import Path

import keras


def add_training_arguments(parser, epochs, batch_size):
    """Add the options every chapter script shares to an argparse parser."""
    parser.add_argument("--epochs", type=int, default=epochs, help=f"training epochs (default {epochs})")
    parser.add_argument(
        "--batch-size", type=int, default=batch_size, help=f"batch size (default {batch_size})"
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="local copy of the dataset: the archive or its extracted folder "
        "(default: $KERAS_TRANSFORMER_DATA_DIR, else download to the Keras cache)",
    )
    parser.add_argument(
        "--output-dir",
        default=None,
        help="where the checkpoint, resume state, results JSON, curves PNG and "
        "saved model go (default: output/<script>/<model>)",
    )
    parser.add_argument("--seed", type=int, default=1337, help="seed for every random generator (default 1337)")
    parser.add_argument(
        "--deterministic",
        action="store_true",
        help="also make TensorFlow ops deterministic (bit-identical reruns, slower)",
    )
    return parser


def add_optimizer_arguments(parser):
    """Add --optimizer, --learning-rate and --lr-schedule (see :func:`make_optimizer`)."""
    parser.add_argument(
        "--optimizer", choices=("rmsprop", "adam", "adamw"), default="rmsprop",
        help="optimizer (default rmsprop, the book's)",
    )
    parser.add_argument(
        "--learning-rate", type=float, default=None,
        help="starting learning rate (default: the optimizer's, 0.001)",
    )
    parser.add_argument(
        "--lr-schedule", choices=("constant", "cosine"), default="constant",
        help="learning rate: constant (the book's) or a cosine decay to zero over --epochs",
    )
    return parser


def count_batches(dataset):
    """Batches in one pass over a finite ``tf.data.Dataset`` (it is iterated once).

    For a cosine schedule's length: batches by length (``bucket_by_sequence_length``)
    are as many whatever the shuffle, since each bucket's size does not depend on it.
    """
    return int(dataset.reduce(0, lambda count, _: count + 1))


def set_seed(seed, deterministic=False):
    """Seed Python, NumPy and the backend; optionally make TF ops deterministic."""
    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def make_optimizer(name="rmsprop", learning_rate=None, decay_steps=None, weight_decay=None, ema_momentum=None):
    """A Keras optimizer by name, with an optional cosine decay of its rate.

    Args:
        name: any name ``keras.optimizers.get`` knows (book: ``"rmsprop"``).
        learning_rate: starting rate; None keeps the optimizer's default
            (0.001 for rmsprop and adam).
        decay_steps: if given, the rate follows a cosine from
            ``learning_rate`` (default 0.001) down to zero over this many
            steps (the book keeps it constant).
        weight_decay: decoupled weight decay (e.g. 0.01 with ``"adamw"``).
        ema_momentum: also keep a moving average of the weights with this
            momentum (swap it in with ``keras.callbacks.SwapEMAWeights``).

    Returns:
        The name itself when nothing is configured (Keras builds the default),
        else a ``keras.optimizers.Optimizer``.
    """
    if decay_steps:
        learning_rate = keras.optimizers.schedules.CosineDecay(
            1e-3 if learning_rate is None else float(learning_rate), decay_steps=int(decay_steps)
        )
    config = {}
    if learning_rate is not None:
        config["learning_rate"] = learning_rate
    if weight_decay is not None:
        config["weight_decay"] = float(weight_decay)
    if ema_momentum is not None:
        config.update(use_ema=True, ema_momentum=float(ema_momentum))
    if not config:
        return name
    return keras.optimizers.get({"class_name": name, "config": config})


def training_callbacks(output_dir, monitor="val_accuracy", mode="max"):
    """Best-checkpoint, resume-after-kill, NaN stop and a CSV log under output_dir.

    The checkpoint keeps the best epoch by `monitor` (the book keeps the best
    validation model); with ``monitor=None`` (no validation data) it keeps the
    last epoch. `BackupAndRestore` state lets a rerun of the same
    command continue from the last finished epoch after the process is killed.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    return [
        keras.callbacks.BackupAndRestore(str(output_dir / "resume"), delete_checkpoint=True),
        keras.callbacks.ModelCheckpoint(
            str(output_dir / "best.keras"), monitor=monitor or "loss", mode=mode if monitor else "min",
            save_best_only=monitor is not None,
        ),
        StopOnNaN(output_dir / "best.keras"),
        keras.callbacks.CSVLogger(str(output_dir / "history.csv"), append=True),
    ]


class StopOnNaN(keras.callbacks.Callback):
    """Stop at the first NaN or infinite loss, saying so and where the good model is.

    The best checkpoint is never overwritten by a NaN epoch (a NaN validation
    loss or accuracy never counts as an improvement), so it stays the last
    good model.
    """

    def __init__(self, checkpoint_path):
        super().__init__()
        self.checkpoint_path = Path(checkpoint_path)
        self.stopped_at = None

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.stopped_at = batch
            self.model.stop_training = True
            where = (
                f"the best checkpoint {self.checkpoint_path} is intact"
                if self.checkpoint_path.exists()
                else "no checkpoint had been written yet"
            )
            print(
                f"\nTraining stopped: the loss became {loss} at batch {batch}; {where}. "
                "Try a lower learning rate or --precision float32.",
                file=sys.stderr,
            )


def plot_history(history, path, metric="accuracy", title=None):
    """Training and validation curves, as the book plots them, to a PNG.

    Args:
        history: a dict like `History.history` ({"loss": [...], "val_loss": [...]}).
        path: where to write the PNG.
        metric: the metric plotted beside the loss.
    """
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
    fig.savefig(path, dpi=100)
    plt.close(fig)


def read_history_csv(path):
    """The whole run's history from the CSV log (survives resumes).

    Keras's CSV log writes ``NA`` in the ``val_*`` columns of a run without
    validation data; those entries are left out.
    """
    import csv

    history = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key != "epoch" and value not in ("NA", ""):
                    history.setdefault(key, []).append(float(value))
    return history


def write_json(path, data):
    """Write a results JSON atomically (never a half-written file)."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


class Timer:
    """`with Timer() as t: ...; t.seconds`"""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def default_output_dir(script, model_name):
    return Path("output") / script / model_name


__all__ = [
    "Timer",
    "add_training_arguments",
    "default_output_dir",
    "plot_history",
    "read_history_csv",
    "set_seed",
    "training_callbacks",
    "write_json",
]
