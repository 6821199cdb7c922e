"""A real run of the tiny translation task through the package's one training path.

Run by tests/test_reliability.py in subprocesses, as a user reruns a chapter script:

    python tests/tiny_training.py OUTPUT_DIR [--epochs N] [--batch-sleep S] [--eval-sleep S] [--nan-at-epoch K]

Shuffled batches (the order of epoch e depends on (seed, e) only), dropout,
the best validation checkpoint, then an "evaluation" of it on a test split
and `results.json`; `final.npz` holds the best checkpoint's weights.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_transformer import training  # noqa: E402
from keras_transformer.training.files import replace_atomically  # noqa: E402
from keras_transformer.data.batching import batched  # noqa: E402
from keras_transformer.translation.models import build_transformer  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("output_dir")
parser.add_argument("--epochs", type=int, default=4)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--batch-sleep", type=float, default=0.0, help="seconds to sleep after each training batch")
parser.add_argument("--eval-sleep", type=float, default=0.0, help="seconds to sleep after each test batch")
parser.add_argument("--nan-at-epoch", type=int, default=None, help="poison the weights at this epoch")
args = parser.parse_args()

training.set_seed(args.seed, deterministic=True)
rng = np.random.default_rng(0)
VOCAB, LENGTH = 16, 8
source = rng.integers(4, VOCAB, size=(320, LENGTH))
target = np.concatenate([np.full((320, 1), 2), source, np.full((320, 1), 3)], axis=1)


def pairs(rows):
    return {"english": source[rows], "spanish": target[rows, :LENGTH]}, target[rows, 1 : LENGTH + 1]


counter = training.EpochCounter(seed=args.seed)
train_ds = batched(pairs(slice(0, 192)), lambda d: d.batch(16), shuffle=True, seed=args.seed, epoch=counter.variable)
val_ds = batched(pairs(slice(192, 256)), lambda d: d.batch(16))
test_ds = batched(pairs(slice(256, 320)), lambda d: d.batch(16))


class Slow(keras.callbacks.Callback):
    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    def on_train_batch_end(self, batch, logs=None):
        time.sleep(self.seconds)

    def on_test_batch_end(self, batch, logs=None):
        time.sleep(self.seconds)


class Poison(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch + 1 == args.nan_at_epoch:
            weights = self.model.get_weights()
            self.model.set_weights([w * np.nan if w.dtype.kind == "f" else w for w in weights])


run = training.TrainingRun(args.output_dir)
epochs_here = 0
if run.needs_training:
    model = build_transformer(VOCAB, VOCAB, LENGTH, embed_dim=16, dense_dim=32, num_heads=2, dropout=0.1)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model({k: v[:1] for k, v in {"english": source, "spanish": target[:, :LENGTH]}.items()})  # built for resume

    class Count(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            global epochs_here
            epochs_here += 1

    run.fit(model, train_ds, args.epochs, validation_data=val_ds, monitor="val_accuracy", verbose=0,
            callbacks=[counter, Slow(args.batch_sleep), Poison(), Count()])
print("epochs in this process:", epochs_here, flush=True)

best = run.best_model()
loss, accuracy = best.evaluate(test_ds, verbose=0, callbacks=[Slow(args.eval_sleep)])
replace_atomically(os.path.join(args.output_dir, "final.npz"), lambda p: np.savez(open(p, "wb"), *best.get_weights()))
run.finish({"chapter": "tiny", "model": "transformer", "test": {"accuracy": float(accuracy), "loss": float(loss)}})
sys.exit(0)
