#!/usr/bin/env python
"""Chapter 11's IMDB sequence models from pre-vectorized arrays, on any Keras backend.

For an accelerator machine without TensorFlow: `export` vectorizes IMDB where
TensorFlow is (vectorizer adapted on training text only) into one .npz;
`train` fits one or more sequence models on it with whatever backend
KERAS_BACKEND names (jax, torch, tensorflow) and writes, per model,
results.json, history.csv and best.weights.h5 under OUTPUT_DIR/<model>.

    python chapters/ch11_text_classification_arrays.py export imdb_ids.npz \\
        --data-dir ../shared/datasets/aclImdb_labeled.tar.gz
    KERAS_BACKEND=jax python chapters/ch11_text_classification_arrays.py train imdb_ids.npz \\
        --model transformer lstm-embedding --output-dir output/ch11_arrays
"""

import argparse
import shlex
import sys
import time

from keras_transformer.models.classifiers import BOOK_EPOCHS, SEQUENCE


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

    from keras_transformer.models import classifiers

    if args.command == "export":
        print(classifiers.export_token_arrays(args.path, data_dir=args.data_dir, seed=args.seed))
        return
    deadline = None if args.budget_s is None else time.time() + args.budget_s
    command = shlex.join(sys.argv if argv is None else argv)
    for name in args.model:
        if deadline is not None and time.time() > deadline:
            print(f"{name}: not started, --budget-s {args.budget_s} already spent", flush=True)
            continue
        results = classifiers.train_on_arrays(
            name, args.path, Path(args.output_dir) / name, epochs=args.epochs, batch_size=args.batch_size,
            seed=args.seed, deadline=deadline, command=command, verbose=2,
            learning_rate=args.learning_rate, encoder_dropout=args.encoder_dropout,
        )
        print(f"{name}: test accuracy {results['test_accuracy']:.4f}, best epoch {results['best_epoch']} "
              f"of {results['epochs_run']}, {results['seconds_per_epoch_median']:.1f} s/epoch", flush=True)


if __name__ == "__main__":
    main()
