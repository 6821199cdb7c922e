"""A real training run of the tiny translation task with the chapter scripts' callbacks.

Run by tests/test_reliability.py in subprocesses:

    python tests/tiny_training.py OUTPUT_DIR [--epochs N] [--batch-sleep S] [--nan-at-epoch K]
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import keras  # noqa: E402

from keras_transformer import training  # noqa: E402
from keras_transformer.models.seq2seq import build_transformer  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("output_dir")
parser.add_argument("--epochs", type=int, default=4)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--batch-sleep", type=float, default=0.0, help="seconds to sleep after each batch")
parser.add_argument("--nan-at-epoch", type=int, default=None, help="poison the weights at this epoch")
args = parser.parse_args()

training.set_seed(args.seed, deterministic=True)
rng = np.random.default_rng(0)
VOCAB, LENGTH = 16, 8
source = rng.integers(4, VOCAB, size=(256, LENGTH))
target = np.concatenate([np.full((256, 1), 2), source, np.full((256, 1), 3)], axis=1)
inputs = {"english": source, "spanish": target[:, :-1][:, :LENGTH]}
labels = target[:, 1 : LENGTH + 1]

model = build_transformer(VOCAB, VOCAB, LENGTH, embed_dim=16, dense_dim=32, num_heads=2, dropout=0.0)
model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model({k: v[:1] for k, v in inputs.items()})  # BackupAndRestore needs a built model


class Slow(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        time.sleep(args.batch_sleep)


class Poison(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch + 1 == args.nan_at_epoch:
            weights = self.model.get_weights()
            self.model.set_weights([w * np.nan if w.dtype.kind == "f" else w for w in weights])


callbacks = training.training_callbacks(args.output_dir, monitor="val_loss", mode="min")
history = model.fit(
    inputs, labels, validation_split=0.25, shuffle=False, batch_size=16, epochs=args.epochs,
    callbacks=[Slow(), Poison()] + callbacks, verbose=0,
)
np.savez(os.path.join(args.output_dir, "final.npz"), *model.get_weights())
print("epochs in this process:", len(history.history["loss"]))
sys.exit(0)
