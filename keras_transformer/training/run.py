"""The one training path of the chapter scripts: `model.fit` plus the callbacks a run needs.

A run lives in one folder. `TrainingRun(output_dir)` looks at what is there and knows
what is left: a fresh run, a run killed mid-training (resume from the last finished epoch),
or one killed after training (only evaluating and saving are left). Every file it writes
is written whole or not at all (written beside, then renamed).

    run = TrainingRun("output/ch11_text_classification/transformer")
    counter = EpochCounter()
    train_ds = make_dataset(..., shuffle=True, seed=1337, epoch=counter.variable)
    if run.needs_training:
        run.fit(model, train_ds, epochs=20, validation_data=val_ds, callbacks=[counter])
    best = run.best_model()
    run.finish({"test": {"accuracy": best.evaluate(test_ds)[1]}}, title="IMDB")

Files: `best.keras` (best validation epoch, or last without validation),
`history.csv` (the whole run, resumes included), `curves.png`,
`results.json` (one schema for both chapters, see `TrainingRun.finish`),
`resume/` while training, `trained.json` once training is over.
"""

import csv
import datetime
import io
import json
import math
import sys
import time
from pathlib import Path

import keras

from keras_transformer.training import distribute
from keras_transformer.training.files import (machine, plot_history, read_history_csv, remove_path, replace_atomically,
                                             save_model, write_json)

FILES = ("best.keras", "history.csv", "curves.png", "results.json", "trained.json")


def default_output_dir(script, model_name):
    return Path("output") / script / model_name


def command_line(argv=None):
    """The command that started this run, as a shell would take it back."""
    import shlex

    if argv is None:
        return shlex.join([Path(sys.executable).name, *sys.argv])
    return shlex.join(["python", sys.argv[0], *argv])


def set_seed(seed, deterministic=False):
    """Seed Python, NumPy and the backend; optionally make TF ops deterministic."""
    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def count_batches(dataset):
    """Batches in one pass of a finite dataset: its cardinality if known, else counted."""
    known = int(dataset.cardinality())
    return known if known >= 0 else int(dataset.reduce(0, lambda count, _: count + 1))


# -- callbacks ----------------------------------------------------------------


class EpochCounter(keras.callbacks.Callback):
    """Holds the epoch being trained in a `tf.Variable` that a data pipeline reads.

    Give `variable` to a dataset builder (`epoch=`) and this callback to
    `fit`: each epoch's shuffle order is then a function of (seed, epoch).
    With `seed`, the model's random draws (dropout, token dropout) restart
    from a state set by (seed, epoch) too. A resumed run then repeats exactly
    what an uninterrupted one does (the backup keeps weights and optimizer,
    not random states).
    """

    def __init__(self, seed=None):
        super().__init__()
        self.seed = seed
        try:
            import tensorflow as tf
        except ImportError:  # no tf.data pipeline to steer (arrays on JAX or PyTorch)
            self.variable = None
        else:
            self.variable = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")

    def on_epoch_begin(self, epoch, logs=None):
        import numpy as np

        if self.variable is not None:
            self.variable.assign(epoch)
        if self.seed is None:
            return
        states = [v for v in self.model.variables if v.path.endswith("seed_generator_state")]
        for index, state in enumerate(states):
            start = (int(self.seed) * 1_000_003 + epoch * 7_919 + index) % (2**31 - 1)
            state.assign(np.array([start, index], dtype=keras.backend.standardize_dtype(state.dtype)))


class StopOnNaN(keras.callbacks.Callback):
    """Stop at the first NaN or infinite loss, saying so and where the good model is."""

    def __init__(self, checkpoint_path):
        super().__init__()
        self.checkpoint_path = Path(checkpoint_path)
        self.stopped_at = None

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.stopped_at = batch
            self.model.stop_training = True
            where = (f"the best checkpoint {self.checkpoint_path} is intact" if self.checkpoint_path.exists()
                     else "no checkpoint had been written yet")
            print(f"\nTraining stopped: the loss became {loss} at batch {batch}; {where}. "
                  "Try a lower learning rate or --precision float32.", file=sys.stderr)


class _RunLog(keras.callbacks.Callback):
    """Epoch time, the best checkpoint and `history.csv`, each written whole at every epoch end.

    Runs after `BackupAndRestore`, so at `on_train_begin` the model knows the
    epoch it resumes at: the history is cut to the epochs before it (an
    epoch killed before its backup is trained again and logged once), and the
    best score so far is taken from it (a worse epoch after a resume never
    overwrites the best checkpoint).
    """

    def __init__(self, output_dir, monitor):
        super().__init__()
        self.output_dir = Path(output_dir)
        self.monitor = monitor  # None: keep the last epoch

    def on_train_begin(self, logs=None):
        first_epoch = getattr(self.model, "_initial_epoch", None) or 0
        path = self.output_dir / "history.csv"
        self.rows = []
        if path.exists():
            with open(path, newline="") as f:
                self.rows = list(csv.DictReader(f))[:first_epoch]
        scores = [float(r[self.monitor]) for r in self.rows if self.monitor and r.get(self.monitor) not in (None, "", "NA")]
        self.best = max(scores) if scores else -math.inf

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {}, epoch_seconds=time.perf_counter() - self.start)
        score = logs.get(self.monitor) if self.monitor else None
        finite = math.isfinite(float(logs.get("loss", 0.0)))  # a NaN epoch never becomes the checkpoint
        if finite and (self.monitor is None or (score is not None and math.isfinite(score) and score > self.best)):
            self.best = score if score is not None else self.best
            save_model(self.model, self.output_dir / "best.keras")
        self.rows.append({"epoch": epoch, **{k: float(v) for k, v in logs.items()}})
        keys = sorted({k for row in self.rows for k in row} - {"epoch"})

        def write(partial):
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, ["epoch", *keys], restval="NA")
            writer.writeheader()
            writer.writerows(self.rows)
            partial.write_text(buffer.getvalue())

        replace_atomically(self.output_dir / "history.csv", write)


class _Backup(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose end-of-epoch save can wait for `_SaveBackup`, the last callback."""

    deferred = False

    def on_epoch_end(self, epoch, logs=None):
        if not self.deferred:
            super().on_epoch_end(epoch, logs)


class _SaveBackup(keras.callbacks.Callback):
    def __init__(self, backup):
        super().__init__()
        self.backup = backup

    def on_epoch_end(self, epoch, logs=None):
        if self.backup.deferred:
            keras.callbacks.BackupAndRestore.on_epoch_end(self.backup, epoch, logs)


# -- the run ----------------------------------------------------------------


class TrainingRun:
    """One chapter run in `output_dir`: what is done, what is left, and its files.

    - `needs_training`: no finished training here (a fresh run, or one to
      resume from `resume/`). A folder holding a finished run
      (`results.json`) starts over: its files are removed.
    - after a kill during evaluation or saving, `needs_training` is False and
      `trained.json` tells what the training did.
    - `rescore=True`: evaluate the checkpoint already there again (a finished
      run's files are kept; nothing is trained).
    """

    def __init__(self, output_dir, rescore=False):
        self.start = time.perf_counter()
        # Only the chief of a multi-worker run writes into output_dir.
        self.output_dir = Path(distribute.worker_output_dir(output_dir))
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.rescore = bool(rescore)
        if self.rescore and not (self.output_dir / "best.keras").exists():
            raise SystemExit(f"No checkpoint in {self.output_dir}; train first.")
        done = (self.output_dir / "results.json").exists()
        self.resumed = self.rescore or (
            not done and ((self.output_dir / "resume").exists() or self.trained_path.exists()))
        if not self.resumed:  # a fresh run: whatever is here belongs to another run
            for name in (*FILES, "resume"):
                remove_path(self.output_dir / name)

    @property
    def trained_path(self):
        return self.output_dir / "trained.json"

    @property
    def needs_training(self):
        return not (self.rescore or self.trained_path.exists())

    def fit(self, model, train_data, epochs, validation_data=None, monitor="val_accuracy", strategy=None,
            callbacks=(), swap_ema=False, verbose="auto", **fit_options):
        """`model.fit` with resume, the best checkpoint, a NaN stop and the whole history.

        Args:
            model: a compiled model (built inside `strategy`'s scope, if any).
            train_data: a dataset of known cardinality (the progress bar's length).
            epochs: epochs of the whole run (a resumed run trains the rest).
            validation_data: scored after every epoch; None keeps the last epoch.
            monitor: the validation score the best checkpoint maximizes.
            strategy: a `tf.distribute` strategy (see `keras_transformer.training.distribute`).
            callbacks: more callbacks, e.g. an `EpochCounter`.
            swap_ema: validate and checkpoint the optimizer's weight average.
            fit_options: passed on to `model.fit` (e.g. `batch_size` for arrays).
        """
        nan = StopOnNaN(self.output_dir / "best.keras")
        # Order matters: restore first (it sets the epoch to resume at), then
        # the EMA swap (validation and checkpoint see the averaged weights).
        backup = _Backup(str(self.output_dir / "resume"), delete_checkpoint=False, double_checkpoint=True)
        backup.deferred = not swap_ema  # with EMA the model holds the averaged weights by then
        steps = [backup]
        steps += [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if swap_ema else []
        steps += [_RunLog(self.output_dir, monitor if validation_data is not None else None), nan, *callbacks]
        steps += [_SaveBackup(backup)]  # the epoch's files first, then "epoch done": a kill between retrains it
        fit_options.setdefault("shuffle", False)  # datasets come shuffled (Keras warns otherwise)
        distribute.fit(model, train_data, strategy, validation_data=validation_data, epochs=epochs,
                       callbacks=steps, verbose=verbose, **fit_options)
        write_json(self.trained_path, {"epochs_requested": epochs, "stopped_on_nan": nan.stopped_at is not None,
                                       "monitor": monitor if validation_data is not None else None})
        remove_path(self.output_dir / "resume")  # after trained.json: a kill in between still finishes

    def best_model(self, compile=True):
        """The best checkpoint, loaded with `safe_mode=True`."""
        path = self.output_dir / "best.keras"
        if not path.exists():
            raise SystemExit(f"No checkpoint at {path}; train first.")
        import warnings

        with warnings.catch_warnings():
            # Keras warns that the optimizer's slots are not restored into an
            # unbuilt optimizer; evaluating and saving never need them.
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            return keras.saving.load_model(path, compile=compile, safe_mode=True)

    def summary(self):
        """What the training did, from `history.csv` and `trained.json`."""
        history = read_history_csv(self.output_dir / "history.csv") if (self.output_dir / "history.csv").exists() else {}
        trained = json.loads(self.trained_path.read_text()) if self.trained_path.exists() else {}
        monitor = trained.get("monitor")
        scores = history.get(monitor, []) if monitor else []
        seconds = sorted(history.get("epoch_seconds", []))
        epochs_run = len(history.get("loss", []))
        return {
            "epochs_requested": trained.get("epochs_requested"),
            "epochs_run": epochs_run,
            "monitor": monitor,
            "best_epoch": scores.index(max(scores)) + 1 if scores else epochs_run,
            "best_monitor": max(scores) if scores else None,
            "stopped_on_nan": trained.get("stopped_on_nan", False),
            "train_seconds": float(sum(seconds)),
            "seconds_per_epoch_median": float(seconds[len(seconds) // 2]) if seconds else None,
        }, history

    def finish(self, results, title=None):
        """Write `curves.png` and `results.json` (last: its presence means the run is over).

        `results.json` holds `training` (see `summary`), then whatever the
        chapter adds (`model`, `chapter`, `test`, `settings`, ...), the
        wall time, whether the run resumed, the date and the machine.
        """
        training, history = self.summary()
        if history:
            plot_history(history, self.output_dir / "curves.png", title=title)
        results = {
            **results,
            "training": training,
            "wall_time_s": time.perf_counter() - self.start,
            "resumed": self.resumed,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine(),
        }
        write_json(self.output_dir / "results.json", results)
        return results


class Timer:
    """`with Timer() as t: ...; t.seconds`"""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


__all__ = ["EpochCounter", "StopOnNaN", "Timer", "TrainingRun", "count_batches", "default_output_dir", "set_seed"]
