"""Seconds for passes over a chapter's training batches (no model): the data pipeline's own cost.

Runs with whichever `keras_transformer` is importable, so the code of an older
commit is timed by putting its worktree first on PYTHONPATH:

    python benchmarks/bench_pipeline.py imdb --data-dir /work/shared/datasets/aclImdb_labeled.tar.gz
    PYTHONPATH=/tmp/kt-old python benchmarks/bench_pipeline.py imdb --data-dir /work/shared/datasets/aclImdb_labeled.tar.gz
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapter", choices=("imdb", "translation"))
    parser.add_argument("--data-dir", default=None, help="the chapter's archive or extracted folder")
    parser.add_argument("--passes", type=int, default=3, help="passes timed after building (default 3)")
    args = parser.parse_args(argv)
    import tensorflow as tf

    extra = {}
    try:  # the redesigned pipelines take an epoch counter
        from keras_transformer.training import EpochCounter

        extra["epoch"] = EpochCounter(seed=1337).variable
    except ImportError:
        pass
    start = time.perf_counter()
    if args.chapter == "imdb":
        from keras_transformer.classification.data import load_imdb_texts

        from keras_transformer.classification.data import make_dataset, make_vectorizer

        train, _, _ = load_imdb_texts(args.data_dir, seed=1337)
        vectorizer = make_vectorizer("transformer-positional", 20000, 600)
        vectorizer.adapt(tf.data.Dataset.from_tensor_slices(list(train.texts)).batch(512))
        start = time.perf_counter()
        ds = make_dataset("transformer-positional", vectorizer, train, 32, shuffle=True, seed=1337, **extra)
    else:
        from keras_transformer.translation.pairs import load_pairs, make_dataset, split_pairs
        from keras_transformer.translation.vocabulary import make_vectorizers

        train, _, _ = split_pairs(load_pairs(args.data_dir)[0])
        source, target = make_vectorizers(train, 15000, 20)
        start = time.perf_counter()
        ds = make_dataset(train, source, target, 64, True, seed=1337, by_length=True, **extra)
    build = time.perf_counter() - start
    passes = []
    for _ in range(args.passes):
        start = time.perf_counter()
        batches = sum(1 for _ in ds)
        passes.append(time.perf_counter() - start)
    print(f"{args.chapter}: build {build:.2f} s, passes " + ", ".join(f"{p:.2f}" for p in passes)
          + f" s, {batches} batches")


if __name__ == "__main__":
    main()
