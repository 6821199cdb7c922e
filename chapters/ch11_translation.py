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
import logging
import random

from keras_transformer import distribute, training
from keras_transformer.data.pipeline import add_width_argument, width_multiple
from keras_transformer.optimizers import check_optimizer_arguments
from keras_transformer.data.spa_eng import load_pairs, make_dataset, make_vectorizers, split_pairs, unseen_in_training
from keras_transformer.data.subwords import make_subword_vectorizers, piece_statistics
from keras_transformer.models.seq2seq import MODEL_NAMES, build_translation_model, compile_translation_model
from keras_transformer.time_to_accuracy import AccuracyClock, add_clock_arguments, transformer_training_flops
from keras_transformer.translator import Translator, plot_attention

BOOK_EPOCHS = {"gru": 15, "gru-attention": 15, "transformer": 30}
BOOK_VAL_ACCURACY = {"gru": 0.64, "transformer": 0.67}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Train and evaluate an English->Spanish translator (chapter 11).",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add = parser.add_argument
    add("--model", required=True, choices=MODEL_NAMES, help="which seq2seq model to train")
    training.add_training_arguments(parser, epochs=None, batch_size=64)
    parser._option_string_actions["--epochs"].help = (
        "training epochs (default: the book's, 15 for GRU models, 30 for the Transformer)")
    add("--eval-limit", type=int, default=None,
        help="translate only the first N test pairs for BLEU/chrF (greedy decoding is slow); "
        "accuracy always uses the whole test split (default: all)")
    add("--samples", type=int, default=10, help="random test sentences to print translated")
    add("--method", choices=("greedy", "beam"), default="greedy",
        help="decoding for BLEU/chrF and the printed samples (the accuracies do not depend on it)")
    add("--beam-size", type=int, default=4, help="beams of --method beam")
    add("--length-penalty", type=float, default=0.6,
        help="--method beam ranks beams by log p / ((5 + length) / 6) ** this (GNMT's 0.6)")
    add("--tokenizer", choices=("word", "sentencepiece"), default="word",
        help="word: the book's TextVectorization (lower-cased, no punctuation, [UNK] past the vocabulary); "
        "sentencepiece: subword pieces learned on the training pairs, cased and punctuated, no [UNK]")
    add("--vocab-size", type=int, default=None,
        help="source and target vocabulary size (default: the book's 15000 words, or 8000 pieces)")
    add("--sequence-length", type=int, default=None,
        help="tokens per sentence (default: the book's 20 words, or 32 pieces)")
    add("--full-padding", action="store_true",
        help="pad every batch to --sequence-length as the book does, instead of batching pairs of similar "
        "length and cutting each batch to its longest (same per-pair loss and predictions, slower)")
    add("--key-dim", type=int, default=None,
        help="transformer attention head size (default: the book's, embed_dim = 256; "
        "32 = embed_dim / num_heads is the paper's and faster)")
    add("--steps-per-execution", type=int, default=1,
        help="training steps per compiled call (e.g. 16: less per-step overhead on CPU)")
    add("--layer-dropout", type=float, default=0.0,
        help="transformer: dropout inside the encoder and decoder layers (book: none; the paper: 0.1)")
    add("--label-smoothing", type=float, default=0.0, help="smooth the next-token targets by this much (book: 0)")
    add("--ema", type=float, default=None, metavar="MOMENTUM",
        help="validate, keep and score a moving average of the weights with this momentum (e.g. 0.999)")
    add("--train-limit", type=int, default=None, help="use only the first N training pairs (smoke tests; default: all)")
    add("--attend", default=None, metavar="SENTENCE",
        help="English sentence whose cross-attention heatmap is written to attention.png "
        "(transformer and gru-attention only)")
    add_width_argument(parser, compiled=8)
    distribute.add_scale_arguments(parser)
    training.add_optimizer_arguments(parser)
    add_clock_arguments(parser)
    add("--skip-training", action="store_true", help="evaluate the best checkpoint already in --output-dir without training")
    args = parser.parse_args(argv)
    if (args.key_dim is not None or args.layer_dropout) and args.model != "transformer":
        parser.error("--key-dim and --layer-dropout apply to --model transformer only")
    subword = args.tokenizer == "sentencepiece"
    args.vocab_size = args.vocab_size or (8000 if subword else 15000)
    args.sequence_length = args.sequence_length or (32 if subword else 20)
    if args.steps_per_execution < 1:
        parser.error("--steps-per-execution must be at least 1")
    if args.beam_size < 1:
        parser.error("--beam-size must be at least 1")
    try:
        args.width_multiple = width_multiple(args.width_multiple, compiled=8)
    except ValueError as error:
        parser.error(str(error))
    return check_optimizer_arguments(parser, args)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    epochs = args.epochs if args.epochs is not None else BOOK_EPOCHS[args.model]
    output_dir = args.output_dir or training.default_output_dir("ch11_translation", args.model)
    run = training.TrainingRun(output_dir, rescore=args.skip_training)
    distribute.set_precision(args.precision)
    strategy = distribute.make_strategy(args.strategy, args.tpu)
    batch_size = distribute.global_batch_size(args.batch_size, strategy)
    training.set_seed(args.seed, args.deterministic)

    # The data: a 70/15/15 split; both vocabularies from the training pairs only.
    pairs, skipped = load_pairs(args.data_dir)
    train_pairs, val_pairs, test_pairs = split_pairs(pairs)
    train_pairs = train_pairs[: args.train_limit] if args.train_limit else train_pairs
    print(f"{len(pairs)} pairs ({skipped} malformed skipped): {len(train_pairs)} train, "
          f"{len(val_pairs)} validation, {len(test_pairs)} test")
    if args.tokenizer == "sentencepiece":
        source_vec, target_vec = make_subword_vectorizers(train_pairs, args.vocab_size, args.sequence_length)
        pieces = piece_statistics(target_vec, [s for _, s in test_pairs])
        print(f"sentencepiece: {source_vec.vocabulary_size()} English and {target_vec.vocabulary_size()} Spanish "
              f"pieces; test Spanish {pieces['mean']:.1f} pieces a sentence, {pieces['truncated']:.2%} cut, "
              f"{pieces['round_trip']:.2%} detokenized exactly")
    else:
        source_vec, target_vec = make_vectorizers(train_pairs, args.vocab_size, args.sequence_length)
    vocab = {"source_vocab": source_vec.vocabulary_size(), "target_vocab": target_vec.vocabulary_size()} \
        if args.tokenizer == "sentencepiece" else {"source_vocab": args.vocab_size, "target_vocab": args.vocab_size}
    counter = training.EpochCounter(seed=args.seed)

    def dataset(split, shuffle=False):
        return make_dataset(split, source_vec, target_vec, batch_size, shuffle, seed=args.seed,
                            by_length=not args.full_padding, epoch=counter.variable, width_multiple=args.width_multiple)

    clock = None
    if run.needs_training:
        train_ds = dataset(train_pairs, shuffle=True)
        decay_steps = training.count_batches(train_ds) * epochs if args.lr_schedule == "cosine" else None
        with distribute.strategy_scope(strategy):  # the vectorizers were adapted outside it
            sizes = {"key_dim": args.key_dim} if args.model == "transformer" and args.key_dim else {}
            if args.layer_dropout:
                sizes["layer_dropout"] = args.layer_dropout
            model = build_translation_model(args.model, sequence_length=args.sequence_length, compile=False,
                                            **vocab, **sizes)
            optimizer = training.make_optimizer(args.optimizer, args.learning_rate, decay_steps,
                                                ema_momentum=args.ema, warmup_steps=args.warmup_steps,
                                                lazy=args.lazy_embedding_updates)
            compile_translation_model(model, optimizer, steps_per_execution=args.steps_per_execution,
                                      label_smoothing=args.label_smoothing)
            if args.jit_compile != "auto":  # "auto": what compile() chose
                model.jit_compile = distribute.jit_compile_setting(args.jit_compile)
        model.summary()
        clock = AccuracyClock(dataset(val_pairs[: args.clock_sample]), args.clock_every,
                              BOOK_VAL_ACCURACY.get(args.model) if args.clock_target is None else args.clock_target) if args.clock_every else None
        if clock:  # the training steps' matrix-product FLOPs, for their rate against the machine's
            clock.flops_per_step = transformer_training_flops(model, train_ds) / training.count_batches(train_ds)
        run.fit(model, train_ds, epochs, validation_data=dataset(val_pairs), strategy=strategy,
                callbacks=[counter] + ([clock] if clock else []), swap_ema=args.ema is not None, verbose=1)

    # The best epoch: saved as a translator, scored on the test split, shown on samples.
    translator = Translator(run.best_model(compile=False), source_vec, target_vec, args.model)
    translator.save(run.output_dir / "translator")
    print("Evaluating on the test split ...")
    decoding = {"method": args.method, "beam_size": args.beam_size, "length_penalty": args.length_penalty}
    with training.Timer() as eval_timer:
        accuracy = translator.evaluate(test_pairs, translate=False)
        # fit's val_accuracy on batches cut to their longest pair weighs each batch by its real tokens
        # over its width; this is measure (a) itself, as with the book's full padding.
        validation = translator.evaluate(val_pairs, translate=False)
        scored = test_pairs[: args.eval_limit] if args.eval_limit else test_pairs
        quality = translator.evaluate(scored, unseen=unseen_in_training(scored, train_pairs), **decoding)
    samples = random.Random(args.seed).sample(test_pairs, min(args.samples, len(test_pairs)))
    translations = translator.translate([english for english, _ in samples], **decoding)
    for (english, spanish), output in zip(samples, translations):
        print(f"-\n{english}\n  reference: {spanish}\n  model:     {output}")
    if args.attend:
        plot_attention(*translator.attention_map(args.attend), run.output_dir / "attention.png",
                       title=f"{args.model} cross-attention")
        print(f"attention heatmap for {args.attend!r}: {run.output_dir / 'attention.png'}")

    clocked = {"clock": clock.summary()} if clock else {}  # this run's training only (none when resumed after it)
    results = run.finish({
        "chapter": "translation",
        "model": args.model,
        "book": {"val_accuracy_keras": BOOK_VAL_ACCURACY.get(args.model), "epochs": BOOK_EPOCHS[args.model]},
        "validation": {"accuracy_keras": validation["accuracy_keras"], "accuracy_tokens": validation["accuracy_tokens"]},
        "test": {
            "pairs": accuracy["num_pairs"],
            "accuracy_keras": accuracy["accuracy_keras"],
            "accuracy_tokens": accuracy["accuracy_tokens"],
            "bleu_chrf_pairs": quality["num_pairs"],
            "bleu": quality["bleu"],
            "chrf": quality["chrf"],
            **{key: quality[key] for key in ("bleu_raw", "chrf_raw", "unk_rate", "unseen_pairs", "bleu_unseen",
                                             "chrf_unseen", "bleu_raw_unseen", "chrf_raw_unseen") if key in quality},
            "bleu_signature": quality["bleu_signature"],
            "chrf_signature": quality["chrf_signature"],
            "decoding": "greedy" if args.method == "greedy"
            else f"beam {args.beam_size}, length penalty {args.length_penalty:g}",
            "eval_seconds": eval_timer.seconds,
        },
        "samples": [{"english": e, "reference": s, "model": o} for (e, s), o in zip(samples, translations)],
        "settings": {**vars(args), "epochs": epochs,
                     "padding": "book (20)" if args.full_padding else "batched by length, cut to the longest"},
        "command": training.command_line(argv),
        **clocked,
    }, title=f"{args.model}: English->Spanish")
    test = results["test"]
    print(f"validation accuracy (Keras way, counted exactly) {results['validation']['accuracy_keras']:.4f}; "
          f"test accuracy (Keras way) {test['accuracy_keras']:.4f}, (real tokens) {test['accuracy_tokens']:.4f}, "
          f"BLEU {test['bleu']:.2f}, chrF {test['chrf']:.2f} (raw references {test['bleu_raw']:.2f}, "
          f"{test['chrf_raw']:.2f}; [UNK] in {test['unk_rate']:.1%}) on {test['bleu_chrf_pairs']} pairs "
          f"({test['decoding']}); written to {run.output_dir}")
    return results


if __name__ == "__main__":
    main()
