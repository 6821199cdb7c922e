"""Training speed of the chapter's Transformers: the book's pipeline against this package's.

Two tasks, each on the real data, in one process:

* ``imdb``: the positional-embedding Transformer classifier. The book's
  pipeline: every review vectorized to 600 tokens, the book's encoder layer
  (``key_dim=embed_dim``, kept in ``bench_encoder.py`` as the reference),
  float32, rmsprop, batch 32. This package's: the same model sizes built by
  ``build_classifier("transformer-positional")`` (heads of ``embed_dim //
  num_heads``), ``mixed_bfloat16``, reviews batched with others of similar
  length and each batch cut to its longest review.
* ``translation``: the chapter's Transformer encoder-decoder. The book's
  pipeline: every pair padded to 20 tokens, ``key_dim=embed_dim``, float32,
  rmsprop, batch 64. This package's: heads of ``embed_dim // num_heads``,
  ``mixed_bfloat16``, pairs batched by length and cut to the batch's longest.

Two measurements per configuration:

1. ``--rounds`` rounds of ``--steps`` training steps, round-robin over the
   configurations (so background load falls on all alike): median examples/s.
2. ``--epochs`` full epochs each (configurations one after the other), with
   the validation accuracy after every epoch and the test accuracy of the
   last one (IMDB) — speed is only worth having at equal accuracy.

    python benchmarks/bench_training.py imdb --data-dir ../shared/datasets/aclImdb_labeled.tar.gz
    python benchmarks/bench_training.py translation --arrays output/accel/arrays.npz
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench_encoder import BookTransformerEncoder, matmul_gflops  # noqa: E402
from keras_transformer import PositionalEmbedding  # noqa: E402


# ---------------------------------------------------------------------------
# Configurations: (name, precision, build() -> model, datasets() -> (train, val, test))


class Config:
    def __init__(self, name, precision, build, data, note, jit_compile=None):
        self.name, self.precision, self.build, self.data, self.note = name, precision, build, data, note
        self.jit_compile = jit_compile

    def make_model(self, seed):
        keras.utils.set_random_seed(seed)
        keras.mixed_precision.set_global_policy(self.precision)
        try:
            model = self.build()
        finally:
            keras.mixed_precision.set_global_policy("float32")
        if self.jit_compile is not None:  # before the first step builds the train function
            model.jit_compile = self.jit_compile
        return model

    def with_xla(self):
        """The same configuration, its training step compiled by XLA (opt-in: --only NAME+xla)."""
        return Config(f"{self.name}+xla", self.precision, self.build, self.data,
                      self.note + "; XLA-compiled training step", jit_compile=True)


# Run unless --only names others; the "+xla" variants are opt-in.
DEFAULT_CONFIGS = ("book", "ours")


def _book_imdb_classifier(vocab_size=20000, sequence_length=600, embed_dim=256, num_heads=2, dense_dim=32):
    inputs = keras.Input((None,), dtype="int64")
    x = PositionalEmbedding(sequence_length, vocab_size, embed_dim)(inputs)
    x = BookTransformerEncoder(embed_dim, dense_dim, num_heads)(x)
    x = keras.layers.GlobalMaxPooling1D()(x)
    x = keras.layers.Dropout(0.5)(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def imdb_configs(args):
    from keras_transformer.classification.data import load_imdb_texts
    from keras_transformer.classification.data import make_dataset, make_vectorizer
    from keras_transformer.classification import build_classifier

    print("loading IMDB and adapting the vectorizer ...", file=sys.stderr)
    train, val, test = load_imdb_texts(args.data_dir)
    if args.limit:
        train, val, test = (type(s)(s.texts[: args.limit], s.labels[: args.limit]) for s in (train, val, test))
    vectorizer = make_vectorizer("transformer-positional")
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(list(train.texts)).batch(512))

    def book_data():
        # The book: batches of 32 raw reviews, each vectorized to exactly 600 tokens.
        def batches(split, shuffle):
            ds = tf.data.Dataset.from_tensor_slices((list(split.texts), list(split.labels)))
            if shuffle:
                ds = ds.shuffle(len(split.texts), seed=args.seed)
            ds = ds.batch(32).map(lambda x, y: (vectorizer(x), y), num_parallel_calls=4)
            return ds.cache().prefetch(tf.data.AUTOTUNE)

        return batches(train, True), batches(val, False), batches(test, False)

    def our_data():
        name = "transformer-positional"
        return (
            make_dataset(name, vectorizer, train, shuffle=True, seed=args.seed),
            make_dataset(name, vectorizer, val),
            make_dataset(name, vectorizer, test),
        )

    return "reviews", [
        Config("book", "float32", _book_imdb_classifier, book_data,
               "book's encoder (key_dim 256), every review padded to 600, float32"),
        Config("ours", "mixed_bfloat16", lambda: build_classifier("transformer-positional"), our_data,
               "this package's classifier (key_dim 128), length-bucketed batches cut to their longest, "
               "mixed_bfloat16"),
        Config("ours+lazy", "mixed_bfloat16",
               lambda: build_classifier("transformer-positional", lazy_embedding_updates=True), our_data,
               "ours, rmsprop updating only the embedding rows each batch uses (--lazy-embedding-updates)"),
    ]


def _length_bucketed(source, target_in, target_out, batch_size, shuffle, seed):
    """Pairs grouped with pairs of similar length, each batch cut to its longest."""
    from keras_transformer.translation.pairs import batch_pairs_by_length

    ds = tf.data.Dataset.from_tensor_slices(({"english": source, "spanish": target_in}, target_out))
    if shuffle:
        ds = ds.shuffle(len(source), seed=seed, reshuffle_each_iteration=True)
    return batch_pairs_by_length(ds, batch_size, source.shape[1])


def _our_translation_model(lazy=False):
    from keras_transformer.translation.models import build_translation_model, compile_translation_model
    from keras_transformer.training.optimizers import make_optimizer

    model = build_translation_model("transformer", key_dim=None, compile=False)
    return compile_translation_model(model, make_optimizer("rmsprop", lazy=lazy), steps_per_execution=16)


def translation_configs(args):
    from keras_transformer.translation.models import build_translation_model

    data = np.load(args.arrays)

    def split(name):
        limit = args.limit or None
        source = data[f"{name}_source"][:limit].astype("int32")
        target = data[f"{name}_target"][:limit].astype("int32")
        return source, target[:, :-1], target[:, 1:]

    splits = {name: split(name) for name in ("train", "val", "test")}

    def book_data():
        def batches(name, shuffle):
            source, target_in, target_out = splits[name]
            ds = tf.data.Dataset.from_tensor_slices(({"english": source, "spanish": target_in}, target_out))
            if shuffle:
                ds = ds.shuffle(2048, seed=args.seed)  # the book's buffer
            return ds.batch(64).prefetch(16)

        return batches("train", True), batches("val", False), batches("test", False)

    def our_data():
        return tuple(
            _length_bucketed(*splits[name], 64, name == "train", args.seed).prefetch(tf.data.AUTOTUNE)
            for name in ("train", "val", "test")
        )

    return "pairs", [
        Config("book", "float32", lambda: build_translation_model("transformer"), book_data,
               "key_dim 256 (the book's), every pair padded to 20 tokens, float32"),
        Config("ours", "mixed_bfloat16", _our_translation_model, our_data,
               "key_dim 32, length-bucketed batches cut to their longest, mixed_bfloat16, "
               "float32 softmax (fused loss), 16 steps per execution"),
        Config("ours+lazy", "mixed_bfloat16", lambda: _our_translation_model(lazy=True), our_data,
               "ours, rmsprop updating only the embedding rows each batch uses (--lazy-embedding-updates)"),
    ]


# ---------------------------------------------------------------------------
# Measurements


def _batch_size(batch):
    return int(tf.shape(batch[1])[0])


def probe(configs, args):
    """Median examples/s over rounds of `steps` training steps, round-robin."""
    state = {}
    for config in configs:
        model = config.make_model(args.seed)
        train, _, _ = config.data()
        batches = list(train.take(args.steps * (args.rounds + 1)))
        for x, y in batches[: args.steps]:  # warm-up: traces and first calls
            model.train_on_batch(x, y)
        state[config.name] = (model, batches[args.steps:])
        print(f"warmed up: {config.name}", file=sys.stderr)
    rates = {config.name: [] for config in configs}
    for r in range(args.rounds):
        for config in configs:
            model, batches = state[config.name]
            chunk = batches[r * args.steps: (r + 1) * args.steps]
            start = time.perf_counter()
            for x, y in chunk:
                model.train_on_batch(x, y)
            seconds = time.perf_counter() - start
            rates[config.name].append(sum(_batch_size(b) for b in chunk) / seconds)
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(
            f"{k} {v[-1]:.0f}/s" for k, v in rates.items()), file=sys.stderr)
    return rates


class _EpochTimes(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)


def full_epochs(config, args):
    model = config.make_model(args.seed)
    train, val, test = config.data()
    timer = _EpochTimes()
    history = model.fit(train, validation_data=val, epochs=args.epochs, callbacks=[timer], verbose=args.verbose)
    result = {
        "epoch_seconds": [round(t, 1) for t in timer.times],
        "val_accuracy": [round(float(a), 4) for a in history.history["val_accuracy"]],
    }
    if args.test:
        start = time.perf_counter()
        _, accuracy = model.evaluate(test, verbose=0)
        result["test_accuracy"] = round(float(accuracy), 4)
        result["test_seconds"] = round(time.perf_counter() - start, 1)
    print(f"{config.name}: {json.dumps(result)}", file=sys.stderr)
    keras.backend.clear_session()
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("task", choices=["imdb", "translation"])
    parser.add_argument("--data-dir", default=None, help="IMDB archive or folder (imdb)")
    parser.add_argument("--arrays", default="output/accel/arrays.npz",
                        help="token arrays from `translation_arrays.py prepare` (translation)")
    parser.add_argument("--steps", type=int, default=20, help="training steps per timed round")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (median reported); 0 skips")
    parser.add_argument("--epochs", type=int, default=1, help="full epochs per configuration; 0 skips")
    parser.add_argument("--test", action=argparse.BooleanOptionalAction, default=True,
                        help="evaluate on the test split after the epochs")
    parser.add_argument("--only", nargs="*", default=None,
                        help="configurations to run: book, ours, ours+lazy (lazy embedding updates), and their "
                             "XLA-compiled variants book+xla, ours+xla (default: book ours)")
    parser.add_argument("--limit", type=int, default=None, help="first N examples per split (smoke runs)")
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--verbose", default="auto", help="Keras fit verbosity for the full epochs")
    parser.add_argument("--json", help="write all measurements to this file")
    parser.add_argument("--markdown", help="write the table to this file")
    args = parser.parse_args(argv)
    if args.verbose.isdigit():
        args.verbose = int(args.verbose)

    unit, configs = (imdb_configs if args.task == "imdb" else translation_configs)(args)
    configs = configs + [c.with_xla() for c in configs]
    wanted = args.only or DEFAULT_CONFIGS
    unknown = sorted(set(wanted) - {c.name for c in configs})
    if unknown:
        parser.error(f"unknown configuration(s) {', '.join(unknown)}; choose from {', '.join(c.name for c in configs)}")
    configs = [c for c in configs if c.name in wanted]
    peak = matmul_gflops()
    results = {c.name: {"note": c.note, "precision": c.precision} for c in configs}
    if args.rounds:
        for name, rates in probe(configs, args).items():
            results[name]["probe_rates"] = [round(r, 1) for r in rates]
    if args.epochs:
        for config in configs:
            results[config.name].update(full_epochs(config, args))
    meta = {
        "task": args.task, "date": str(date.today()), "machine": f"{platform.machine()} x{os.cpu_count()} cores",
        "backend": keras.backend.backend(), "float32_matmul_gflops": round(peak, 1),
        "command": "python " + " ".join(sys.argv), "steps": args.steps, "rounds": args.rounds, "epochs": args.epochs,
    }
    table = render(results, meta, unit)
    print(table)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(table + "\n")


def render(results, meta, unit):
    names = list(results)
    reference = names[0]
    lines = [
        f"{meta['task']} training, {meta['machine']}, {meta['backend']}, {meta['date']}; "
        f"float32 matmul {meta['float32_matmul_gflops']:.0f} GFLOP/s.",
        "",
        f"| pipeline | {unit}/s, median of {meta['rounds']} rounds of {meta['steps']} steps (min-max) "
        f"| epoch seconds | vs {reference} (epoch) | val. accuracy per epoch | test accuracy | what it is |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    ref_epoch = statistics.median(results[reference].get("epoch_seconds") or [float("nan")])
    for name in names:
        r = results[name]
        rates = r.get("probe_rates")
        rate = f"{statistics.median(rates):.0f} ({min(rates):.0f}-{max(rates):.0f})" if rates else "-"
        epochs = r.get("epoch_seconds")
        epoch = statistics.median(epochs) if epochs else float("nan")
        val = ", ".join(f"{a:.2%}" for a in r.get("val_accuracy", [])) or "-"
        test = f"{r['test_accuracy']:.2%}" if "test_accuracy" in r else "-"
        lines.append(
            f"| {name} | {rate} | {', '.join(f'{t:.0f}' for t in epochs) if epochs else '-'} "
            f"| {ref_epoch / epoch:.2f}x | {val} | {test} | {r['note']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
