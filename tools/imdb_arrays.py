#!/usr/bin/env python
"""Chapter 11's IMDB sequence models from pre-vectorized arrays, on any Keras backend.

For an accelerator machine without TensorFlow: `export` vectorizes IMDB where
TensorFlow is (vectorizer adapted on training text only) into one .npz;
`train` fits one or more sequence models on it with whatever backend
KERAS_BACKEND names (jax, torch, tensorflow) and writes, per model,
results.json, history.csv and best.weights.h5 under OUTPUT_DIR/<model>.

    python tools/imdb_arrays.py export imdb_ids.npz \\
        --data-dir ../shared/datasets/aclImdb_labeled.tar.gz
    KERAS_BACKEND=jax python tools/imdb_arrays.py train imdb_ids.npz \\
        --model transformer lstm-embedding --output-dir output/ch11_arrays
"""

import argparse
import shlex
import sys
import time

import keras

from keras_transformer.classification.data import make_vectorizer
from keras_transformer.classification import build_classifier
from keras_transformer.classification.models import BAG_OF_WORDS, BOOK_EPOCHS, SEQUENCE, check_name


def export_token_arrays(path, data_dir=None, source="archive", seed=1337, vocab_size=20000, sequence_length=600):
    """Vectorize IMDB once for the sequence models; save ids, labels and vocabulary.

    The vectorizer is adapted on the training split only, exactly as in
    :func:`train_and_evaluate`. Ids are stored as uint16 (vocab < 65,536),
    padded to ``sequence_length``, in a compressed ``.npz``.
    """
    import numpy as np
    import tensorflow as tf

    from keras_transformer.classification.data import load_imdb_texts, make_dataset, make_vectorizer

    if vocab_size > 65536:
        raise ValueError(f"vocab_size={vocab_size} does not fit uint16 arrays; use at most 65536.")
    train, val, test = load_imdb_texts(data_dir, source=source, seed=seed)
    vectorizer = make_vectorizer("transformer", vocab_size, sequence_length)
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(list(train.texts)).batch(512))

    def ids(texts):
        chunks = [vectorizer(tf.constant(texts[i : i + 1000])).numpy() for i in range(0, len(texts), 1000)]
        return np.concatenate(chunks).astype(np.uint16)

    arrays = {}
    for split_name, split in (("train", train), ("val", val), ("test", test)):
        arrays[f"x_{split_name}"] = ids(list(split.texts))
        arrays[f"y_{split_name}"] = np.asarray(split.labels, dtype=np.uint8)
    arrays["vocabulary"] = np.asarray(vectorizer.get_vocabulary())
    np.savez_compressed(path, **arrays)
    return {k: v.shape for k, v in arrays.items()}


class _Deadline(keras.callbacks.Callback):
    """Stop after the epoch during which ``deadline`` (time.time()) passes."""

    def __init__(self, deadline):
        super().__init__()
        self.deadline = deadline
        self.stopped = False

    def on_epoch_end(self, epoch, logs=None):
        if self.deadline is not None and time.time() > self.deadline:
            self.stopped = True
            self.model.stop_training = True


def train_on_arrays(name, arrays_path, output_dir, epochs=None, batch_size=32, seed=1337, deadline=None,
                    command=None, verbose="auto", **model_kwargs):
    """Train sequence model ``name`` on :func:`export_token_arrays` output, on any backend.

    The package's one training path (``TrainingRun``) on NumPy arrays: best
    validation epoch in ``best.keras``, resume after a kill, ``results.json``
    with the test accuracy. Every review is padded to the exported length
    (fixed shapes compile once under XLA).
    """
    import numpy as np

    from keras_transformer.training import TrainingRun

    check_name(name)
    if name in BAG_OF_WORDS:
        raise ValueError(f"train_on_arrays takes sequence models only, not {name!r}.")
    epochs = BOOK_EPOCHS[name] if epochs is None else int(epochs)
    run = TrainingRun(output_dir)
    keras.utils.set_random_seed(seed)
    data = np.load(arrays_path)
    x = {k: data[f"x_{k}"].astype("int32") for k in ("train", "val", "test")}
    y = {k: data[f"y_{k}"].astype("float32") for k in ("train", "val", "test")}
    stopper = _Deadline(deadline)
    if run.needs_training:
        model = build_classifier(name, **model_kwargs)
        run.fit(model, x["train"], epochs, validation_data=(x["val"], y["val"]), callbacks=[stopper],
                verbose=verbose, y=y["train"], batch_size=batch_size, shuffle=True)
    test_loss, test_accuracy = run.best_model().evaluate(x["test"], y["test"], batch_size=batch_size, verbose=verbose)
    return run.finish({
        "chapter": "text_classification", "model": name,
        "test": {"accuracy": float(test_accuracy), "loss": float(test_loss)},
        "stopped_by_deadline": stopper.stopped,
        "settings": {"batch_size": batch_size, "seed": seed, "trim_padding": False,
                     "train_val_test": [len(y["train"]), len(y["val"]), len(y["test"])], **model_kwargs},
        "command": command,
    })


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    export = sub.add_parser("export", help="vectorize IMDB into an .npz (needs TensorFlow)")
    export.add_argument("path", help="the .npz to write")
    export.add_argument("--data-dir", default=None, help="the IMDB archive or extracted folder")
    export.add_argument("--seed", type=int, default=1337, help="validation split seed (default 1337)")
    train = sub.add_parser("train", help="train sequence models on an exported .npz (any backend)")
    train.add_argument("path", help="the .npz written by export")
    train.add_argument("--model", nargs="+", required=True, choices=SEQUENCE, help="models, trained in this order")
    train.add_argument("--epochs", type=int, default=None,
                       help="epochs (default: the book's, " + ", ".join(f"{m} {BOOK_EPOCHS[m]}" for m in SEQUENCE) + ")")
    train.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    train.add_argument("--seed", type=int, default=1337, help="seed (default 1337)")
    train.add_argument("--output-dir", default="output/ch11_arrays", help="one folder per model under it")
    train.add_argument("--learning-rate", type=float, default=None, help="rmsprop learning rate (default Keras's, 0.001)")
    train.add_argument("--encoder-dropout", type=float, default=0.0, help="dropout inside the Transformer encoder (default 0)")
    train.add_argument("--budget-s", type=float, default=None,
                       help="stop training after the epoch that passes this many seconds since start; "
                       "models not yet started by then are skipped")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from pathlib import Path

    if args.command == "export":
        print(export_token_arrays(args.path, data_dir=args.data_dir, seed=args.seed))
        return
    deadline = None if args.budget_s is None else time.time() + args.budget_s
    command = shlex.join(sys.argv if argv is None else argv)
    for name in args.model:
        if deadline is not None and time.time() > deadline:
            print(f"{name}: not started, --budget-s {args.budget_s} already spent", flush=True)
            continue
        results = train_on_arrays(
            name, args.path, Path(args.output_dir) / name, epochs=args.epochs, batch_size=args.batch_size,
            seed=args.seed, deadline=deadline, command=command, verbose=2,
            learning_rate=args.learning_rate, encoder_dropout=args.encoder_dropout,
        )
        trained = results["training"]
        print(f"{name}: test accuracy {results['test']['accuracy']:.4f}, best epoch {trained['best_epoch']} "
              f"of {trained['epochs_run']}, {trained['seconds_per_epoch_median']:.1f} s/epoch", flush=True)


if __name__ == "__main__":
    main()
