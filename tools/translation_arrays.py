"""Chapter 11 translation, trained on an accelerator machine that has no TensorFlow.

Three steps, so the text processing (TensorFlow's `TextVectorization`) stays
on the machine that has TensorFlow and the training runs under any Keras
backend, e.g. JAX on a GPU:

    # 1. here: split, adapt the vectorizers, tokenize to arrays (a few MB)
    python tools/translation_arrays.py prepare --data-dir ../shared/datasets/spa-eng.zip \
        --out output/accel
    # 2. on the accelerator (KERAS_BACKEND=jax, no TensorFlow needed)
    KERAS_BACKEND=jax python tools/translation_arrays.py train \
        --arrays output/accel/arrays.npz --out $OUT --epochs 30
    # 3. here: put the trained weights into the translator and evaluate on the test split
    python tools/translation_arrays.py assemble --prepared output/accel \
        --weights $OUT --out output/accel/trained
    # 3'. or, when the weights are too large to bring back (the GRU models:
    #     35M parameters): score the test outputs `train` wrote beside them
    python tools/translation_arrays.py score --prepared output/accel \
        --outputs $OUT --out output/accel/gru

`train` ends by evaluating the best checkpoint on the test arrays: next-token
accuracy both ways (history.json) and the greedy translations as token ids
(test_outputs.npz), which `score` turns into text and sacreBLEU/chrF here.

`--model transformer` (default) is the book's Transformer (embed 256, dense
2048, 8 heads, one encoder and one decoder layer, dropout 0.5, rmsprop, batch
64) with this package's default `key_dim = embed_dim // num_heads`; `gru` and
`gru-attention` are the book's GRU encoder-decoder and the same with Luong
attention (`keras_transformer.translation.models`).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

CHUNK_BYTES = 15 * 2**20  # files that come back from a device are at most 16 MiB


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    prepare = sub.add_parser("prepare", help="split, adapt vectorizers, tokenize to arrays (needs TensorFlow)")
    prepare.add_argument("--data-dir", default=None, help="spa-eng.zip or its folder (default: download)")
    prepare.add_argument("--out", required=True, help="folder for arrays.npz and the untrained translator")
    prepare.add_argument("--seed", type=int, default=1337, help="split seed (default 1337)")

    train = sub.add_parser("train", help="train on the arrays under any Keras backend")
    train.add_argument("--arrays", required=True, help="arrays.npz written by prepare")
    train.add_argument("--model", default="transformer", choices=MODELS, help="model to train (default transformer)")
    train.add_argument("--out", required=True, help="folder for the weight chunks and history.json")
    train.add_argument("--epochs", type=int, default=30, help="epochs (the book: 30)")
    train.add_argument("--batch-size", type=int, default=64, help="batch size (the book: 64)")
    train.add_argument("--seed", type=int, default=1337, help="seed for initialization and shuffling")
    train.add_argument("--optimizer", choices=("rmsprop", "adam", "adamw"), default="rmsprop",
                       help="optimizer (default rmsprop, the book's)")
    train.add_argument("--learning-rate", type=float, default=None, help="starting rate (default: the optimizer's)")
    train.add_argument("--lr-schedule", choices=("constant", "cosine"), default="constant",
                       help="constant (the book's) or a cosine decay to zero over --epochs")
    train.add_argument(
        "--time-budget", type=float, default=None,
        help="stop after the epoch that passes this many seconds (the epochs run are reported)",
    )
    train.add_argument("--hard-time-limit", type=float, default=None,
                       help="also stop inside an epoch after this many seconds (default: never)")
    train.add_argument("--precision", default="float32", choices=["float32", "mixed_bfloat16", "mixed_float16"],
                       help="compute precision (float32 is the book's)")
    train.add_argument("--limit", type=int, default=None, help="use only the first N pairs of each split (smoke tests)")
    train.add_argument("--steps-per-execution", type=int, default=32,
                       help="training steps per compiled call (less dispatch overhead)")
    train.add_argument("--no-weights", action="store_true",
                       help="do not write the weight chunks (e.g. the GRU models, too large to bring back)")
    train.add_argument("--eval-batch-size", type=int, default=512, help="batch size of the test evaluation")

    score = sub.add_parser("score", help="turn train's test outputs into text and score them (needs TensorFlow)")
    score.add_argument("--prepared", required=True, help="the prepare --out folder (for the vocabulary)")
    score.add_argument("--outputs", required=True, help="the train --out folder (history.json, test_outputs.npz)")
    score.add_argument("--out", required=True, help="folder for results.json")
    score.add_argument("--data-dir", default=None, help="spa-eng.zip or its folder (for the test references)")

    assemble = sub.add_parser("assemble", help="load trained weights into the translator and evaluate (needs TensorFlow)")
    assemble.add_argument("--prepared", required=True, help="the prepare --out folder")
    assemble.add_argument("--weights", required=True,
                          help="the train --out folder, or a best-checkpoint .weights.h5 file")
    assemble.add_argument("--out", required=True, help="folder for the trained translator and results.json")
    assemble.add_argument("--data-dir", default=None, help="spa-eng.zip or its folder (for the test split)")
    assemble.add_argument("--eval-limit", type=int, default=None, help="evaluate on the first N test pairs only")
    assemble.add_argument("--method", choices=["greedy", "beam", "reference"], default="greedy",
                          help="decoding for BLEU/chrF (greedy: cached; beam: --beam-size, length penalty 0.6)")
    assemble.add_argument("--beam-size", type=int, default=4, help="beam size for --method beam")
    return parser.parse_args(argv)


MODELS = ("transformer", "gru", "gru-attention")


def build_model(name="transformer"):
    from keras_transformer.translation.models import build_translation_model

    if name == "transformer":
        return build_translation_model("transformer", key_dim=None)
    return build_translation_model(name)


def prepare(args):
    from keras_transformer.translation.pairs import load_pairs, split_pairs, wrap_target
    from keras_transformer.translation.vocabulary import make_vectorizers
    from keras_transformer.translation.translator import Translator

    loaded = load_pairs(args.data_dir)
    train, val, test = split_pairs(loaded.pairs, seed=args.seed)
    source_vec, target_vec = make_vectorizers(train)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def tokenize(pairs):
        source = np.asarray(source_vec([e for e, _ in pairs]), dtype="int16")
        target = np.asarray(target_vec([wrap_target(s) for _, s in pairs]), dtype="int16")
        return source, target

    arrays = {}
    for name, pairs in (("train", train), ("val", val), ("test", test)):
        arrays[f"{name}_source"], arrays[f"{name}_target"] = tokenize(pairs)
    vocabulary = target_vec.get_vocabulary()
    arrays["start_id"] = np.int32(vocabulary.index("[start]"))
    arrays["end_id"] = np.int32(vocabulary.index("[end]"))
    np.savez_compressed(out / "arrays.npz", **arrays)
    Translator(build_model(), source_vec, target_vec, "transformer").save(out / "translator")
    print(f"{len(train)} train, {len(val)} val, {len(test)} test pairs ({loaded.skipped} skipped); "
          f"arrays in {out / 'arrays.npz'}")


class TimeBudget:
    """Stop training after the epoch in which `seconds` have passed.

    Also stops inside an epoch once `hard_seconds` have passed (an epoch far
    slower than expected must not outlive a lease), and prints the step count
    and elapsed time every `report_seconds`, so a slow epoch shows in the log.
    """

    def __new__(cls, seconds, hard_seconds=None, report_seconds=30):
        import keras

        class _TimeBudget(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.start = self.last_report = time.perf_counter()
                self.steps = 0
                self.stopped_inside_epoch = False

            def on_train_batch_end(self, batch, logs=None):
                self.steps = batch + 1
                now = time.perf_counter()
                if now - self.last_report > report_seconds:
                    self.last_report = now
                    print(f"  step {self.steps}, {now - self.start:.0f}s", flush=True)
                if hard_seconds and now - self.start > hard_seconds:
                    print(f"hard time limit of {hard_seconds:.0f}s reached inside an epoch, at step {self.steps}")
                    self.stopped_inside_epoch = True
                    self.model.stop_training = True

            def on_epoch_end(self, epoch, logs=None):
                if time.perf_counter() - self.start > seconds:
                    print(f"time budget of {seconds:.0f}s reached after epoch {epoch + 1}", flush=True)
                    self.model.stop_training = True

        return _TimeBudget()


def save_weight_chunks(weights, out):
    """Weights as float32 .npz files of at most CHUNK_BYTES each."""
    chunks, current, size = [], {}, 0
    for i, w in enumerate(weights):
        if current and size + w.nbytes > CHUNK_BYTES:
            chunks.append(current)
            current, size = {}, 0
        current[f"w{i:03d}"] = w
        size += w.nbytes
    chunks.append(current)
    for n, chunk in enumerate(chunks):
        np.savez(Path(out) / f"weights-{n}.npz", **chunk)
    return len(chunks)


def load_weight_chunks(folder):
    merged = {}
    for path in sorted(Path(folder).glob("weights-*.npz")):
        with np.load(path) as data:
            merged.update({k: data[k] for k in data.files})
    return [merged[k] for k in sorted(merged)]


def load_trained_weights(model, weights):
    """Weights from `train`'s folder of chunks, or from its best-checkpoint .weights.h5 file."""
    if str(weights).endswith(".weights.h5"):
        model.load_weights(weights)
    else:
        model.set_weights(load_weight_chunks(weights))


def train(args):
    import keras

    from keras_transformer.training.distribute import set_precision
    from keras_transformer.training import EpochCounter, TrainingRun, count_batches
    from keras_transformer.training.optimizers import make_optimizer

    keras.utils.set_random_seed(args.seed)
    set_precision(args.precision)
    data = np.load(args.arrays)

    def split(name):
        source = data[f"{name}_source"][: args.limit].astype("int32")
        target = data[f"{name}_target"][: args.limit].astype("int32")
        return {"english": source, "spanish": target[:, :-1]}, target[:, 1:]

    counter = EpochCounter(seed=args.seed)  # each epoch's order and dropout set by (seed, epoch)
    train_data, val_data = _datasets(split("train"), split("val"), args, epoch=counter.variable)
    decay_steps = None
    if args.lr_schedule == "cosine":
        if isinstance(train_data, tuple):  # arrays, batched by fit
            steps = -(-len(train_data[1]) // args.batch_size)
        else:  # batched by length: one pass counts the batches
            steps = count_batches(train_data)
        decay_steps = steps * args.epochs
    model = build_model(args.model)
    model.compile(
        optimizer=make_optimizer(args.optimizer, args.learning_rate, decay_steps),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=args.steps_per_execution,
    )

    # The package's one training path: best validation checkpoint, resume, NaN stop, history.
    run = TrainingRun(args.out)
    out = run.output_dir
    callbacks = [counter] + ([TimeBudget(args.time_budget, args.hard_time_limit)] if args.time_budget else [])
    start = time.perf_counter()
    if isinstance(train_data, tuple):  # arrays: inputs and targets passed apart
        fit_data = {"y": train_data[1], "batch_size": args.batch_size, "shuffle": True}
        train_data = train_data[0]
    else:
        fit_data = {}
    if run.needs_training:
        run.fit(model, train_data, args.epochs, validation_data=val_data, callbacks=callbacks, verbose=2, **fit_data)
    seconds = time.perf_counter() - start
    model = run.best_model(compile=False)
    chunks = 0 if args.no_weights else save_weight_chunks(model.get_weights(), out)
    trained, history = run.summary()
    summary = {
        "model": args.model,
        "precision": args.precision,
        "optimizer": args.optimizer,
        "learning_rate": args.learning_rate,
        "lr_schedule": args.lr_schedule,
        "backend": keras.backend.backend(),
        "devices": _devices(),
        "epochs_run": trained["epochs_run"],
        "best_epoch": trained["best_epoch"],
        "best_epoch_val_accuracy": trained["best_monitor"],
        "train_seconds": round(seconds, 1),
        "history": history,
        "weight_files": chunks,
        "command": " ".join(sys.argv),
    }
    (out / "history.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=2), flush=True)
    summary.update(evaluate_arrays(model, data, args, out))
    (out / "history.json").write_text(json.dumps(summary, indent=2))


def evaluate_arrays(model, data, args, out):
    """The best checkpoint on the test arrays: next-token accuracies and greedy ids.

    Writes ``test_outputs.npz`` (``greedy``: ``(N, 20)`` generated ids, 0 after
    ``[end]``) and returns the accuracies (see ``keras_transformer.translation.scoring``).
    """
    import keras

    from keras_transformer.translation.decoding import Decoder
    from keras_transformer.translation.scoring import next_token_accuracies

    start = time.perf_counter()
    source = data["test_source"][: args.limit].astype("int32")
    target = data["test_target"][: args.limit].astype("int32")
    decoder_inputs, targets = target[:, :-1], target[:, 1:]
    predicted_ids = keras.ops.argmax(model.outputs[0], axis=-1)
    argmax_model = keras.Model(model.inputs, predicted_ids)
    predicted = argmax_model.predict(
        {"english": source, "spanish": decoder_inputs}, batch_size=args.eval_batch_size, verbose=0
    )
    counts = next_token_accuracies(decoder_inputs, targets, np.asarray(predicted))
    accuracy_seconds = time.perf_counter() - start

    decoder = Decoder(model, int(data["start_id"]), int(data["end_id"]), max_length=target.shape[1] - 1)
    batch = args.eval_batch_size
    generated = []
    start = time.perf_counter()
    for begin in range(0, len(source), batch):
        rows = source[begin : begin + batch]
        padded = np.zeros((batch, rows.shape[1]), "int32")  # one shape, one compilation
        padded[: len(rows)] = rows
        tokens = keras.ops.convert_to_numpy(decoder.greedy(padded))
        generated.append(tokens[: len(rows)].astype("int16"))
    np.savez_compressed(Path(out) / "test_outputs.npz", greedy=np.concatenate(generated))
    results = {
        "test_pairs": len(source),
        "test_accuracy_keras": counts["keras"][0] / counts["keras"][1],
        "test_accuracy_tokens": counts["tokens"][0] / counts["tokens"][1],
        "test_accuracy_seconds": round(accuracy_seconds, 1),
        "test_greedy_seconds": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(results, indent=2), flush=True)
    return results


def _datasets(train, val, args, epoch=None):
    """Arrays as they are, or on TensorFlow, shuffled tf.data batches cut to their longest row.

    Cutting all-padding columns changes no masked loss or prediction (the
    model is padding invariant), and most pairs are far shorter than 20 tokens.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return train, val
    from keras_transformer.translation.pairs import batch_pairs_by_length

    from keras_transformer.data.batching import batched

    def batches(pair, shuffle):
        return batched(pair, lambda d: batch_pairs_by_length(d, args.batch_size, pair[1].shape[1]),
                       shuffle=shuffle, seed=args.seed, epoch=epoch)

    return batches(train, True), batches(val, False)


def _devices():
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return [d.device_kind for d in jax.devices()]
    import platform

    return [f"{platform.machine()} CPU x{os.cpu_count()}"]


def assemble(args):
    from keras_transformer.translation.pairs import load_pairs, split_pairs
    from keras_transformer.training.files import write_json
    from keras_transformer.translation.translator import Translator

    translator = Translator.load(Path(args.prepared) / "translator")
    load_trained_weights(translator.model, args.weights)
    out = Path(args.out)
    if not (out / "translator").exists():
        translator.save(out / "translator")
    _, _, test = split_pairs(load_pairs(args.data_dir).pairs, seed=1337)
    if args.eval_limit:
        test = test[: args.eval_limit]
    start = time.perf_counter()
    results = translator.evaluate(test, method=args.method, beam_size=args.beam_size)
    results["eval_seconds"] = round(time.perf_counter() - start, 1)
    history_file = Path(args.weights) / "history.json"
    training = json.loads(history_file.read_text()) if history_file.exists() else {"weights": args.weights}
    samples = list(zip([e for e, _ in test[:10]], results["hypotheses"][:10], results["references"][:10]))
    summary = {
        "model": "transformer (key_dim=32)",
        "decoding": args.method if args.method != "beam" else f"beam {args.beam_size}, length penalty 0.6",
        "test_pairs": len(test),
        **{k: results[k] for k in results if k not in ("hypotheses", "references")},
        "training": {k: v for k, v in training.items() if k != "history"},
        "samples": samples,
    }
    write_json(out / f"results-{args.method}.json", summary)
    print(json.dumps({k: v for k, v in summary.items() if k != "samples"}, indent=2))
    for english, hypothesis, reference in samples:
        print(f"{english}\n  -> {hypothesis}\n  (reference: {reference})")


def score(args):
    from keras_transformer.translation.pairs import load_pairs, split_pairs
    from keras_transformer.translation.decoding import to_token_lists
    from keras_transformer.translation.scoring import corpus_scores
    from keras_transformer.training.files import write_json
    from keras_transformer.translation.translator import Translator
    from keras_transformer.translation.vocabulary import prepare_reference

    translator = Translator.load(Path(args.prepared) / "translator")
    training = json.loads((Path(args.outputs) / "history.json").read_text())
    with np.load(Path(args.outputs) / "test_outputs.npz") as outputs:
        generated = outputs["greedy"]
    _, _, test = split_pairs(load_pairs(args.data_dir).pairs, seed=1337)
    test = test[: len(generated)]
    hypotheses = translator.texts(to_token_lists(generated, translator.end_id))
    references = [prepare_reference(s) for _, s in test]
    samples = list(zip([e for e, _ in test[:10]], hypotheses[:10], references[:10]))
    summary = {
        "model": training.get("model", "transformer"),
        "decoding": "greedy (cached)",
        "test_pairs": len(test),
        "accuracy_keras": training["test_accuracy_keras"],
        "accuracy_tokens": training["test_accuracy_tokens"],
        **corpus_scores(hypotheses, references),
        "training": {k: v for k, v in training.items() if k != "history"},
        "val_accuracy_by_epoch": training["history"].get("val_accuracy"),
        "samples": samples,
    }
    Path(args.out).mkdir(parents=True, exist_ok=True)
    write_json(Path(args.out) / "results.json", summary)
    print(json.dumps({k: v for k, v in summary.items() if k != "samples"}, indent=2))
    for english, hypothesis, reference in samples:
        print(f"{english}\n  -> {hypothesis}\n  (reference: {reference})")


def main(argv=None):
    args = parse_args(argv)
    {"prepare": prepare, "train": train, "assemble": assemble, "score": score}[args.command](args)


if __name__ == "__main__":
    main()
