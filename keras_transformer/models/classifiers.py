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

Each model takes what :func:`make_vectorizer` produces for the same name;
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
from keras import layers, ops

from keras_transformer.layers import PositionalEmbedding, TransformerEncoder
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


def _check_name(name):
    if name not in MODEL_NAMES:
        raise ValueError(f"Unknown model name {name!r}; choose one of: {', '.join(MODEL_NAMES)}.")


@keras.saving.register_keras_serializable(package="keras_transformer")
class OneHot(layers.Layer):
    """Token ids to one-hot vectors (the book's ``tf.one_hot``, as a savable layer).

    Args:
        depth: vocabulary size.

    Call arguments:
        inputs: `(B, T)` integer token ids in `[0, depth)`.

    Returns:
        `(B, T, depth)` floats; no mask (the book's one-hot model sees padding).

    Example:
    >>> OneHot(depth=4)(ops.array([[1, 3]])).shape
    (1, 2, 4)
    """

    def __init__(self, depth, **kwargs):
        super().__init__(**kwargs)
        self.depth = int(depth)

    def call(self, inputs):
        return ops.one_hot(ops.cast(inputs, "int32"), self.depth, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.depth,)

    def get_config(self):
        config = super().get_config()
        config.update({"depth": self.depth})
        return config


@keras.saving.register_keras_serializable(package="keras_transformer")
class TokenDropout(layers.Layer):
    """Word dropout: in training, each real token becomes ``[UNK]`` with probability ``rate``.

    A data augmentation for text classifiers: the model cannot lean on any
    single word. Padding (id 0) stays padding, so masks and lengths do not
    change; at inference the layer passes ids through.

    Args:
        rate: probability of replacing a token, in [0, 1).
        unknown_id: the vectorizer's out-of-vocabulary id (Keras: 1).
        seed: seed of the layer's random generator.

    Call arguments:
        inputs: `(B, T)` integer token ids.
        training: replace tokens only when true.

    Example:
    >>> ids = ops.array([[5, 6, 0]])
    >>> ops.convert_to_numpy(TokenDropout(0.5)(ids, training=False)).tolist()
    [[5, 6, 0]]
    """

    def __init__(self, rate, unknown_id=1, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"TokenDropout rate must be in [0, 1); got {rate!r}.")
        self.rate = float(rate)
        self.unknown_id = int(unknown_id)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        drop = keras.random.uniform(ops.shape(inputs), seed=self.seed_generator) < self.rate
        drop = ops.logical_and(drop, ops.not_equal(inputs, 0))
        return ops.where(drop, ops.cast(self.unknown_id, inputs.dtype), inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "unknown_id": self.unknown_id, "seed": self.seed})
        return config


class _MaskedPooling1D(layers.Layer):
    """Shared by the pooling layers below: `(B, T, C)` with a time mask -> `(B, C)`, no mask out."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


@keras.saving.register_keras_serializable(package="keras_transformer")
class MaskedGlobalMaxPooling1D(_MaskedPooling1D):
    """Max over time that skips padded steps.

    Keras 3's ``GlobalMaxPooling1D`` ignores the mask, so a padded step (whose
    encoder output is computed but meaningless) can win the max, and the
    prediction then depends on how much padding a review got. This layer
    takes the max over real steps only; without a mask it is a plain max.

    Call arguments:
        inputs: `(B, T, C)`.
        mask: `(B, T)` booleans, True at real steps (passed by Keras).

    Returns:
        `(B, C)`; a row with no real step at all gives zeros.

    Example:
    >>> x = keras.layers.Embedding(10, 4, mask_zero=True)(ops.array([[3, 0]]))
    >>> MaskedGlobalMaxPooling1D()(x).shape
    (1, 4)
    """

    def call(self, inputs, mask=None):
        if mask is None:
            return ops.max(inputs, axis=1)
        mask = ops.expand_dims(ops.cast(mask, "bool"), -1)
        lowest = ops.cast(keras.config.epsilon() - 65504.0, inputs.dtype)  # fits float16
        pooled = ops.max(ops.where(mask, inputs, lowest), axis=1)
        any_real = ops.any(mask, axis=1)
        return ops.where(any_real, pooled, ops.zeros_like(pooled))


@keras.saving.register_keras_serializable(package="keras_transformer")
class MaskedAttentionPooling1D(_MaskedPooling1D):
    """A learned query per head attends over the real steps; their weighted mean.

    Max pooling keeps one step per channel; attention pooling lets the model
    learn which steps matter (a sentiment word, say) and average them. The
    channels are split into ``num_heads`` groups, each with its own learned
    query, so the output keeps the input's width. Padded steps get zero
    weight; the result does not depend on how much padding a row has.

    Args:
        num_heads: learned queries; must divide the channel count.

    Call arguments:
        inputs: `(B, T, C)`.
        mask: `(B, T)` booleans, True at real steps (passed by Keras).

    Returns:
        `(B, C)`; a row with no real step at all gives zeros.

    Example:
    >>> x = keras.layers.Embedding(10, 4, mask_zero=True)(ops.array([[3, 5, 0]]))
    >>> MaskedAttentionPooling1D(num_heads=2)(x).shape
    (1, 4)
    """

    def __init__(self, num_heads=1, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels % self.num_heads:
            raise ValueError(
                f"MaskedAttentionPooling1D: num_heads={self.num_heads} does not divide the {channels} channels."
            )
        self.query = self.add_weight(
            name="query", shape=(self.num_heads, channels // self.num_heads), initializer="zeros"
        )

    def call(self, inputs, mask=None):
        batch, steps = ops.shape(inputs)[0], ops.shape(inputs)[1]
        size = inputs.shape[-1] // self.num_heads
        heads = ops.reshape(inputs, (batch, steps, self.num_heads, size))
        query = ops.cast(self.query, inputs.dtype)
        # Scores in float32: a softmax over hundreds of steps is fragile in bfloat16.
        scores = ops.cast(ops.sum(heads * query, axis=-1), "float32") / (size**0.5)  # (B, T, H)
        if mask is not None:
            real = ops.expand_dims(ops.cast(mask, "bool"), -1)
            scores = ops.where(real, scores, ops.full_like(scores, -1e9))
        weights = ops.softmax(scores, axis=1)
        if mask is not None:  # a row with no real step: all weights zero
            weights = weights * ops.cast(real, weights.dtype)
        pooled = ops.sum(heads * ops.cast(ops.expand_dims(weights, -1), inputs.dtype), axis=1)
        return ops.reshape(pooled, (batch, self.num_heads * size))

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads}


# Characters that Python's str.splitlines() breaks lines at but TensorFlow's
# whitespace split keeps inside tokens. Keras saves a TextVectorization
# vocabulary one token a line and reads it back with splitlines(), so a token
# holding one of them (IMDB uses U+0085 as an ellipsis, and it is among the
# 20,000 most frequent tokens) corrupts the vocabulary of a saved model.
_LINE_BREAKS_TF_KEEPS = "[\\x{1c}-\\x{1e}\\x{85}\\x{2028}\\x{2029}]"
_PUNCTUATION = r"""[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~']"""


@keras.saving.register_keras_serializable(package="keras_transformer")
def standardize_text(text):
    """Keras's ``lower_and_strip_punctuation``, plus odd line breaks made spaces.

    Without the second step a vocabulary token can hold U+0085 (IMDB's
    ellipsis), and a saved end-to-end model then reloads with a corrupted
    vocabulary (Keras reads vocabulary files with ``str.splitlines``).

    Example::

        standardize_text(tf.constant(["Great\x85 Film!"]))  # [b"great  film"]
    """
    import tensorflow as tf

    text = tf.strings.lower(text)
    text = tf.strings.regex_replace(text, _LINE_BREAKS_TF_KEEPS, " ")
    return tf.strings.regex_replace(text, _PUNCTUATION, "")


def make_vectorizer(name, vocab_size=20000, sequence_length=600):
    """The ``TextVectorization`` layer that feeds model ``name`` (not yet adapted).

    Bag-of-words models get multi-hot unigrams, multi-hot uni+bigrams, or
    TF-IDF uni+bigrams (each a `(B, vocab_size)` float vector); sequence
    models get `(B, sequence_length)` integer ids, 0 = padding, 1 = unknown.

    Example::

        vectorizer = make_vectorizer("bigram")
        vectorizer.adapt(train_texts)      # training text only
        vectorizer(["a fine film"]).shape  # (1, 20000)
    """
    _check_name(name)
    common = dict(max_tokens=vocab_size, standardize=standardize_text, name=f"{name}_vectorizer")
    # pad_to_max_tokens: the vector is vocab_size wide even when the adapted
    # text has fewer distinct tokens, so it always fits the model's input.
    bag = dict(pad_to_max_tokens=True, **common)
    if name == "unigram":
        return layers.TextVectorization(output_mode="multi_hot", **bag)
    if name == "bigram":
        return layers.TextVectorization(output_mode="multi_hot", ngrams=2, **bag)
    if name == "bigram-tfidf":
        return layers.TextVectorization(output_mode="tf_idf", ngrams=2, **bag)
    return layers.TextVectorization(
        output_mode="int", output_sequence_length=sequence_length, **common
    )


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
    _check_name(name)
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


def _bucket_boundaries(sequence_length, width=32):
    return list(range(width, sequence_length, width))


def make_dataset(name, vectorizer, split, batch_size=32, shuffle=False, seed=None, trim_padding=True):
    """A ``tf.data`` pipeline of `(vectorized text, label)` for model ``name``.

    ``split`` has ``.texts`` and ``.labels`` (see ``load_imdb_texts``).
    Bag-of-words vectors are computed on the fly (caching 20,000-wide floats
    would cost gigabytes). Token ids are computed once and cached. For the
    padding-invariant models (``PADDING_INVARIANT``) and ``trim_padding=True``,
    each review keeps only its real tokens (at most ``sequence_length``) and
    batches are formed from reviews of similar length, padded to the
    batch's longest: the model's outputs are the same as with every review
    padded to 600 (their mask hides the padding), at a fraction of the cost.
    The unmasked LSTMs always get the book's fixed length, padding included.
    """
    import tensorflow as tf

    _check_name(name)
    texts = tf.constant(list(split.texts), dtype=tf.string)
    labels = tf.constant(list(split.labels), dtype=tf.int32)
    ds = tf.data.Dataset.from_tensor_slices((texts, labels))
    autotune = tf.data.AUTOTUNE
    if name in BAG_OF_WORDS:
        if shuffle:
            ds = ds.shuffle(len(split.texts), seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size).map(lambda x, y: (vectorizer(x), y), num_parallel_calls=autotune)
        return ds.prefetch(autotune)

    ds = ds.batch(512).map(lambda x, y: (vectorizer(x), y), num_parallel_calls=autotune).unbatch()
    bucketed = trim_padding and name in PADDING_INVARIANT
    if bucketed:
        # Id 0 is padding only, and it only trails: the real length is the count of non-zeros.
        def trim(ids, label):
            length = tf.maximum(tf.math.count_nonzero(ids, dtype=tf.int32), 1)
            return ids[:length], label

        ds = ds.map(trim, num_parallel_calls=autotune)
    ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(len(split.texts), seed=seed, reshuffle_each_iteration=True)
    if bucketed:
        sequence_length = vectorizer.get_config()["output_sequence_length"]
        boundaries = _bucket_boundaries(sequence_length)
        ds = ds.bucket_by_sequence_length(
            lambda ids, label: tf.shape(ids)[0],
            bucket_boundaries=boundaries,
            bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        )
    else:
        ds = ds.batch(batch_size)
    return ds.prefetch(autotune)


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

    from keras_transformer.data.imdb import load_imdb_texts
    from keras_transformer.training import (
        count_batches,
        plot_history,
        read_history_csv,
        set_seed,
        training_callbacks,
        write_json,
    )

    from keras_transformer import distribute

    _check_name(name)
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


# ---------------------------------------------------------------------------
# The same sequence models from pre-vectorized arrays, on any Keras backend.
# For machines without TensorFlow (an accelerator with JAX, say): vectorize
# once where TensorFlow is, carry the arrays, train there.


def export_token_arrays(path, data_dir=None, source="archive", seed=1337, vocab_size=20000, sequence_length=600):
    """Vectorize IMDB once for the sequence models; save ids, labels and vocabulary.

    The vectorizer is adapted on the training split only, exactly as in
    :func:`train_and_evaluate`. Ids are stored as uint16 (vocab < 65,536),
    padded to ``sequence_length``, in a compressed ``.npz``.
    """
    import numpy as np
    import tensorflow as tf

    from keras_transformer.data.imdb import load_imdb_texts

    if vocab_size > 65536:
        raise ValueError(f"vocab_size={vocab_size} does not fit uint16 arrays; use at most 65536.")
    train, val, test = load_imdb_texts(data_dir, source=source, seed=seed)
    vectorizer = make_vectorizer("transformer", vocab_size, sequence_length)
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(list(train.texts)).batch(512))

    def ids(texts):
        chunks = [vectorizer(tf.constant(texts[i : i + 1000])).numpy() for i in range(0, len(texts), 1000)]
        return np.concatenate(chunks).astype(np.uint16)

    arrays = {}
    for split_name, split in (("train", train), ("val", val), ("test", test)):
        arrays[f"x_{split_name}"] = ids(list(split.texts))
        arrays[f"y_{split_name}"] = np.asarray(split.labels, dtype=np.uint8)
    arrays["vocabulary"] = np.asarray(vectorizer.get_vocabulary())
    np.savez_compressed(path, **arrays)
    return {k: v.shape for k, v in arrays.items()}


class _Deadline(keras.callbacks.Callback):
    """Stop after the epoch during which ``deadline`` (time.time()) passes."""

    def __init__(self, deadline):
        super().__init__()
        self.deadline = deadline
        self.stopped = False

    def on_epoch_end(self, epoch, logs=None):
        import time

        if self.deadline is not None and time.time() > self.deadline:
            self.stopped = True
            self.model.stop_training = True


def train_on_arrays(name, arrays_path, output_dir, epochs=None, batch_size=32, seed=1337, deadline=None,
                    command=None, verbose="auto", **model_kwargs):
    """Train sequence model ``name`` on :func:`export_token_arrays` output; any backend.

    Keeps the best validation epoch's weights (``best.weights.h5``),
    evaluates them on the test set and writes ``results.json`` and
    ``history.csv`` under ``output_dir``. Every review is padded to the
    exported length (fixed shapes compile once under XLA). ``deadline``
    (seconds since the epoch) stops training after the epoch that passes
    it; ``results.json`` then says so and how many epochs ran.
    """
    import datetime
    import time
    from pathlib import Path

    import numpy as np

    from keras_transformer.training import read_history_csv, write_json

    _check_name(name)
    if name in BAG_OF_WORDS:
        raise ValueError(f"train_on_arrays takes sequence models only, not {name!r}; use train_and_evaluate.")
    start = time.perf_counter()
    epochs = BOOK_EPOCHS[name] if epochs is None else int(epochs)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("history.csv", "best.weights.h5", "results.json"):
        if (output_dir / stale).exists():
            (output_dir / stale).unlink()
    keras.utils.set_random_seed(seed)
    data = np.load(arrays_path)
    x = {k: data[f"x_{k}"].astype("int32") for k in ("train", "val", "test")}
    y = {k: data[f"y_{k}"].astype("float32") for k in ("train", "val", "test")}
    model = build_classifier(name, **model_kwargs)
    stopper = _Deadline(deadline)
    callbacks = [
        _EpochTimer(),
        keras.callbacks.ModelCheckpoint(
            str(output_dir / "best.weights.h5"), monitor="val_accuracy", mode="max",
            save_best_only=True, save_weights_only=True,
        ),
        keras.callbacks.CSVLogger(str(output_dir / "history.csv")),
        stopper,
    ]
    model.fit(x["train"], y["train"], validation_data=(x["val"], y["val"]), epochs=epochs,
              batch_size=batch_size, shuffle=True, callbacks=callbacks, verbose=verbose)
    model.load_weights(output_dir / "best.weights.h5")
    test_loss, test_accuracy = model.evaluate(x["test"], y["test"], batch_size=batch_size, verbose=verbose)
    history = read_history_csv(output_dir / "history.csv")
    results = {
        **_run_summary(name, history, test_loss, test_accuracy, epochs),
        "stopped_by_deadline": stopper.stopped,
        "wall_time_s": time.perf_counter() - start,
        "settings": {"batch_size": batch_size, "seed": seed, "trim_padding": False,
                     "train_val_test": [len(y["train"]), len(y["val"]), len(y["test"])], **model_kwargs},
        "command": command,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": _machine(),
    }
    write_json(output_dir / "results.json", results)
    return results
