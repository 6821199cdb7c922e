"""Chapter 11, second part: English->Spanish translation with GRU, GRU + attention, Transformer.

Trains one model on the Tatoeba pairs (70/15/15 split, seed 1337), keeps the
best validation checkpoint, evaluates it on the test split (next-token
accuracy two ways, sacreBLEU and chrF), prints sample translations, and
writes results.json, curves.png and the saved translator to the output folder.

    python chapters/ch11_translation.py --model transformer --epochs 30 \\
        --data-dir ../shared/datasets/spa-eng.zip

Rerunning the same command after a kill resumes from the last finished epoch.
"""

import argparse
import datetime
import logging
import platform
import random
import shlex
import sys
from pathlib import Path

import keras

from keras_transformer import distribute, training
from keras_transformer.data.spa_eng import (
    load_pairs,
    make_dataset,
    make_vectorizers,
    split_pairs,
)
from keras_transformer.models.seq2seq import MODEL_NAMES, build_translation_model, compile_translation_model
from keras_transformer.translator import Translator, plot_attention

BOOK_EPOCHS = {"gru": 15, "gru-attention": 15, "transformer": 30}
BOOK_VAL_ACCURACY = {"gru": 0.64, "transformer": 0.67}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Train and evaluate an English->Spanish translator (chapter 11).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--model", required=True, choices=MODEL_NAMES, help="which seq2seq model to train"
    )
    training.add_training_arguments(parser, epochs=None, batch_size=64)
    for action in parser._actions:
        if action.dest == "epochs":
            action.help = "training epochs (default: the book's, 15 for GRU models, 30 for the Transformer)"
    parser.add_argument(
        "--eval-limit",
        type=int,
        default=None,
        help="translate only the first N test pairs for BLEU/chrF (greedy decoding is "
        "slow); accuracy always uses the whole test split (default: all)",
    )
    parser.add_argument("--samples", type=int, default=10, help="random test sentences to print translated")
    parser.add_argument(
        "--method", choices=("greedy", "beam"), default="greedy",
        help="decoding for BLEU/chrF and the printed samples (the accuracies do not depend on it)",
    )
    parser.add_argument("--beam-size", type=int, default=4, help="beams of --method beam")
    parser.add_argument(
        "--length-penalty", type=float, default=0.6,
        help="--method beam ranks beams by log p / ((5 + length) / 6) ** this (GNMT's 0.6)",
    )
    parser.add_argument(
        "--vocab-size", type=int, default=15000, help="source and target vocabulary size (book: 15000)"
    )
    parser.add_argument(
        "--sequence-length", type=int, default=20, help="tokens per sentence (book: 20)"
    )
    parser.add_argument(
        "--full-padding",
        action="store_true",
        help="pad every batch to --sequence-length as the book does, instead of "
        "batching pairs of similar length and cutting each batch to its longest "
        "(same per-pair loss and predictions, slower)",
    )
    parser.add_argument(
        "--key-dim",
        type=int,
        default=None,
        help="transformer attention head size (default: the book's, embed_dim = 256; "
        "32 = embed_dim / num_heads is the paper's and faster)",
    )
    parser.add_argument(
        "--steps-per-execution",
        type=int,
        default=1,
        help="training steps per compiled call (e.g. 16: less per-step overhead on CPU)",
    )
    parser.add_argument(
        "--train-limit",
        type=int,
        default=None,
        help="use only the first N training pairs (smoke tests; default: all)",
    )
    parser.add_argument(
        "--attend",
        default=None,
        metavar="SENTENCE",
        help="English sentence whose cross-attention heatmap is written to attention.png "
        "(transformer and gru-attention only)",
    )
    distribute.add_scale_arguments(parser)
    training.add_optimizer_arguments(parser)
    parser.add_argument(
        "--skip-training",
        action="store_true",
        help="evaluate the best checkpoint already in --output-dir without training",
    )
    args = parser.parse_args(argv)
    if args.key_dim is not None and args.model != "transformer":
        parser.error("--key-dim applies to --model transformer only")
    if args.steps_per_execution < 1:
        parser.error("--steps-per-execution must be at least 1")
    if args.beam_size < 1:
        parser.error("--beam-size must be at least 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    training.set_seed(args.seed, args.deterministic)
    epochs = args.epochs if args.epochs is not None else BOOK_EPOCHS[args.model]
    output_dir = Path(args.output_dir or training.default_output_dir("ch11_translation", args.model))
    # Only the chief of a multi-worker run writes into --output-dir.
    output_dir = Path(distribute.worker_output_dir(output_dir))
    output_dir.mkdir(parents=True, exist_ok=True)
    distribute.set_precision(args.precision)
    strategy = distribute.make_strategy(args.strategy, args.tpu)
    batch_size = distribute.global_batch_size(args.batch_size, strategy)

    pairs, skipped = load_pairs(args.data_dir)
    train_pairs, val_pairs, test_pairs = split_pairs(pairs)
    if args.train_limit:
        train_pairs = train_pairs[: args.train_limit]
    print(
        f"{len(pairs)} pairs ({skipped} malformed skipped): {len(train_pairs)} train, "
        f"{len(val_pairs)} validation, {len(test_pairs)} test"
    )
    source_vec, target_vec = make_vectorizers(train_pairs, args.vocab_size, args.sequence_length)

    def dataset(split, shuffle):
        return make_dataset(
            split, source_vec, target_vec, batch_size, shuffle, seed=args.seed, by_length=not args.full_padding
        )

    checkpoint = output_dir / "best.keras"
    train_seconds = None
    if not args.skip_training:
        train_ds = dataset(train_pairs, True)
        decay_steps = training.count_batches(train_ds) * epochs if args.lr_schedule == "cosine" else None
        # Vectorizers were adapted above, outside the strategy's scope.
        with distribute.strategy_scope(strategy):
            sizes = {"key_dim": args.key_dim} if args.model == "transformer" and args.key_dim else {}
            model = build_translation_model(
                args.model,
                source_vocab=args.vocab_size,
                target_vocab=args.vocab_size,
                sequence_length=args.sequence_length,
                compile=False,
                **sizes,
            )
            optimizer = training.make_optimizer(args.optimizer, args.learning_rate, decay_steps)
            compile_translation_model(model, optimizer, steps_per_execution=args.steps_per_execution)
            if args.jit_compile != "auto":  # "auto": what compile() chose
                model.jit_compile = distribute.jit_compile_setting(args.jit_compile)
        model.summary()
        with training.Timer() as timer:
            distribute.fit(
                model,
                train_ds,
                strategy,
                validation_data=dataset(val_pairs, False),
                epochs=epochs,
                callbacks=training.training_callbacks(output_dir),
                verbose=1,
            )
        train_seconds = timer.seconds
    if not checkpoint.exists():
        raise SystemExit(f"No checkpoint at {checkpoint}; train first (drop --skip-training).")
    model = keras.saving.load_model(checkpoint, compile=False, safe_mode=True)
    translator = Translator(model, source_vec, target_vec, args.model)
    translator.save(output_dir / "translator")

    history = {}
    if (output_dir / "history.csv").exists():
        history = training.read_history_csv(output_dir / "history.csv")
        training.plot_history(
            history, output_dir / "curves.png", title=f"{args.model}: English->Spanish"
        )

    print("Evaluating on the test split ...")
    with training.Timer() as eval_timer:
        accuracy = translator.evaluate(test_pairs, translate=False)
        scored = test_pairs[: args.eval_limit] if args.eval_limit else test_pairs
        decoding = {"method": args.method, "beam_size": args.beam_size, "length_penalty": args.length_penalty}
        quality = translator.evaluate(scored, **decoding)
    rng = random.Random(args.seed)
    samples = rng.sample(test_pairs, min(args.samples, len(test_pairs)))
    translations = translator.translate([english for english, _ in samples], **decoding)
    for (english, spanish), output in zip(samples, translations):
        print(f"-\n{english}\n  reference: {spanish}\n  model:     {output}")

    if args.attend:
        source_tokens, output_tokens, weights = translator.attention_map(args.attend)
        plot_attention(
            source_tokens, output_tokens, weights, output_dir / "attention.png",
            title=f"{args.model} cross-attention",
        )
        print(f"attention heatmap for {args.attend!r}: {output_dir / 'attention.png'}")

    val_accuracy = history.get("val_accuracy", [])
    results = {
        "model": args.model,
        "epochs_run": len(val_accuracy),
        "epochs_book": BOOK_EPOCHS[args.model],
        "best_val_accuracy_keras": max(val_accuracy) if val_accuracy else None,
        "best_epoch": val_accuracy.index(max(val_accuracy)) + 1 if val_accuracy else None,
        "book_val_accuracy": BOOK_VAL_ACCURACY.get(args.model),
        "test_pairs": accuracy["num_pairs"],
        "test_accuracy_keras": accuracy["accuracy_keras"],
        "test_accuracy_tokens": accuracy["accuracy_tokens"],
        "bleu_chrf_pairs": quality["num_pairs"],
        "test_bleu": quality["bleu"],
        "test_chrf": quality["chrf"],
        "decoding": "greedy" if args.method == "greedy"
        else f"beam {args.beam_size}, length penalty {args.length_penalty:g}",
        "bleu_signature": quality["bleu_signature"],
        "chrf_signature": quality["chrf_signature"],
        "train_seconds_this_run": train_seconds,
        "eval_seconds": eval_timer.seconds,
        "batch_size": args.batch_size,
        "optimizer": args.optimizer,
        "learning_rate": args.learning_rate,
        "lr_schedule": args.lr_schedule,
        "precision": args.precision,
        "padding": "book (20)" if args.full_padding else "batched by length, cut to the longest",
        "samples": [
            {"english": e, "reference": s, "model": o}
            for (e, s), o in zip(samples, translations)
        ],
        "command": shlex.join(["python"] + sys.argv),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    training.write_json(output_dir / "results.json", results)
    print(
        f"test accuracy (Keras way) {results['test_accuracy_keras']:.4f}, "
        f"(real tokens) {results['test_accuracy_tokens']:.4f}, "
        f"BLEU {results['test_bleu']:.2f}, chrF {results['test_chrf']:.2f} "
        f"on {results['bleu_chrf_pairs']} pairs ({results['decoding']}); written to {output_dir}"
    )
    return results


if __name__ == "__main__":
    main()
