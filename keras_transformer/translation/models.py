"""The chapter's English->Spanish sequence-to-sequence models, built by name.

Three models, in the chapter's order:

* ``gru``: the book's RNN encoder-decoder. A bidirectional GRU reads the
  English sentence; the sum of its two final states is the initial state of a
  GRU decoder that reads the Spanish prefix and predicts the next token.
* ``gru-attention``: the same, plus Luong (multiplicative) attention: each
  decoder state attends over *all* encoder states (source padding masked),
  and the context vector is concatenated with the decoder state before the
  output layer.
* ``transformer``: the book's Transformer (one encoder layer, one decoder
  layer), built from this package's layers; the source padding mask reaches
  cross-attention.

Every model takes ``{"english": (B, S), "spanish": (B, T)}`` int token ids
and returns ``(B, T, target_vocab)`` next-token probabilities (softmax, as the
book). Layers have stable names so a step-by-step decoder can find them::

    transformer:   source_embedding, encoder, target_embedding, decoder,
                   decoder_dropout, output_projection (logits), softmax
    gru models:    source_embedding, encoder (the Bidirectional),
                   target_embedding, decoder_gru, attention (gru-attention),
                   decoder_dropout, output_projection (logits), softmax

Example::

    model = build_translation_model("transformer")
    model.fit(train_ds, validation_data=val_ds, epochs=30)
"""

import keras

from keras_transformer.layers import (
    LuongAttention,
    PositionalEmbedding,
    SparseCategoricalCrossentropyWithSmoothing,
    TransformerDecoder,
    TransformerEncoder,
)

MODEL_NAMES = ("gru", "gru-attention", "transformer")

# The book's sizes (chapter 11).
BOOK_GRU = {"embed_dim": 256, "latent_dim": 1024, "dropout": 0.5}
BOOK_TRANSFORMER = {"embed_dim": 256, "dense_dim": 2048, "num_heads": 8, "dropout": 0.5}


def _inputs():
    english = keras.Input(shape=(None,), dtype="int64", name="english")
    spanish = keras.Input(shape=(None,), dtype="int64", name="spanish")
    return english, spanish


def _output(x, target_vocab, dropout):
    x = keras.layers.Dropout(dropout, name="decoder_dropout")(x)
    logits = keras.layers.Dense(target_vocab, name="output_projection")(x)
    # The book's Dense(softmax), split in two: the softmax runs in float32
    # whatever the compute dtype, and it is the last op of the model, so
    # Keras's crossentropy finds the logits under it and uses its fused,
    # stable loss. Under mixed_bfloat16, a softmax inside the Dense layer is
    # computed in bfloat16 and cast, which hides it: the loss then takes the
    # log of clipped bfloat16 probabilities, and an epoch is some 15% slower.
    return keras.layers.Activation("softmax", dtype="float32", name="softmax")(logits)


def build_gru(
    source_vocab=15000,
    target_vocab=15000,
    embed_dim=256,
    latent_dim=1024,
    dropout=0.5,
    attention=False,
    name=None,
):
    """The book's GRU encoder-decoder; ``attention=True`` adds Luong attention.

    Returns an uncompiled ``keras.Model``: ``{"english": (B, S), "spanish":
    (B, T)}`` -> ``(B, T, target_vocab)`` probabilities.

    Example::

        model = build_gru(attention=True)
    """
    english, spanish = _inputs()
    x = keras.layers.Embedding(source_vocab, embed_dim, mask_zero=True, name="source_embedding")(
        english
    )
    if attention:
        encoder = keras.layers.Bidirectional(
            keras.layers.GRU(latent_dim, return_sequences=True, return_state=True),
            merge_mode="sum",
            name="encoder",
        )
        encoder_states, forward_state, backward_state = encoder(x)
        # The same vector the plain model's summed final output is.
        encoded_source = keras.layers.Add(name="encoder_state")([forward_state, backward_state])
    else:
        encoded_source = keras.layers.Bidirectional(
            keras.layers.GRU(latent_dim), merge_mode="sum", name="encoder"
        )(x)
    y = keras.layers.Embedding(target_vocab, embed_dim, mask_zero=True, name="target_embedding")(
        spanish
    )
    y = keras.layers.GRU(latent_dim, return_sequences=True, name="decoder_gru")(
        y, initial_state=encoded_source
    )
    if attention:
        context = LuongAttention(name="attention")(y, encoder_states)
        y = keras.layers.Concatenate(name="context_and_state")([context, y])
    outputs = _output(y, target_vocab, dropout)
    default = "gru_attention" if attention else "gru"
    return keras.Model({"english": english, "spanish": spanish}, outputs, name=name or default)


def build_transformer(
    source_vocab=15000,
    target_vocab=15000,
    sequence_length=20,
    embed_dim=256,
    dense_dim=2048,
    num_heads=8,
    key_dim="book",
    dropout=0.5,
    layer_dropout=0.0,
    name="transformer",
):
    """The book's Transformer encoder-decoder, one layer each.

    ``key_dim="book"`` uses ``key_dim=embed_dim`` per head, as the book's
    layers do; ``None`` uses ``embed_dim // num_heads`` (the paper). As in the
    book, dropout is applied once, before the output layer; the encoder and
    decoder layers have none unless ``layer_dropout`` is set (then on their
    attention weights and each sublayer's output, as in the paper).

    Example::

        model = build_transformer(source_vocab=100, target_vocab=100, embed_dim=32,
                                  dense_dim=64, num_heads=2)
    """
    if key_dim == "book":
        key_dim = embed_dim
    english, spanish = _inputs()
    x = PositionalEmbedding(sequence_length, source_vocab, embed_dim, name="source_embedding")(
        english
    )
    encoder_outputs = TransformerEncoder(
        embed_dim, dense_dim, num_heads, key_dim=key_dim, dropout=layer_dropout, name="encoder"
    )(x)
    y = PositionalEmbedding(sequence_length, target_vocab, embed_dim, name="target_embedding")(
        spanish
    )
    # The source padding mask rides on encoder_outputs into cross-attention.
    y = TransformerDecoder(embed_dim, dense_dim, num_heads, key_dim=key_dim, dropout=layer_dropout, name="decoder")(
        y, encoder_outputs
    )
    outputs = _output(y, target_vocab, dropout)
    return keras.Model({"english": english, "spanish": spanish}, outputs, name=name)


def compile_translation_model(model, optimizer="rmsprop", steps_per_execution=1, label_smoothing=0.0):
    """Compile as the book: rmsprop, sparse categorical crossentropy, accuracy.

    ``label_smoothing > 0`` trains on the smoothed crossentropy instead
    (``layers.SparseCategoricalCrossentropyWithSmoothing``). Keras masks the loss and the accuracy with the output's mask, which is the
    decoder input's padding mask (so the position right after ``[end]``,
    whose target is padding, is counted; see ``Translator.evaluate``).
    """
    model.compile(
        optimizer=optimizer,
        loss=SparseCategoricalCrossentropyWithSmoothing(label_smoothing) if label_smoothing
        else "sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    return model


def build_translation_model(
    name,
    source_vocab=15000,
    target_vocab=15000,
    sequence_length=20,
    compile=True,
    **kwargs,
):
    """Build one of the chapter's translators by name (see ``MODEL_NAMES``).

    Args:
        name: ``"gru"``, ``"gru-attention"`` or ``"transformer"``.
        source_vocab, target_vocab: vocabulary sizes (the book's 15,000).
        sequence_length: longest sequence (positional embeddings only).
        compile: compile as the book (rmsprop, crossentropy, accuracy).
        **kwargs: sizes passed to :func:`build_gru` (``embed_dim``,
            ``latent_dim``, ``dropout``) or :func:`build_transformer`
            (``embed_dim``, ``dense_dim``, ``num_heads``, ``key_dim``,
            ``dropout``, ``layer_dropout``); defaults are the book's.

    Returns:
        ``keras.Model``: ``{"english": (B, S), "spanish": (B, T)}`` int ids ->
        ``(B, T, target_vocab)`` next-token probabilities.

    Example::

        model = build_translation_model("gru-attention")
        model.fit(train_ds, validation_data=val_ds, epochs=15)
    """
    if name in ("gru", "gru-attention"):
        model = build_gru(
            source_vocab, target_vocab, attention=name == "gru-attention", **kwargs
        )
    elif name == "transformer":
        model = build_transformer(source_vocab, target_vocab, sequence_length, **kwargs)
    else:
        raise ValueError(f"Unknown model name {name!r}; choose one of {', '.join(MODEL_NAMES)}.")
    if compile:
        compile_translation_model(model)
    return model


__all__ = [
    "BOOK_GRU",
    "BOOK_TRANSFORMER",
    "MODEL_NAMES",
    "build_gru",
    "build_transformer",
    "build_translation_model",
    "compile_translation_model",
]
