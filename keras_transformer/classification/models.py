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

Each model takes what ``keras_transformer.classification.data.make_vectorizer`` produces for the same name;
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
from keras_transformer.training.optimizers import make_optimizer

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
    warmup_steps=0,
    lazy_embedding_updates=False,
    steps_per_execution=1,
    fixed_batch=False,
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
            train with ``TrainingRun.fit(..., swap_ema=True)`` so that
            validation and the saved model use the averaged weights.
        decay_steps: if given, the learning rate follows a cosine from
            ``learning_rate`` (default 0.001) down to zero over this many
            steps (the book keeps it constant).
        warmup_steps: with ``decay_steps``, a linear rise from 0 over this
            many steps first (book: none).
        lazy_embedding_updates: adam/rmsprop update only the embedding rows
            a batch used (:mod:`keras_transformer.training.optimizers`; book: off).
        steps_per_execution: training steps per compiled call (fewer host round trips).
        fixed_batch: train on batches filled to a fixed size with weight-0 rows
            (``make_dataset(..., fixed_batch=True)``): the loss divides by the
            sum of the weights, not the rows, and the accuracy counts weighted
            reviews, so each batch's loss, gradient and accuracy are those of
            its real reviews.
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
        optimizer = make_optimizer(optimizer, learning_rate, decay_steps, weight_decay, ema_momentum, warmup_steps,
                                   lazy_embedding_updates)
        if fixed_batch:  # filled batches: the loss and the accuracy over the weighted (real) reviews only
            scoring = dict(loss=keras.losses.BinaryCrossentropy(reduction="mean_with_sample_weight"),
                           weighted_metrics=["accuracy"])
        else:
            scoring = dict(loss="binary_crossentropy", metrics=["accuracy"])
        model.compile(optimizer=optimizer, **scoring, steps_per_execution=steps_per_execution)
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
