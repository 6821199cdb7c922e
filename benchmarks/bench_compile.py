"""Compilations per epoch, and their seconds, before and after fixed batch shapes.

A compiling backend builds a step function for each new input shape: JAX always, TensorFlow
under XLA (``--set jit_compile=on``, and Keras's ``"auto"`` on an accelerator). Batches cut by
length to their longest example, the last of each length bucket smaller, give it dozens to
hundreds of shapes per epoch. "after" is what the chapter runs do now where each shape
compiles: widths padded to a multiple of ``width_multiple`` (64 for IMDB, 8 for translation)
and every batch filled to the batch size (``fixed_batch``), validation at the training shapes,
decoding batches filled to 256 sentences at widths of 8.

For each chapter model at the book's sizes and batch sizes (IMDB ``transformer-positional``;
translation ``transformer``) and each backend, it prints:

* compilations per epoch: the distinct batch shapes of one training epoch and one validation
  pass (each is an XLA or ``jax.jit`` compilation), and of decoding the test split as
  ``Translator.translate`` batches it (TensorFlow decodes 256 sentences without XLA: its
  ``tf.function`` traces at most twice, then takes any shape);
* seconds per compilation: the first call at a new shape minus a warm call at that shape, for
  ``train_on_batch``, ``test_on_batch`` and the greedy decoding loop, the mean of two shapes
  measured after one warm-up shape (the same function before and after);
* compile seconds per epoch: compilations x seconds per compilation.

Shapes are counted in this process (TensorFlow feeds the data either way); each backend times
its compilations in a process of its own. Without ``--imdb``/``--spa-eng`` the data are generated
(random words, lengths drawn like the real ones')::

    python benchmarks/bench_compile.py --imdb ../shared/datasets/aclImdb_labeled.tar.gz \\
        --spa-eng ../shared/datasets/spa-eng.zip
    python benchmarks/bench_compile.py --tiny     # tiny models and data: a check that it runs
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BACKENDS = ("tensorflow", "jax")
COMPILED = {"imdb": 64, "translation": 8}  # the width multiples where each shape compiles
DECODE_BATCH = 256  # Translator.translate's batch
XLA_LABEL = {"tensorflow": "TensorFlow + XLA", "jax": "JAX"}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--imdb", metavar="PATH", help="aclImdb archive or folder (default: generated reviews)")
    parser.add_argument("--spa-eng", metavar="PATH", help="spa-eng.zip (default: generated pairs)")
    parser.add_argument("--examples", type=int, default=None, metavar="N",
                        help="count shapes on the first N training examples (and N/4 held out); default all")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--chapters", nargs="+", choices=tuple(COMPILED), default=list(COMPILED))
    parser.add_argument("--tiny", action="store_true",
                        help="tiny models, generated data, one shape timed: a check that it runs (a few minutes)")
    parser.add_argument("--json", metavar="FILE", help="also write the numbers to FILE")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # a backend's timing process: its spec file
    return parser.parse_args(argv)


# -- the data and their shapes (this process, TensorFlow feeding) --------------------


def _words(rng, lengths, vocabulary):
    return [" ".join(f"w{k}" for k in rng.zipf(1.3, size=n) % vocabulary) for n in lengths]


def imdb_splits(args, rng):
    from keras_transformer.classification.data import TextSplit, load_imdb_texts

    if args.imdb and not args.tiny:
        train, val, test = load_imdb_texts(args.imdb)
    else:  # IMDB reviews: about 230 words on average, a long tail past 600
        n = 200 if args.tiny else 2000

        def split(count):
            lengths = rng.lognormal(5.2, 0.75, size=count).astype(int).clip(10, 2500)
            return TextSplit(_words(rng, lengths, 30000), [int(i % 2) for i in range(count)])

        train, val, test = split(n), split(n // 4), split(n // 4)
    if args.examples:
        cut = lambda s, k: type(s)(s.texts[:k], s.labels[:k])  # noqa: E731
        train, val = cut(train, args.examples), cut(val, max(args.examples // 4, 1))
    return train, val, test


def translation_splits(args, rng):
    from keras_transformer.translation.pairs import load_pairs, split_pairs

    if args.spa_eng and not args.tiny:
        pairs = load_pairs(args.spa_eng).pairs
    else:  # Tatoeba pairs: about 6 words a side, up to 40
        lengths = rng.lognormal(1.75, 0.45, size=600 if args.tiny else 8000).astype(int).clip(1, 40)
        english = _words(rng, lengths, 8000)
        spanish = _words(rng, (lengths + rng.integers(-1, 2, size=len(lengths))).clip(1, 40), 8000)
        pairs = list(zip(english, spanish))
    train, val, test = split_pairs(pairs)
    if args.examples:
        train, val = train[: args.examples], val[: max(args.examples // 4, 1)]
    return train, val, test


def shapes_of(dataset):
    """The distinct batch shapes of one pass: ``(rows, width)`` or ``(rows, source width, target width)``."""
    seen = []
    for element in dataset:
        x = element[0]
        shape = (x["english"].shape[0], x["english"].shape[1], x["spanish"].shape[1]) if isinstance(x, dict) \
            else tuple(x.shape)
        if shape not in seen:
            seen.append(tuple(int(d) for d in shape))
    return seen


def decoding_shapes(source_ids, width_multiple, fixed_batch):
    """The `(rows, width)` shapes ``Translator.translate`` decodes ``source_ids`` at, in order."""
    import numpy as np

    from keras_transformer.translation.decoding import decode_by_length

    ids = source_ids[np.any(source_ids != 0, axis=1)]  # translate() skips empty sources
    seen = []

    def record(batch):
        if batch.shape not in seen:
            seen.append(tuple(batch.shape))
        return np.zeros((len(batch), 1), "int32")

    decode_by_length(record, ids, DECODE_BATCH, width_multiple, fixed_batch)
    return seen


def tf_decoding_compilations(shapes):
    """Under TensorFlow the decoder runs XLA below 16 rows (each shape compiles) and a plain
    ``tf.function`` above (``reduce_retracing``: a first trace, then one for any shape)."""
    from keras_transformer.translation.decoding import XLA_MAX_ROWS

    xla = [s for s in shapes if s[0] < XLA_MAX_ROWS]
    return len(xla) + min(2, len(shapes) - len(xla))


def pick(shapes, count=3):
    """A warm-up shape, then `count - 1` others: the narrowest first (cheap to run)."""
    ordered = sorted(shapes, key=lambda s: (sum(s[1:]), -s[0]))
    return ordered[:count]


def prepare(args, folder):
    """Count every variant's shapes; save sample batches for the timing processes."""
    import numpy as np

    from keras_transformer import recipes

    rng = np.random.default_rng(0)
    spec = {"tiny": args.tiny, "chapters": {}}
    for chapter in args.chapters:
        book = recipes.settings(chapter)
        batch_size = 8 if args.tiny else book["batch_size"]
        counts, arrays = {}, {}
        if chapter == "imdb":
            from keras_transformer.classification.data import make_dataset, make_vectorizer

            train, val, _ = imdb_splits(args, rng)
            vocab, length = (200, 120) if args.tiny else (book["vocab_size"], book["sequence_length"])
            vectorizer = make_vectorizer(book["model"], vocab, length)
            vectorizer.adapt(train.texts)

            def datasets(multiple, fixed):
                return [make_dataset(book["model"], vectorizer, split, batch_size, shuffle=split is train, seed=1337,
                                     width_multiple=multiple, fixed_batch=fixed) for split in (train, val)]

            sizes = {"vocab_size": vocab, "sequence_length": length}
            examples = (len(train.texts), len(val.texts))
        else:
            from keras_transformer.translation.pairs import make_dataset
            from keras_transformer.translation.vocabulary import make_vocabularies

            train, val, test = translation_splits(args, rng)
            vocab, length = (60, 12) if args.tiny else (book["vocab_size"], book["sequence_length"])
            source_vocab, target_vocab = make_vocabularies(book["tokenizer"], train, vocab, length)

            def datasets(multiple, fixed):
                return [make_dataset(split, source_vocab, target_vocab, batch_size, shuffle=split is train, seed=1337,
                                     by_length=True, width_multiple=multiple, fixed_batch=fixed)
                        for split in (train, val)]

            source_ids = np.asarray(source_vocab(np.array([english for english, _ in test])))
            sizes = {"source_vocab": source_vocab.vocabulary_size(), "target_vocab": target_vocab.vocabulary_size(),
                     "sequence_length": source_vocab.sequence_length, "start_id": target_vocab.start_id,
                     "end_id": target_vocab.end_id, "max_length": target_vocab.sequence_length - 1}
            examples = (len(train), len(val), len(test))
            before, after = decoding_shapes(source_ids, 4, False), decoding_shapes(source_ids, 8, True)
            counts["decode"] = {"before": before, "after": after}
            lengths = np.sum(source_ids != 0, axis=1)
            # Sources to time: the longest that fit each width, as many as its rows.
            for i, shape in enumerate(pick(after, 2 if args.tiny else 3)):
                fitting = np.argsort(lengths, kind="stable")
                fitting = fitting[(lengths[fitting] <= shape[1]) & (lengths[fitting] > 0)]
                arrays[f"decode_{i}"] = source_ids[np.resize(fitting[::-1], shape[0])][:, : shape[1]]
        for name, (multiple, fixed) in {"tensorflow-before": (1, False), "jax-before": (COMPILED[chapter], False),
                                        "after": (COMPILED[chapter], True)}.items():
            begin = time.perf_counter()
            train_ds, val_ds = datasets(multiple, fixed)
            counts[name] = {"train": shapes_of(train_ds), "val": shapes_of(val_ds),
                            "batches": int(train_ds.cardinality()), "count_s": time.perf_counter() - begin}
            if name == "after":  # the batches the timing processes compile, one per shape
                wanted = pick(counts[name]["train"], 2 if args.tiny else 3)
                for element in train_ds:
                    x = element[0]
                    shape = shapes_of([element])[0]
                    if shape in wanted:
                        i = wanted.index(shape)
                        wanted[i] = None
                        if isinstance(x, dict):
                            arrays.update({f"train_{i}_english": x["english"].numpy(),
                                           f"train_{i}_spanish": x["spanish"].numpy()})
                        else:
                            arrays[f"train_{i}_x"] = x.numpy()
                            arrays[f"train_{i}_w"] = element[2].numpy()
                        arrays[f"train_{i}_y"] = element[1].numpy()
        np.savez(Path(folder) / f"{chapter}.npz", **arrays)
        spec["chapters"][chapter] = {"counts": counts, "sizes": sizes, "batch_size": batch_size,
                                     "examples": examples}
    return spec


# -- the timings (one process per backend) -----------------------------------------


def _first_minus_warm(call, *args):
    begin = time.perf_counter()
    call(*args)
    first = time.perf_counter() - begin
    warm = []
    for _ in range(2):
        begin = time.perf_counter()
        call(*args)
        warm.append(time.perf_counter() - begin)
    return first - min(warm)


def time_compilations(spec_file):
    import keras
    import numpy as np

    spec = json.loads(Path(spec_file).read_text())
    folder = Path(spec_file).parent
    tiny, backend = spec["tiny"], keras.backend.backend()
    keras.utils.set_random_seed(0)
    out = {}
    for chapter, info in spec["chapters"].items():
        arrays = np.load(folder / f"{chapter}.npz")
        sizes = info["sizes"]
        traces = {"train": 0, "test": 0}
        if chapter == "imdb":
            from keras_transformer.classification.models import build_classifier

            small = dict(embed_dim=8, dense_dim=8) if tiny else {}
            model = build_classifier("transformer-positional", vocab_size=sizes["vocab_size"],
                                     sequence_length=sizes["sequence_length"], fixed_batch=True, **small)
            batches = [(arrays[f"train_{i}_x"], arrays[f"train_{i}_y"], arrays[f"train_{i}_w"])
                       for i in range(3) if f"train_{i}_x" in arrays]
        else:
            from keras_transformer.translation.models import build_translation_model, compile_translation_model

            small = dict(embed_dim=16, dense_dim=16, num_heads=2) if tiny else {}
            model = build_translation_model("transformer", sizes["source_vocab"], sizes["target_vocab"],
                                            sizes["sequence_length"], compile=False, **small)
            compile_translation_model(model)
            batches = [({"english": arrays[f"train_{i}_english"], "spanish": arrays[f"train_{i}_spanish"]},
                        arrays[f"train_{i}_y"]) for i in range(3) if f"train_{i}_y" in arrays]
        if backend == "tensorflow":
            model.jit_compile = True  # --set jit_compile=on
        else:  # count jax.jit's traces: the step functions run in Python only while tracing
            for name in traces:
                step = getattr(model, f"{name}_step")

                def counted(*a, _step=step, _name=name):
                    traces[_name] += 1
                    return _step(*a)

                setattr(model, f"{name}_step", counted)
        result = {}
        for name, call in (("train", model.train_on_batch), ("val", model.test_on_batch)):
            seconds = [_first_minus_warm(call, *batch) for batch in batches]
            result[name] = {"warm_up_s": seconds[0], "seconds": seconds[1:]}
        if backend == "jax":  # fit over the compiled shapes, two epochs with validation: no new trace
            import tensorflow as tf

            before = dict(traces)
            data = tf.data.Dataset.from_generator(lambda: iter(batches), output_signature=tf.nest.map_structure(
                lambda a: tf.TensorSpec(a.shape[:1] + (None,) * (a.ndim - 1), tf.as_dtype(a.dtype)), batches[0]))
            data = data.apply(tf.data.experimental.assert_cardinality(len(batches)))
            per_epoch = []

            class Traces(keras.callbacks.Callback):
                def on_epoch_end(self, epoch, logs=None):
                    per_epoch.append(dict(traces))

            model.fit(data, validation_data=data, epochs=2, verbose=0, shuffle=False, callbacks=[Traces()])
            # fit passes no sample weights where train_on_batch passed None: a new trace in epoch 1 at most.
            result["fit_traces_per_epoch"] = [{k: now[k] - then[k] for k in traces}
                                              for then, now in zip([before, *per_epoch], per_epoch)]
            result["traces_timed"] = before
        if chapter == "translation":
            from keras_transformer.translation.decoding import Decoder

            decoder = Decoder(model, sizes["start_id"], sizes["end_id"], sizes["max_length"])
            sources = [arrays[f"decode_{i}"] for i in range(3) if f"decode_{i}" in arrays]
            seconds, traced = [], []
            for source in sources:
                count = decoder.trace_count
                seconds.append(_first_minus_warm(decoder.greedy, source))
                traced.append(decoder.trace_count > count)
            result["decode"] = {"warm_up_s": seconds[0], "seconds": [s for s, t in zip(seconds[1:], traced[1:]) if t],
                                "untraced_s": [s for s, t in zip(seconds[1:], traced[1:]) if not t],
                                "traces": decoder.trace_count}
        out[chapter] = result
    return out


# -- the table ---------------------------------------------------------------------


def _mean(values):
    return sum(values) / len(values) if values else 0.0


def rows(spec, timings):
    table = []
    for chapter, info in spec["chapters"].items():
        counts = info["counts"]
        for backend in timings:
            timed = timings[backend][chapter]
            per = {k: _mean(timed[k]["seconds"]) if k in timed else None for k in ("train", "val", "decode")}
            if per["decode"] == 0.0 and "decode" in timed:  # TensorFlow traced no more: the warm-up's trace
                per["decode"] = timed["decode"]["warm_up_s"]
            for when in ("before", "after"):
                shapes = counts[f"{backend}-before" if when == "before" else "after"]
                n = {"train": len(shapes["train"]), "val": len(shapes["val"])}
                if "decode" in counts:
                    decode = counts["decode"][when]
                    n["decode"] = tf_decoding_compilations(decode) if backend == "tensorflow" else len(decode)
                multiple = 1 if when == "before" and backend == "tensorflow" else COMPILED[chapter]
                table.append({
                    "chapter": chapter, "backend": backend, "when": when, "width_multiple": multiple,
                    "fixed_batch": when == "after", "batches": shapes["batches"], "compilations": n,
                    "seconds_per": per, "compile_s": {k: n[k] * per[k] for k in n},
                })
    return table


def markdown(table):
    lines = ["| model, backend | batches | compilations: train / validation / decoding | s per compilation "
             "(train / val / decode) | compile s: epoch (train + val) / decoding |",
             "|---|---|---:|---:|---:|"]
    for row in table:
        n, per, s = row["compilations"], row["seconds_per"], row["compile_s"]
        name = {"imdb": "IMDB", "translation": "translation"}[row["chapter"]]
        what = (f"{row['when']}: widths x{row['width_multiple']}"
                + (", batch fixed" if row["fixed_batch"] else ", last batches partial"))
        has_decode = "decode" in n
        decodes = str(n["decode"]) if has_decode else "-"
        decode_per = f"{per['decode']:.1f}" if has_decode else "-"
        decode_s = f"{s['decode']:,.0f}" if has_decode else "-"
        lines.append(f"| {name}, {XLA_LABEL[row['backend']]} | {what} | {n['train']} / {n['val']} / {decodes} | "
                     f"{per['train']:.1f} / {per['val']:.1f} / {decode_per} | "
                     f"{s['train'] + s['val']:,.0f} / {decode_s} |")
    return "\n".join(lines)


def machine():
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} cores"


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(time_compilations(args.worker)))
        return None
    os.environ["KERAS_BACKEND"] = "tensorflow"  # counting shapes: TensorFlow feeds the data under both
    started, load_at_start = time.perf_counter(), os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        spec = prepare(args, folder)
        print(f"shapes counted in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        spec_file = Path(folder) / "spec.json"
        spec_file.write_text(json.dumps(spec))
        timings = {}
        for backend in args.backends:
            env = {**os.environ, "KERAS_BACKEND": backend}
            done = subprocess.run([sys.executable, __file__, "--worker", str(spec_file)], env=env,
                                  capture_output=True, text=True)
            result = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
            if done.returncode or not result:
                sys.exit(f"{backend} timing process failed:\n{done.stderr[-3000:]}")
            timings[backend] = json.loads(result[-1][len("RESULT "):])
            print(f"{backend} timed, {time.perf_counter() - started:.0f} s", file=sys.stderr)
    table = rows(spec, timings)
    import keras

    print(f"{datetime.date.today().isoformat()}, {machine()}, Keras {keras.__version__}; "
          f"{time.perf_counter() - started:.0f} s; load average {load_at_start:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end")
    for chapter, info in spec["chapters"].items():
        print(f"{chapter}: batch {info['batch_size']}, examples {info['examples']}")
    for backend, result in timings.items():
        for chapter, timed in result.items():
            extra = {k: timed[k] for k in ("fit_traces_per_epoch", "traces_timed") if k in timed}
            if "decode" in timed:
                extra["decode_traces"] = timed["decode"]["traces"]
            print(f"{backend} {chapter}: warm-up compile s train {timed['train']['warm_up_s']:.1f}, "
                  f"val {timed['val']['warm_up_s']:.1f}; {extra}")
    print()
    print(markdown(table))
    if args.json:
        Path(args.json).write_text(json.dumps({"spec": spec, "timings": timings, "rows": table}, indent=1))
    return table


if __name__ == "__main__":
    main()
