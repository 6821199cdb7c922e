"""The chapter's IMDB sentiment classifiers, each built by name.

The chapter goes from bags of words to sequence models to Transformers; each
model here is the book's, with the book's hyperparameters by default:

=========================  ===================================================
name                       model
=========================  ===================================================
``unigram``                multi-hot unigrams -> Dense 16 -> Dropout -> Dense 1
``bigram``                 multi-hot uni+bigrams, same head
``bigram-tfidf``           TF-IDF uni+bigrams, same head
``lstm-onehot``            one-hot tokens -> BiLSTM(32) -> Dropout -> Dense 1
``lstm-embedding``         Embedding(256) -> BiLSTM(32) -> ...
``lstm-masked``            Embedding(256, mask_zero=True) -> BiLSTM(32) -> ...
``transformer``            Embedding -> TransformerEncoder -> max pool -> ...
``transformer-positional`` PositionalEmbedding -> TransformerEncoder -> ...
=========================  ===================================================

Each model takes what ``keras_transformer.data.imdb.make_vectorizer`` produces for the same name;
:func:`end_to_end` puts the two together into a model of raw strings.

Example::

    vectorizer = make_vectorizer("transformer-positional")
    vectorizer.adapt(train_texts)
    model = build_classifier("transformer-positional")
    model.fit(train_ds.map(lambda x, y: (vectorizer(x), y)), epochs=20)
    raw = end_to_end(vectorizer, model)
    raw.predict(tf.constant(["That was an excellent movie."]))
"""

import keras
from keras import layers

from keras_transformer.layers import (
    MaskedAttentionPooling1D,
    MaskedGlobalMaxPooling1D,
    OneHot,
    PositionalEmbedding,
    TokenDropout,
    TransformerEncoder,
)
from keras_transformer.training import make_optimizer

BAG_OF_WORDS = ("unigram", "bigram", "bigram-tfidf")
SEQUENCE = ("lstm-onehot", "lstm-embedding", "lstm-masked", "transformer", "transformer-positional")
MODEL_NAMES = BAG_OF_WORDS + SEQUENCE

# Models whose output does not depend on padding (mask-aware all the way to
# the pooled vector). Only these may be fed per-batch-trimmed sequences;
# the unmasked LSTMs read the padding, as in the book, so they get length 600.
PADDING_INVARIANT = ("lstm-masked", "transformer", "transformer-positional")

# The book's epochs: 10 for bag-of-words and the LSTMs, 20 for the Transformers.
BOOK_EPOCHS = {name: 20 if name.startswith("transformer") else 10 for name in MODEL_NAMES}

# The book's reported test accuracies (Deep Learning with Python, 2nd ed., ch. 11).
BOOK_TEST_ACCURACY = {
    "unigram": "~89%",
    "bigram": "~90%",
    "bigram-tfidf": "~89.8%",
    "lstm-onehot": "87%",
    "lstm-embedding": "87%",
    "lstm-masked": "88%",
    "transformer": "87.5%",
    "transformer-positional": "88.3%",
}

def check_name(name):
    if name not in MODEL_NAMES:
        raise ValueError(f"Unknown model name {name!r}; choose one of: {', '.join(MODEL_NAMES)}.")



def build_classifier(
    name,
    vocab_size=20000,
    sequence_length=600,
    embed_dim=256,
    num_heads=2,
    dense_dim=32,
    key_dim=None,
    hidden_dim=16,
    lstm_units=32,
    dropout=0.5,
    encoder_dropout=0.0,
    embedding_dropout=0.0,
    token_dropout=0.0,
    pooling="max",
    optimizer="rmsprop",
    learning_rate=None,
    decay_steps=None,
    weight_decay=None,
    ema_momentum=None,
    compile=True,
):
    """One of the chapter's IMDB classifiers, compiled as the book does.

    Args:
        name: one of ``MODEL_NAMES``.
        vocab_size: tokens in the vectorizer's vocabulary (book: 20,000).
        sequence_length: longest token sequence (book: 600).
        embed_dim, num_heads, dense_dim: Transformer sizes (book: 256, 2, 32);
            ``embed_dim`` is also the LSTMs' embedding size.
        key_dim: attention head size; None is ``embed_dim // num_heads``.
        hidden_dim: bag-of-words hidden layer (book: 16).
        lstm_units: units per direction of the BiLSTM (book: 32).
        dropout: dropout before the output layer (book: 0.5).
        encoder_dropout: dropout inside the Transformer encoder (book: 0).
        embedding_dropout: dropout on the Transformers' (positional)
            embeddings before the encoder, as in the original Transformer
            (book: 0); it regularizes the 20,000 x 256 embedding table.
        token_dropout: word dropout for the sequence models: in training,
            each real token becomes ``[UNK]`` with this probability
            (:class:`TokenDropout`; book: 0).
        pooling: how the Transformers pool over time: ``"max"`` (book's),
            ``"mean"`` or ``"attention"`` (a learned query per attention
            head, :class:`MaskedAttentionPooling1D`); all skip padded steps.
        optimizer, learning_rate: the optimizer (book: rmsprop at its default
            rate); ``learning_rate=None`` keeps the optimizer's default.
        weight_decay: decoupled weight decay passed to the optimizer (e.g.
            0.01 with ``"adamw"``); None keeps the optimizer's default.
        ema_momentum: if given, the optimizer also keeps an exponential
            moving average of the weights with this momentum (e.g. 0.999);
            train with ``keras.callbacks.SwapEMAWeights(swap_on_epoch=True)``
            before the checkpoint callback so that validation and the saved
            model use the averaged weights (``train_and_evaluate`` does).
        decay_steps: if given, the learning rate follows a cosine from
            ``learning_rate`` (default 0.001) down to zero over this many
            steps (the book keeps it constant).
        compile: compile with binary crossentropy and accuracy.

    Returns:
        A ``keras.Model`` from the vectorizer's output to `(B, 1)` sigmoid
        probabilities of a positive review.

    Example::

        model = build_classifier("transformer-positional")
        model.summary()
    """
    check_name(name)
    if name in BAG_OF_WORDS:
        inputs = keras.Input(shape=(vocab_size,), name="bag_of_words")
        x = layers.Dense(hidden_dim, activation="relu")(inputs)
    else:
        inputs = keras.Input(shape=(None,), dtype="int64", name="token_ids")
        ids = TokenDropout(token_dropout, name="token_dropout")(inputs) if token_dropout else inputs
        if name == "lstm-onehot":
            x = OneHot(vocab_size)(ids)
        elif name in ("lstm-embedding", "lstm-masked"):
            x = layers.Embedding(vocab_size, embed_dim, mask_zero=name == "lstm-masked")(ids)
        elif name == "transformer":
            x = layers.Embedding(vocab_size, embed_dim, mask_zero=True)(ids)
        else:
            x = PositionalEmbedding(sequence_length, vocab_size, embed_dim, mask_zero=True)(ids)
        if name.startswith("lstm"):
            x = layers.Bidirectional(layers.LSTM(lstm_units))(x)
        else:
            if embedding_dropout:
                x = layers.Dropout(embedding_dropout, name="embedding_dropout")(x)  # keeps the mask
            x = TransformerEncoder(
                embed_dim, dense_dim, num_heads, key_dim=key_dim, dropout=encoder_dropout
            )(x)
            if pooling == "max":
                x = MaskedGlobalMaxPooling1D()(x)
            elif pooling == "mean":
                x = layers.GlobalAveragePooling1D()(x)  # Keras averages over unmasked steps
            elif pooling == "attention":
                x = MaskedAttentionPooling1D(num_heads)(x)
            else:
                raise ValueError(f"pooling={pooling!r} is not supported; use 'max', 'mean' or 'attention'.")
    x = layers.Dropout(dropout)(x)
    # float32 output whatever the dtype policy: the sigmoid is then the
    # model's last op and Keras's crossentropy uses its logits (fused, stable).
    outputs = layers.Dense(1, activation="sigmoid", dtype="float32")(x)
    model = keras.Model(inputs, outputs, name=name.replace("-", "_"))
    if compile:
        optimizer = make_optimizer(optimizer, learning_rate, decay_steps, weight_decay, ema_momentum)
        model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["accuracy"])
    return model


def end_to_end(vectorizer, model):
    """A model of raw strings: the (adapted) vectorizer, then ``model``.

    As at the end of the book's bag-of-words section, so that a saved model
    needs no separate preprocessing. Input: a `(B,)` batch of ``tf.string``.
    Output: `(B, 1)` probabilities. Savable as ``.keras`` and reloadable with
    ``safe_mode=True`` (the vocabulary travels in the file).

    Example::

        raw = end_to_end(vectorizer, model)
        raw.save("imdb.keras")
        keras.models.load_model("imdb.keras").predict(tf.constant(["Great film!"]))
    """
    inputs = keras.Input(shape=(), dtype="string", name="text")
    outputs = model(vectorizer(inputs))
    raw = keras.Model(inputs, outputs, name=f"{model.name}_end_to_end")
    raw.compile(loss="binary_crossentropy", metrics=["accuracy"])
    return raw


# ---------------------------------------------------------------------------
# Training the chapter's way: data pipeline, fit, best checkpoint, test score.


class _EpochTimer(keras.callbacks.Callback):
    """Adds ``epoch_seconds`` to the logs, so the CSV log keeps time across resumes."""

    def on_epoch_begin(self, epoch, logs=None):
        import time

        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        import time

        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self._start


def _machine():
    import os
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    machine = {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
    }
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        machine["tensorflow"] = tf.__version__
        machine["gpus"] = [d.name for d in tf.config.list_physical_devices("GPU")]
    elif keras.backend.backend() == "jax":
        import jax

        machine["jax"] = jax.__version__
        machine["gpus"] = [d.device_kind for d in jax.devices() if d.platform == "gpu"]
    return machine


def _run_summary(name, history, test_loss, test_accuracy, epochs):
    """The results fields both training paths share, from the whole run's history."""
    val_accuracy = history.get("val_accuracy", [])
    epochs_run = len(history.get("loss", val_accuracy))
    epoch_seconds = sorted(history.get("epoch_seconds", []))
    return {
        "model": name,
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "epochs_requested": epochs,
        "epochs_run": epochs_run,
        # Without validation data the checkpoint is the last epoch.
        "best_epoch": max(range(len(val_accuracy)), key=val_accuracy.__getitem__) + 1 if val_accuracy else epochs_run,
        "best_val_accuracy": max(val_accuracy) if val_accuracy else None,
        "train_seconds": float(sum(epoch_seconds)),
        "seconds_per_epoch_median": float(epoch_seconds[len(epoch_seconds) // 2]) if epoch_seconds else None,
    }


def train_and_evaluate(
    name,
    output_dir,
    data_dir=None,
    source="archive",
    epochs=None,
    batch_size=32,
    seed=1337,
    validation_split=0.2,
    deterministic=False,
    trim_padding=True,
    command=None,
    verbose="auto",
    strategy="default",
    tpu=None,
    precision="float32",
    jit_compile="auto",
    lr_schedule="constant",
    **model_kwargs,
):
    """The chapter's recipe for model ``name``, end to end, with files to show for it.

    ``strategy``, ``tpu``, ``precision`` and ``jit_compile`` take the values of
    the chapter scripts' ``--strategy``, ``--tpu``, ``--precision`` and
    ``--jit-compile`` (see :mod:`keras_transformer.distribute`); ``batch_size``
    is per replica. ``lr_schedule="cosine"`` decays the learning rate to zero
    over the run's ``epochs`` (the book's is ``"constant"``).
    ``validation_split=0`` trains on all 25,000 training reviews and keeps the
    last epoch instead of the best-validation one (for a recipe already
    chosen on a validation split; pair it with the cosine schedule).

    Loads IMDB (20% of train held out for validation, seed ``seed``), adapts
    the vectorizer on training text only, trains with the best-validation
    checkpoint and resume-after-kill, reloads the best epoch, evaluates it on
    the test set and writes under ``output_dir``: ``results.json``,
    ``curves.png`` (whole run, resumes included), ``history.csv``,
    ``best.keras`` and ``end_to_end.keras`` (raw strings in, probability out).
    Rerunning the same call after a kill continues from the last finished
    epoch; rerunning after a finished run starts over.

    Returns:
        The results dict written to ``results.json``.
    """
    import datetime
    import shutil
    import time
    from pathlib import Path

    import tensorflow as tf

    from keras_transformer.data.imdb import load_imdb_texts, make_dataset, make_vectorizer
    from keras_transformer.training import (
        count_batches,
        plot_history,
        read_history_csv,
        set_seed,
        training_callbacks,
        write_json,
    )

    from keras_transformer import distribute

    check_name(name)
    start = time.perf_counter()
    epochs = BOOK_EPOCHS[name] if epochs is None else int(epochs)
    # Only the chief of a multi-worker run writes into output_dir.
    output_dir = Path(distribute.worker_output_dir(output_dir))
    distribute.set_precision(precision)
    engine = distribute.make_strategy(strategy, tpu)
    global_batch = distribute.global_batch_size(batch_size, engine)
    history_path = output_dir / "history.csv"
    resuming = (output_dir / "resume").exists()
    if not resuming:  # a fresh run: earlier logs and checkpoints belong to another run
        for stale in ("history.csv", "best.keras", "results.json", "end_to_end.keras", "curves.png"):
            if (output_dir / stale).exists():
                (output_dir / stale).unlink()
    set_seed(seed, deterministic)

    train, val, test = load_imdb_texts(data_dir, source=source, seed=seed, validation_split=validation_split)
    vectorizer_kwargs = {
        k: model_kwargs[k] for k in ("vocab_size", "sequence_length") if k in model_kwargs
    }
    vectorizer = make_vectorizer(name, **vectorizer_kwargs)
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(list(train.texts)).batch(512))
    train_ds, val_ds, test_ds = [
        make_dataset(name, vectorizer, split, global_batch, shuffle=split is train, seed=seed,
                     trim_padding=trim_padding)
        if split.texts else None
        for split in (train, val, test)
    ]

    if lr_schedule == "cosine":
        # One pass counts the batches (it also fills the dataset's cache).
        model_kwargs = {**model_kwargs, "decay_steps": count_batches(train_ds) * epochs}
    elif lr_schedule != "constant":
        raise ValueError(f"lr_schedule must be 'constant' or 'cosine'; got {lr_schedule!r}.")

    # The vectorizer was adapted above, outside the strategy's scope.
    with distribute.strategy_scope(engine):
        model = build_classifier(name, **model_kwargs)
        if jit_compile != "auto":  # "auto": what compile() chose
            model.jit_compile = distribute.jit_compile_setting(jit_compile)
    callbacks = [_EpochTimer()] + training_callbacks(output_dir, monitor="val_accuracy" if val.texts else None)
    if model_kwargs.get("ema_momentum") is not None:
        # Validation and the best checkpoint use the averaged weights: the swap
        # comes after the resume backup (which keeps the raw weights) and
        # before the checkpoint.
        at = next(i for i, c in enumerate(callbacks) if isinstance(c, keras.callbacks.ModelCheckpoint))
        callbacks.insert(at, keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    if resuming and history_path.exists():
        # The checkpoint callback forgets the best score when a run resumes;
        # remind it, so a worse epoch after the resume cannot overwrite best.keras.
        previous = read_history_csv(history_path).get("val_accuracy", [])
        for callback in callbacks:
            if isinstance(callback, keras.callbacks.ModelCheckpoint) and previous:
                callback.best = max(previous)
    distribute.fit(model, train_ds, engine, validation_data=val_ds, epochs=epochs, callbacks=callbacks,
                   verbose=verbose)

    history = read_history_csv(history_path)
    best_model = keras.models.load_model(output_dir / "best.keras", safe_mode=True)
    test_loss, test_accuracy = best_model.evaluate(test_ds, verbose=verbose)
    raw_model = end_to_end(vectorizer, best_model)
    raw_model.save(output_dir / "end_to_end.keras")
    plot_history(history, output_dir / "curves.png", title=f"IMDB, {name}")

    results = {
        **_run_summary(name, history, test_loss, test_accuracy, epochs),
        "wall_time_s": time.perf_counter() - start,
        "resumed": resuming,
        "settings": {
            "batch_size": batch_size,
            "strategy": strategy,
            "replicas": engine.num_replicas_in_sync,
            "precision": precision,
            "lr_schedule": lr_schedule,
            "seed": seed,
            "validation_split": validation_split,
            "deterministic": deterministic,
            "trim_padding": bool(trim_padding and name in PADDING_INVARIANT),
            "source": source,
            "train_val_test": [len(train.texts), len(val.texts), len(test.texts)],
            **model_kwargs,
        },
        "command": command,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": _machine(),
    }
    write_json(output_dir / "results.json", results)
    if (output_dir / "resume").exists():  # BackupAndRestore leaves it when fit stopped early
        shutil.rmtree(output_dir / "resume", ignore_errors=True)
    return results
