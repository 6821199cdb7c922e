"""The chapter's IMDB run: a recipe's settings in, a trained, scored, saved classifier out.

Trains one of the chapter's models on IMDB (20,000 reviews for training, 5,000 for
validation, 25,000 for test, as the book splits them), keeps the best validation epoch,
scores it once on the test set and writes, under the output folder: ``results.json``,
``curves.png``, ``history.csv``, ``best.keras`` and ``end_to_end.keras`` (a model of raw
strings). Called again on the same folder after a kill, it resumes::

    from keras_transformer import recipes
    from keras_transformer.classification.run import train_and_evaluate
    results = train_and_evaluate(recipes.settings("imdb", "fast", data_dir="aclImdb_v1.tar.gz"))
"""

from __future__ import annotations

from types import SimpleNamespace

import keras

from keras_transformer import training
from keras_transformer.classification.data import load_imdb_texts, make_dataset, make_vectorizer
from keras_transformer.classification.models import BOOK_EPOCHS, BOOK_TEST_ACCURACY, build_classifier, check_name, end_to_end
from keras_transformer.data.batching import use_fixed_batch, width_multiple
from keras_transformer.training import distribute
from keras_transformer.training.clock import AccuracyClock, transformer_training_flops
from keras_transformer.training.files import save_model
from keras_transformer.training.optimizers import check_optimizer_settings


def book_figure(model):
    """The book's test accuracy for ``model`` as a fraction: ``"88.3%"`` -> 0.883."""
    return float(BOOK_TEST_ACCURACY[model].strip("~%")) / 100


def check(settings):
    """One-line ValueErrors for settings that cannot go together."""
    check_name(settings["model"])
    check_optimizer_settings(settings["optimizer"], settings["lazy_embedding_updates"])
    if not 0 <= settings["validation_split"] < 1:
        raise ValueError(f"validation_split={settings['validation_split']} must be in [0, 1)")


def train_and_evaluate(settings, command=None):
    """Train, score and save the classifier ``settings`` describe (``keras_transformer.recipes``).

    ``settings``: every key of ``recipes.IMDB_BOOK`` plus ``data_dir`` and ``output_dir``
    (None: ``output/ch11_text_classification/<model>``). ``command``: recorded in
    ``results.json``. Returns the results dict that ``results.json`` holds.
    """
    check(settings)
    s = SimpleNamespace(**{"data_dir": None, "output_dir": None, **settings})
    import tensorflow as tf

    epochs = BOOK_EPOCHS[s.model] if s.epochs is None else s.epochs
    # Where each batch shape compiles (JAX, XLA): a few widths and one batch size.
    multiple = width_multiple(s.width_multiple, compiled=64, jit_compile=s.jit_compile)
    fixed = use_fixed_batch(s.fixed_batch, s.jit_compile)
    run = training.TrainingRun(s.output_dir or training.default_output_dir("ch11_text_classification", s.model))
    distribute.set_precision(s.precision)
    strategy = distribute.make_strategy(s.strategy, s.tpu)
    batch_size = distribute.global_batch_size(s.batch_size, strategy)
    training.set_seed(s.seed, s.deterministic)

    # The data: 20% of the training reviews held out; the vocabulary from training text only.
    train, val, test = load_imdb_texts(s.data_dir, source=s.source, seed=s.seed, validation_split=s.validation_split)
    vectorizer = make_vectorizer(s.model, s.vocab_size, s.sequence_length)
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(list(train.texts)).batch(512))
    counter = training.EpochCounter(seed=s.seed)

    def dataset(split, shuffle=False):
        return make_dataset(s.model, vectorizer, split, batch_size, shuffle=shuffle, seed=s.seed,
                            trim_padding=not s.full_padding, epoch=counter.variable,
                            width_multiple=multiple, fixed_batch=fixed) if split.texts else None

    sizes = dict(vocab_size=s.vocab_size, sequence_length=s.sequence_length, embed_dim=s.embed_dim,
                 num_heads=s.num_heads, dense_dim=s.dense_dim, key_dim=s.key_dim, dropout=s.dropout,
                 encoder_dropout=s.encoder_dropout, embedding_dropout=s.embedding_dropout,
                 token_dropout=s.token_dropout, pooling=s.pooling)
    decay_steps, clock = None, None
    if run.needs_training:
        train_ds = dataset(train, shuffle=True)
        decay_steps = training.count_batches(train_ds) * epochs if s.lr_schedule == "cosine" else None
        with distribute.strategy_scope(strategy):  # the vectorizer was adapted outside it
            model = build_classifier(s.model, **sizes, optimizer=s.optimizer, learning_rate=s.learning_rate,
                                     decay_steps=decay_steps, weight_decay=s.weight_decay, ema_momentum=s.ema,
                                     warmup_steps=s.warmup_steps, lazy_embedding_updates=s.lazy_embedding_updates,
                                     steps_per_execution=s.steps_per_execution, fixed_batch=fixed)
            if s.jit_compile != "auto":  # "auto": what compile() chose
                model.jit_compile = distribute.jit_compile_setting(s.jit_compile)
        if s.clock_every:  # a fixed sample: the first validation reviews (test ones when none are held out)
            held_out = val if val.texts else test
            sample = dataset(type(held_out)(held_out.texts[: s.clock_sample], held_out.labels[: s.clock_sample]))
            target = book_figure(s.model) if s.clock_target is None else s.clock_target
            clock = AccuracyClock(sample, s.clock_every, target)
            # The training steps' matrix-product FLOPs, for their rate against the machine's.
            clock.flops_per_step = transformer_training_flops(model, train_ds) / training.count_batches(train_ds)
        callbacks = [counter] + ([clock] if clock else [])
        callbacks += [keras.callbacks.TensorBoard(log_dir=str(s.tensorboard))] if s.tensorboard else []
        run.fit(model, train_ds, epochs, validation_data=dataset(val), strategy=strategy, callbacks=callbacks,
                swap_ema=s.ema is not None)

    # The best epoch, scored once on the test set, then saved as a model of raw strings.
    best = run.best_model()
    test_loss, test_accuracy = best.evaluate(dataset(test))
    save_model(end_to_end(vectorizer, best), run.output_dir / "end_to_end.keras")
    summary, _ = run.summary()
    results = run.finish({
        "chapter": "text_classification",
        "model": s.model,
        "book": {"test_accuracy": BOOK_TEST_ACCURACY[s.model], "epochs": BOOK_EPOCHS[s.model]},
        "validation": {"accuracy": summary["best_monitor"], "reviews": len(val.texts)},
        "test": {"accuracy": float(test_accuracy), "loss": float(test_loss), "reviews": len(test.texts)},
        "settings": {**settings, "epochs": epochs, "width_multiple": multiple, "fixed_batch": fixed,
                     "decay_steps": decay_steps, "replicas": strategy.num_replicas_in_sync,
                     "train_val_test": [len(train.texts), len(val.texts), len(test.texts)]},
        "command": command or training.command_line(),
        **({"clock": clock.summary()} if clock else {}),
    }, title=f"IMDB, {s.model}")
    print(f"{s.model}: test accuracy {test_accuracy:.4f} (best epoch {results['training']['best_epoch']} "
          f"of {results['training']['epochs_run']}); files in {run.output_dir}")
    return results

