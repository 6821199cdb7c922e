"""Score a saved raw-text IMDB model on the 25,000 raw test reviews, in a fresh process.

Checks that what a chapter run saved (`end_to_end.keras`: vectorizer and model in one,
or a SavedModel folder from `keras-transformer export`) reloads and gives the accuracy
the run reported. It loads the model as `keras-transformer classify` does:

    python benchmarks/score_saved_classifier.py output/imdb_trials/NAME/end_to_end.keras \
        --data-dir /work/shared/datasets/aclImdb_labeled.tar.gz
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a saved classifier of raw strings: a .keras file or an exported SavedModel folder")
    parser.add_argument("--data-dir", default=None,
                        help="aclImdb_v1.tar.gz, the labeled copy, or its extracted folder "
                             "(default: download into the Keras cache)")
    parser.add_argument("--batch-size", type=int, default=64, help="reviews per prediction batch (default 64)")
    args = parser.parse_args(argv)

    import numpy as np
    import keras
    import tensorflow as tf

    from keras_transformer_cli import run as cli
    from keras_transformer.classification.data import load_imdb_texts

    try:
        loaded = cli.load(args.model)
    except cli.CommandError as error:
        parser.error(str(error))
    if loaded.kind != "classifier":
        parser.error(f"{args.model!r} is a {loaded.kind}, not a classifier")
    _, _, test = load_imdb_texts(args.data_dir, validation_split=0.0)
    progress = keras.utils.Progbar(len(test.texts), unit_name="review")
    probabilities = []
    for start in range(0, len(test.texts), args.batch_size):
        batch = test.texts[start:start + args.batch_size]
        probabilities.append(np.reshape(loaded.run(tf.constant(batch)), (-1,)))
        progress.add(len(batch))
    probabilities = np.concatenate(probabilities)
    correct = int(np.sum((probabilities > 0.5) == np.asarray(test.labels)))
    print(f"{args.model}: {correct} of {len(test.texts)} raw test reviews right, "
          f"accuracy {correct / len(test.texts):.4f}")


if __name__ == "__main__":
    main()
