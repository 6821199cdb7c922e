"""The chapter's translation run: a recipe's settings in, a trained, scored, saved translator out.

Trains one model on the Tatoeba pairs (70/15/15 split, seed 1337), keeps the best
validation checkpoint, scores it once on the test split (next-token accuracy two ways,
sacreBLEU and chrF against the prepared and the raw references, the unseen subset,
the ``[UNK]`` share), prints sample translations, and writes ``results.json``,
``curves.png`` and the saved translator to the output folder. Called again on the same
folder after a kill, it resumes::

    from keras_transformer import recipes
    from keras_transformer.translation.run import train_and_evaluate
    results = train_and_evaluate(recipes.settings("translation", "fast", data_dir="spa-eng.zip"))
"""

from __future__ import annotations

import logging
import random
from types import SimpleNamespace

import keras

from keras_transformer import training
from keras_transformer.data.batching import use_fixed_batch, width_multiple
from keras_transformer.training import distribute
from keras_transformer.training.clock import AccuracyClock, transformer_training_flops
from keras_transformer.training.optimizers import check_optimizer_settings, make_optimizer
from keras_transformer.translation.models import MODEL_NAMES, build_translation_model, compile_translation_model
from keras_transformer.translation.pairs import load_pairs, make_dataset, split_pairs, unseen_in_training
from keras_transformer.translation.plots import plot_attention
from keras_transformer.translation.translator import Translator
from keras_transformer.translation.vocabulary import make_vocabularies

BOOK_EPOCHS = {"gru": 15, "gru-attention": 15, "transformer": 30}
BOOK_VAL_ACCURACY = {"gru": 0.64, "transformer": 0.67}


def check(settings):
    """One-line ValueErrors for settings that cannot go together."""
    s = SimpleNamespace(**settings)
    if s.model not in MODEL_NAMES:
        raise ValueError(f"model {s.model!r}; choose one of {', '.join(MODEL_NAMES)}")
    if (s.key_dim is not None or s.layer_dropout) and s.model != "transformer":
        raise ValueError("key_dim and layer_dropout apply to the transformer model only")
    for name in ("steps_per_execution", "beam_size", "batch_size"):
        if getattr(s, name) < 1:
            raise ValueError(f"{name}={getattr(s, name)} must be at least 1")
    check_optimizer_settings(s.optimizer, s.lazy_embedding_updates)


def train_and_evaluate(settings, command=None):
    """Train, score and save the translator ``settings`` describe (``keras_transformer.recipes``).

    ``settings``: every key of ``recipes.TRANSLATION_BOOK`` plus ``data_dir`` and
    ``output_dir`` (None: ``output/ch11_translation/<model>``). Returns the results dict
    that ``results.json`` holds.
    """
    check(settings)
    s = SimpleNamespace(**{"data_dir": None, "output_dir": None, **settings})
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    epochs = s.epochs if s.epochs is not None else BOOK_EPOCHS[s.model]
    # Where each batch shape compiles (JAX, XLA): a few widths and one batch size.
    multiple = width_multiple(s.width_multiple, compiled=8, jit_compile=s.jit_compile)
    fixed = use_fixed_batch(s.fixed_batch, s.jit_compile)
    run = training.TrainingRun(s.output_dir or training.default_output_dir("ch11_translation", s.model),
                               rescore=s.skip_training)
    distribute.set_precision(s.precision)
    strategy = distribute.make_strategy(s.strategy, s.tpu)
    batch_size = distribute.global_batch_size(s.batch_size, strategy)
    training.set_seed(s.seed, s.deterministic)

    # The data: a 70/15/15 split; both vocabularies from the training pairs only.
    pairs, skipped = load_pairs(s.data_dir)
    train_pairs, val_pairs, test_pairs = split_pairs(pairs)
    train_pairs = train_pairs[: s.train_limit] if s.train_limit else train_pairs
    print(f"{len(pairs)} pairs ({skipped} malformed skipped): {len(train_pairs)} train, "
          f"{len(val_pairs)} validation, {len(test_pairs)} test")
    source_vocab, target_vocab = make_vocabularies(s.tokenizer, train_pairs, s.vocab_size, s.sequence_length)
    counter = training.EpochCounter(seed=s.seed)

    def dataset(split, shuffle=False):
        return make_dataset(split, source_vocab, target_vocab, batch_size, shuffle, seed=s.seed,
                            by_length=not s.full_padding, epoch=counter.variable, width_multiple=multiple,
                            fixed_batch=fixed)

    clock = None
    if run.needs_training:
        train_ds = dataset(train_pairs, shuffle=True)
        decay_steps = training.count_batches(train_ds) * epochs if s.lr_schedule == "cosine" else None
        with distribute.strategy_scope(strategy):  # the vocabularies were made outside it
            sizes = {"key_dim": s.key_dim} if s.model == "transformer" and s.key_dim else {}
            if s.layer_dropout:
                sizes["layer_dropout"] = s.layer_dropout
            model = build_translation_model(s.model, source_vocab.vocabulary_size(), target_vocab.vocabulary_size(),
                                            source_vocab.sequence_length, compile=False, **sizes)
            optimizer = make_optimizer(s.optimizer, s.learning_rate, decay_steps, ema_momentum=s.ema,
                                       warmup_steps=s.warmup_steps, lazy=s.lazy_embedding_updates)
            compile_translation_model(model, optimizer, steps_per_execution=s.steps_per_execution,
                                      label_smoothing=s.label_smoothing)
            if s.jit_compile != "auto":  # "auto": what compile() chose
                model.jit_compile = distribute.jit_compile_setting(s.jit_compile)
        model.summary()
        if s.clock_every:
            target = BOOK_VAL_ACCURACY.get(s.model) if s.clock_target is None else s.clock_target
            clock = AccuracyClock(dataset(val_pairs[: s.clock_sample]), s.clock_every, target)
            # The training steps' matrix-product FLOPs, for their rate against the machine's.
            clock.flops_per_step = transformer_training_flops(model, train_ds) / training.count_batches(train_ds)
        callbacks = [counter] + ([clock] if clock else [])
        callbacks += [keras.callbacks.TensorBoard(log_dir=str(s.tensorboard))] if s.tensorboard else []
        run.fit(model, train_ds, epochs, validation_data=dataset(val_pairs), strategy=strategy, callbacks=callbacks,
                swap_ema=s.ema is not None, verbose=1)

    # The best epoch: saved as a translator, scored once on the test split, shown on samples.
    # Decoding at the training's few widths (at least 4 tokens apart), one batch size where fixed.
    translator = Translator(run.best_model(compile=False), source_vocab, target_vocab, s.model, fixed_batch=fixed,
                            width_multiple=max(multiple, 4))
    translator.save(run.output_dir / "translator")
    print("Evaluating on the test split ...")
    decoding = {"method": s.method, "beam_size": s.beam_size, "length_penalty": s.length_penalty}
    with training.Timer() as eval_timer:
        accuracy = translator.evaluate(test_pairs, translate=False)
        # fit's val_accuracy on batches cut to their longest pair weighs each batch by its real tokens
        # over its width; this is measure (a) itself, as with the book's full padding.
        validation = translator.evaluate(val_pairs, translate=False)
        scored = test_pairs[: s.eval_limit] if s.eval_limit else test_pairs
        quality = translator.evaluate(scored, unseen=unseen_in_training(scored, train_pairs), **decoding)
    samples = random.Random(s.seed).sample(test_pairs, min(s.samples, len(test_pairs)))
    translations = translator.translate([english for english, _ in samples], **decoding)
    for (english, spanish), output in zip(samples, translations):
        print(f"-\n{english}\n  reference: {spanish}\n  model:     {output}")
    if s.attend:
        plot_attention(*translator.attention_map(s.attend), run.output_dir / "attention.png",
                       title=f"{s.model} cross-attention")
        print(f"attention heatmap for {s.attend!r}: {run.output_dir / 'attention.png'}")

    results = run.finish({
        "chapter": "translation",
        "model": s.model,
        "book": {"val_accuracy_keras": BOOK_VAL_ACCURACY.get(s.model), "epochs": BOOK_EPOCHS[s.model]},
        "validation": {"pairs": validation["num_pairs"], "accuracy_keras": validation["accuracy_keras"],
                       "accuracy_tokens": validation["accuracy_tokens"]},
        "test": {
            "pairs": accuracy["num_pairs"],
            "accuracy_keras": accuracy["accuracy_keras"],
            "accuracy_tokens": accuracy["accuracy_tokens"],
            "bleu_chrf_pairs": quality["num_pairs"],
            **{key: quality[key] for key in ("bleu", "chrf", "bleu_raw", "chrf_raw", "unk_rate", "unseen_pairs",
                                             "bleu_unseen", "chrf_unseen", "bleu_raw_unseen", "chrf_raw_unseen",
                                             "bleu_signature", "chrf_signature") if key in quality},
            "decoding": "greedy" if s.method == "greedy" else f"beam {s.beam_size}, length penalty {s.length_penalty:g}",
            "eval_seconds": eval_timer.seconds,
        },
        "samples": [{"english": e, "reference": r, "model": o} for (e, r), o in zip(samples, translations)],
        "settings": {**settings, "epochs": epochs, "width_multiple": multiple, "fixed_batch": fixed,
                     "padding": "book (full)" if s.full_padding else "batched by length, cut to the longest"},
        "command": command or training.command_line(),
        **({"clock": clock.summary()} if clock else {}),
    }, title=f"{s.model}: English->Spanish")
    test = results["test"]
    print(f"validation accuracy (a), counted exactly, {results['validation']['accuracy_keras']:.4f}; "
          f"test (a) {test['accuracy_keras']:.4f}, (b) {test['accuracy_tokens']:.4f}, "
          f"BLEU {test['bleu']:.2f}, chrF {test['chrf']:.2f} (raw references {test['bleu_raw']:.2f}, "
          f"{test['chrf_raw']:.2f}; [UNK] in {test['unk_rate']:.1%}) on {test['bleu_chrf_pairs']} pairs "
          f"({test['decoding']}); written to {run.output_dir}")
    return results
