#!/usr/bin/env python
"""Chapter 11, first part: IMDB sentiment classification, from bag-of-words to a Transformer.

Trains one of the chapter's models on IMDB (20,000 reviews for training,
5,000 for validation, 25,000 for test), keeps the best validation epoch,
evaluates it on the test set and writes, under the output folder:
results.json, curves.png, history.csv, best.keras and end_to_end.keras (a
model of raw strings). Rerun the same command after a kill to resume.

    python chapters/ch11_text_classification.py --model transformer-positional \\
        --data-dir ../shared/datasets/aclImdb_labeled.tar.gz
"""

import argparse

from keras_transformer import distribute, training
from keras_transformer.data.pipeline import add_width_argument, width_multiple
from keras_transformer.optimizers import check_optimizer_arguments
from keras_transformer.models.classifiers import BOOK_EPOCHS, BOOK_TEST_ACCURACY, MODEL_NAMES
from keras_transformer.time_to_accuracy import AccuracyClock, add_clock_arguments, transformer_training_flops
from keras_transformer.training import add_optimizer_arguments, add_training_arguments


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Default epochs are the book's: "
        + ", ".join(f"{name} {n}" for name, n in BOOK_EPOCHS.items())
        + ".",
    )
    parser.add_argument("--model", required=True, choices=MODEL_NAMES, help="which of the chapter's models to train")
    add_training_arguments(parser, epochs=None, batch_size=32)
    parser.set_defaults(epochs=None)
    for action in parser._actions:
        if action.dest == "epochs":
            action.help = "training epochs (default: the book's, 10 for bag-of-words and LSTMs, 20 for Transformers)"
    parser.add_argument(
        "--source",
        choices=("archive", "tfds"),
        default="archive",
        help="read the aclImdb archive/folder (default) or tensorflow_datasets' imdb_reviews",
    )
    parser.add_argument(
        "--validation-split", type=float, default=0.2,
        help="fraction of the training reviews held out for validation and checkpoint choice "
        "(default 0.2, the book's); 0 trains on all 25,000 and keeps the last epoch",
    )
    parser.add_argument("--vocab-size", type=int, default=20000, help="vocabulary size (default 20000, the book's)")
    parser.add_argument(
        "--sequence-length", type=int, default=600, help="tokens kept per review for sequence models (default 600)"
    )
    parser.add_argument("--embed-dim", type=int, default=256, help="embedding size (default 256)")
    parser.add_argument("--num-heads", type=int, default=2, help="attention heads (default 2)")
    parser.add_argument("--dense-dim", type=int, default=32, help="encoder feed-forward width (default 32)")
    parser.add_argument(
        "--key-dim", type=int, default=None, help="attention head size (default embed-dim / num-heads; the book used embed-dim)"
    )
    parser.add_argument("--dropout", type=float, default=0.5, help="dropout before the output layer (default 0.5)")
    parser.add_argument(
        "--encoder-dropout", type=float, default=0.0, help="dropout inside the Transformer encoder (default 0, the book's)"
    )
    parser.add_argument(
        "--embedding-dropout", type=float, default=0.0,
        help="dropout on the Transformers' embeddings before the encoder (default 0, the book's)",
    )
    parser.add_argument(
        "--token-dropout", type=float, default=0.0,
        help="word dropout for the sequence models: in training each token becomes [UNK] with this "
        "probability (default 0, the book's)",
    )
    parser.add_argument(
        "--pooling", choices=("max", "mean", "attention"), default="max",
        help="Transformers' pooling over time, padding skipped: max (the book's), mean, or attention "
        "(a learned query per head weighs the steps)",
    )
    add_optimizer_arguments(parser)
    add_clock_arguments(parser, what="validation (test, with --validation-split 0)")
    parser.add_argument(
        "--weight-decay", type=float, default=None,
        help="decoupled weight decay (e.g. 0.01 with adamw; default: the optimizer's)",
    )
    parser.add_argument(
        "--ema", type=float, default=None, metavar="MOMENTUM",
        help="validate, checkpoint and test an exponential moving average of the weights "
        "with this momentum (e.g. 0.999; default: off, the book's)",
    )
    parser.add_argument(
        "--fixed-padding",
        action="store_true",
        help="pad every review to --sequence-length as the book does, instead of batching "
        "reviews of similar length (same outputs for mask-aware models, slower)",
    )
    add_width_argument(parser, compiled=64)
    distribute.add_scale_arguments(parser)
    args = parser.parse_args(argv)
    try:
        args.width_multiple = width_multiple(args.width_multiple, compiled=64)
    except ValueError as error:
        parser.error(str(error))
    return check_optimizer_arguments(parser, args)


def main(argv=None):
    args = parse_args(argv)
    import tensorflow as tf

    from keras_transformer.data.imdb import load_imdb_texts, make_dataset, make_vectorizer
    from keras_transformer.models import build_classifier, end_to_end

    epochs = BOOK_EPOCHS[args.model] if args.epochs is None else args.epochs
    run = training.TrainingRun(args.output_dir or training.default_output_dir("ch11_text_classification", args.model))
    distribute.set_precision(args.precision)
    strategy = distribute.make_strategy(args.strategy, args.tpu)
    batch_size = distribute.global_batch_size(args.batch_size, strategy)
    training.set_seed(args.seed, args.deterministic)

    # The data: 20% of the training reviews held out; the vocabulary from training text only.
    train, val, test = load_imdb_texts(args.data_dir, source=args.source, seed=args.seed,
                                       validation_split=args.validation_split)
    vectorizer = make_vectorizer(args.model, args.vocab_size, args.sequence_length)
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(list(train.texts)).batch(512))
    counter = training.EpochCounter(seed=args.seed)

    def dataset(split, shuffle=False):
        return make_dataset(args.model, vectorizer, split, batch_size, shuffle=shuffle, seed=args.seed,
                            trim_padding=not args.fixed_padding, epoch=counter.variable, width_multiple=args.width_multiple) if split.texts else None

    sizes = dict(vocab_size=args.vocab_size, sequence_length=args.sequence_length, embed_dim=args.embed_dim,
                 num_heads=args.num_heads, dense_dim=args.dense_dim, key_dim=args.key_dim, dropout=args.dropout,
                 encoder_dropout=args.encoder_dropout, embedding_dropout=args.embedding_dropout,
                 token_dropout=args.token_dropout, pooling=args.pooling)
    decay_steps = None  # a cosine schedule's length: the run's batches
    clock = None
    if run.needs_training:
        train_ds = dataset(train, shuffle=True)
        decay_steps = training.count_batches(train_ds) * epochs if args.lr_schedule == "cosine" else None
        with distribute.strategy_scope(strategy):  # the vectorizer was adapted outside it
            model = build_classifier(args.model, **sizes, optimizer=args.optimizer, learning_rate=args.learning_rate,
                                     decay_steps=decay_steps, weight_decay=args.weight_decay, ema_momentum=args.ema,
                                     warmup_steps=args.warmup_steps, lazy_embedding_updates=args.lazy_embedding_updates)
            if args.jit_compile != "auto":  # "auto": what compile() chose
                model.jit_compile = distribute.jit_compile_setting(args.jit_compile)
        if args.clock_every:  # a fixed sample: the first validation reviews (test ones when none are held out)
            held_out = val if val.texts else test
            sample = dataset(type(held_out)(held_out.texts[: args.clock_sample], held_out.labels[: args.clock_sample]))
            book = float(BOOK_TEST_ACCURACY[args.model].strip("~%")) / 100  # "88.3%" -> 0.883
            clock = AccuracyClock(sample, args.clock_every, book if args.clock_target is None else args.clock_target)
        if clock:  # the training steps' matrix-product FLOPs, for their rate against the machine's
            clock.flops_per_step = transformer_training_flops(model, train_ds) / training.count_batches(train_ds)
        run.fit(model, train_ds, epochs, validation_data=dataset(val), strategy=strategy,
                callbacks=[counter] + ([clock] if clock else []), swap_ema=args.ema is not None)

    # The best epoch on the test set, then as a model of raw strings.
    best = run.best_model()
    test_loss, test_accuracy = best.evaluate(dataset(test))
    training.save_model(end_to_end(vectorizer, best), run.output_dir / "end_to_end.keras")
    results = run.finish({
        "chapter": "text_classification",
        "model": args.model,
        "book": {"test_accuracy": BOOK_TEST_ACCURACY[args.model], "epochs": BOOK_EPOCHS[args.model]},
        "test": {"accuracy": float(test_accuracy), "loss": float(test_loss)},
        "settings": {**vars(args), "epochs": epochs, "decay_steps": decay_steps, "replicas": strategy.num_replicas_in_sync,
                     "train_val_test": [len(train.texts), len(val.texts), len(test.texts)]},
        "command": training.command_line(argv),
        **({"clock": clock.summary()} if clock else {}),
    }, title=f"IMDB, {args.model}")
    print(f"{args.model}: test accuracy {test_accuracy:.4f} (best epoch {results['training']['best_epoch']} "
          f"of {results['training']['epochs_run']}); files in {run.output_dir}")
    return results


if __name__ == "__main__":
    main()
