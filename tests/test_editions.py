"""Both editions' call sites: the book's 2nd edition and its 3rd edition (chapter 15).

The 2nd edition calls the layers positionally and lets Keras carry the
padding mask from `PositionalEmbedding`:

    TransformerEncoder(embed_dim, dense_dim, num_heads)(x)
    TransformerDecoder(embed_dim, dense_dim, num_heads)(x, encoder_outputs)

The 3rd edition names the tensors and passes the source padding mask itself
(its decoder takes no target mask: causal masking only):

    TransformerEncoder(hidden_dim, intermediate_dim, num_heads)(source=x, source_mask=ids != 0)
    TransformerDecoder(hidden_dim, intermediate_dim, num_heads)(
        target=y, source=encoder_output, source_mask=ids != 0)

Each edition's classifier and translation model is built here from those call
sites, trained one step, saved and reloaded; the keyword form is checked to be
the same call as the package's own forms.
"""

import json

import keras
import numpy as np
import pytest
from keras import layers, ops

import keras_transformer  # noqa: F401 (registers the layers for load_model)
from keras_transformer import PositionalEmbedding, TransformerDecoder, TransformerEncoder
from layer_battery import assert_close

# Backend-agnostic: CI runs them under TensorFlow and JAX.
pytestmark = pytest.mark.layers

VOCAB, LENGTH, EMBED, DENSE, HEADS = 40, 10, 16, 32, 2
BATCH = 4

rng = np.random.default_rng(15)


def token_ids(batch, length, lengths=None):
    """Random ids in 1..VOCAB-1, zero-padded after `lengths[row]` tokens."""
    ids = rng.integers(1, VOCAB, size=(batch, length)).astype("int32")
    for row, n in enumerate(lengths if lengths is not None else []):
        ids[row, n:] = 0
    return ids


def classifier_data():
    reviews = token_ids(BATCH, LENGTH, lengths=[LENGTH, 6, 3, 8])
    labels = rng.integers(0, 2, size=(BATCH, 1)).astype("float32")
    return reviews, labels


def translation_data():
    english = token_ids(BATCH, LENGTH, lengths=[LENGTH, 7, 4, 9])
    spanish = token_ids(BATCH, LENGTH + 1, lengths=[LENGTH + 1, 5, 8, 3])
    return [english, spanish[:, :-1]], spanish[:, 1:]


# -- the 2nd edition's models ----------------------------------------------------
def second_edition_classifier():
    inputs = keras.Input(shape=(None,), dtype="int64")
    x = PositionalEmbedding(LENGTH, VOCAB, EMBED)(inputs)
    x = TransformerEncoder(EMBED, DENSE, HEADS)(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def second_edition_translator():
    encoder_inputs = keras.Input(shape=(None,), dtype="int64", name="english")
    x = PositionalEmbedding(LENGTH, VOCAB, EMBED)(encoder_inputs)
    encoder_outputs = TransformerEncoder(EMBED, DENSE, HEADS)(x)
    decoder_inputs = keras.Input(shape=(None,), dtype="int64", name="spanish")
    x = PositionalEmbedding(LENGTH, VOCAB, EMBED)(decoder_inputs)
    x = TransformerDecoder(EMBED, DENSE, HEADS)(x, encoder_outputs)
    x = layers.Dropout(0.5)(x)
    decoder_outputs = layers.Dense(VOCAB, activation="softmax")(x)
    model = keras.Model([encoder_inputs, decoder_inputs], decoder_outputs)
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


# -- the 3rd edition's models ----------------------------------------------------
def third_edition_embedding(kind):
    """The token embedding in front of a 3rd-edition block.

    "embedding": a plain `Embedding` (the chapter's first Transformer).
    "positional": this package's `PositionalEmbedding` as the chapter's second
        Transformer calls its own (same arguments: sequence_length,
        input_dim, output_dim); this package's layer also emits a Keras mask,
        so the explicit and the propagated mask meet in the same call.
    "positional_unmasked": `PositionalEmbedding(..., mask_zero=False)`, which
        like the 3rd edition's own layer emits no mask: the explicit masks
        are then the only ones.
    """
    if kind == "embedding":
        return layers.Embedding(VOCAB, EMBED)
    if kind == "positional":
        return PositionalEmbedding(LENGTH, VOCAB, EMBED)
    return PositionalEmbedding(LENGTH, VOCAB, EMBED, mask_zero=False)


def third_edition_classifier(kind):
    # Chapter 15 of the 3rd edition classifies IMDB reviews with a pretrained
    # model rather than its own encoder; this is the 2nd edition's classifier
    # with the encoder called as the 3rd edition calls it.
    tokens = keras.Input(shape=(None,), dtype="int32", name="review")
    x = third_edition_embedding(kind)(tokens)
    x = TransformerEncoder(EMBED, DENSE, HEADS)(source=x, source_mask=tokens != 0)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dropout(0.5)(x)
    prediction = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(tokens, prediction)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def third_edition_translator(kind):
    source = keras.Input(shape=(None,), dtype="int32", name="english")
    x = third_edition_embedding(kind)(source)
    encoder_output = TransformerEncoder(EMBED, DENSE, HEADS)(source=x, source_mask=source != 0)
    target = keras.Input(shape=(None,), dtype="int32", name="spanish")
    x = third_edition_embedding(kind)(target)
    x = TransformerDecoder(EMBED, DENSE, HEADS)(
        target=x, source=encoder_output, source_mask=source != 0
    )
    x = layers.Dropout(0.5)(x)
    target_predictions = layers.Dense(VOCAB, activation="softmax")(x)
    model = keras.Model([source, target], target_predictions)
    model.compile(
        optimizer="adam", loss="sparse_categorical_crossentropy", weighted_metrics=["accuracy"]
    )
    return model


# The chapter's two Transformers; "positional_unmasked" is exercised by the
# padding-invariance test below.
KINDS = ["embedding", "positional"]
MODELS = [
    pytest.param(second_edition_classifier, classifier_data, id="2nd-classifier"),
    pytest.param(second_edition_translator, translation_data, id="2nd-translator"),
] + [
    pytest.param(lambda k=kind: third_edition_classifier(k), classifier_data, id=f"3rd-classifier-{kind}")
    for kind in KINDS
] + [
    pytest.param(lambda k=kind: third_edition_translator(k), translation_data, id=f"3rd-translator-{kind}")
    for kind in KINDS
]


# The book's classifiers pool with Keras's GlobalMaxPooling1D, which warns
# that it drops the mask the encoder's output carries; the 2nd edition's
# int64 inputs are int32 under JAX (without x64), which JAX warns about.
@pytest.mark.filterwarnings("ignore:.*does not support masking:UserWarning")
@pytest.mark.filterwarnings("ignore:Explicitly requested dtype int64:UserWarning")
@pytest.mark.parametrize("build, data", MODELS)
def test_each_editions_model_trains_saves_and_reloads(build, data, tmp_path):
    model = build()
    inputs, targets = data()
    before = ops.convert_to_numpy(model(inputs))
    logs = model.train_on_batch(inputs, targets, return_dict=True)
    assert np.isfinite(logs["loss"])
    expected = ops.convert_to_numpy(model(inputs))
    assert not np.allclose(expected, before)  # the step trained something

    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(ops.convert_to_numpy(reloaded(inputs)), expected, rtol=0, atol=1e-6)
    # The saved graph records the package's own argument names, so the file
    # loads wherever the package's layers do.
    assert "source_mask" not in json.dumps(model.get_config())


# -- the keyword call is the same call -------------------------------------------
def assert_close_at(actual, expected, real):
    """`actual == expected` at the positions where `real` (B, T) is True."""
    real = np.asarray(real, bool)
    assert_close(ops.convert_to_numpy(actual)[real], ops.convert_to_numpy(expected)[real], atol=1e-6)


def twin_embeddings(ids):
    """A masking `PositionalEmbedding` and a non-masking one with the same weights."""
    masked = PositionalEmbedding(LENGTH, VOCAB, EMBED)
    plain = PositionalEmbedding(LENGTH, VOCAB, EMBED, mask_zero=False)
    masked(ids), plain(ids)
    plain.set_weights(masked.get_weights())
    return masked, plain


def test_encoder_source_mask_equals_propagated_mask_and_padding_mask():
    ids = token_ids(3, 8, lengths=[8, 5, 2])
    real = ids != 0
    masked, plain = twin_embeddings(ids)
    encoder = TransformerEncoder(EMBED, DENSE, HEADS)
    tokens = keras.Input((None,), dtype="int32")

    def run(output):
        return keras.Model(tokens, output)(ids)

    padding_mask = run(encoder(plain(tokens), padding_mask=tokens != 0))
    propagated = run(encoder(masked(tokens)))
    for keywords in [
        encoder(source=plain(tokens), source_mask=tokens != 0),
        encoder(plain(tokens), source_mask=tokens != 0),
    ]:
        # An explicit mask by either name is the same call, at every position.
        assert_close(run(keywords), padding_mask, atol=1e-6)
        # A Keras-propagated mask gives the same outputs at every real token.
        # (At padding positions it also masks the padded queries, as Keras
        # passes the tensor's mask on to attention; masked consumers never
        # read those positions.)
        assert_close_at(run(keywords), propagated, real)
    # Explicit and propagated masks together: the same as either.
    assert_close_at(run(encoder(source=masked(tokens), source_mask=tokens != 0)), propagated, real)
    unmasked = run(encoder(plain(tokens)))
    assert not np.allclose(ops.convert_to_numpy(unmasked)[real], ops.convert_to_numpy(propagated)[real])

    # Eagerly, on arrays.
    x = rng.normal(size=(3, 8, EMBED)).astype("float32")
    assert_close(encoder(source=x, source_mask=real), encoder(x, padding_mask=real), atol=1e-6)
    assert_close(encoder(source=x), encoder(x), atol=1e-6)


def test_decoder_keywords_equal_propagated_and_explicit_masks():
    src = token_ids(3, 8, lengths=[8, 5, 2])
    tgt = token_ids(3, 6, lengths=[6, 3, 4])
    src_masked, src_plain = twin_embeddings(src)
    tgt_masked, tgt_plain = twin_embeddings(tgt)
    encoder = TransformerEncoder(EMBED, DENSE, HEADS)
    decoder = TransformerDecoder(EMBED, DENSE, HEADS)
    source = keras.Input((None,), dtype="int32")
    target = keras.Input((None,), dtype="int32")

    propagated = decoder(tgt_masked(target), encoder(src_masked(source)))
    explicit = decoder(
        tgt_plain(target),
        encoder(src_plain(source), padding_mask=source != 0),
        inputs_mask=target != 0,
        encoder_outputs_mask=source != 0,
    )
    # The 3rd edition passes no target mask; here the target's comes from
    # the masking embedding, as in the 2nd edition.
    keywords = decoder(
        target=tgt_masked(target),
        source=encoder(source=src_plain(source), source_mask=source != 0),
        source_mask=source != 0,
    )
    mixed = decoder(  # the 3rd edition's names, plus this package's target mask
        target=tgt_plain(target),
        source=encoder(source=src_plain(source), source_mask=source != 0),
        source_mask=source != 0,
        inputs_mask=target != 0,
    )
    run = {name: keras.Model([source, target], out)([src, tgt]) for name, out in
           {"propagated": propagated, "explicit": explicit, "keywords": keywords, "mixed": mixed}.items()}
    assert_close(run["mixed"], run["explicit"], atol=1e-6)
    real = tgt != 0
    assert_close_at(run["explicit"], run["propagated"], real)
    assert_close_at(run["keywords"], run["propagated"], real)

    # Without any target mask (the 3rd edition's own model): keywords equal
    # the positional call with only the source mask.
    e = rng.normal(size=(3, 8, EMBED)).astype("float32")
    y = rng.normal(size=(3, 6, EMBED)).astype("float32")
    mask = src != 0
    assert_close(
        decoder(target=y, source=e, source_mask=mask),
        decoder(y, e, encoder_outputs_mask=mask),
        atol=1e-6,
    )
    assert_close(decoder(y, source=e, source_mask=mask), decoder(y, e, encoder_outputs_mask=mask), atol=1e-6)
    assert not np.allclose(
        ops.convert_to_numpy(decoder(target=y, source=e, source_mask=mask)),
        ops.convert_to_numpy(decoder(target=y, source=e)),
    )


def test_padding_invariance_with_keyword_masks():
    # No layer emits a Keras mask here: only the keyword masks keep padding out.
    model = third_edition_translator("positional_unmasked")
    src = token_ids(2, 6)
    tgt = token_ids(2, 5)
    reference = model([src, tgt])
    src_padded = np.concatenate([src, np.zeros((2, 4), "int32")], axis=1)
    tgt_padded = np.concatenate([tgt, np.zeros((2, 3), "int32")], axis=1)
    assert_close(model([src_padded, tgt]), reference)
    # Causal self-attention keeps appended target padding out of earlier positions.
    assert_close(model([src_padded, tgt_padded])[:, :5], reference)

    encoder = TransformerEncoder(EMBED, DENSE, HEADS)
    x = rng.normal(size=(2, 5, EMBED)).astype("float32")
    x_padded = np.concatenate([x, rng.normal(size=(2, 3, EMBED)).astype("float32")], axis=1)
    mask = np.arange(8)[None, :].repeat(2, 0) < 5
    assert_close(encoder(source=x_padded, source_mask=mask)[:, :5], encoder(source=x))


# -- one name per argument ----------------------------------------------------------
def test_giving_an_argument_under_both_names_is_a_one_line_error():
    x = rng.normal(size=(2, 4, EMBED)).astype("float32")
    e = rng.normal(size=(2, 5, EMBED)).astype("float32")
    m4, m5 = np.ones((2, 4), bool), np.ones((2, 5), bool)
    encoder = TransformerEncoder(EMBED, DENSE, HEADS)
    decoder = TransformerDecoder(EMBED, DENSE, HEADS)
    bad_calls = [
        (lambda: encoder(x, source=x), "`source` and `inputs`"),
        (lambda: encoder(inputs=x, source=x), "`source` and `inputs`"),
        (lambda: encoder(source=x, source_mask=m4, padding_mask=m4), "`source_mask` and `padding_mask`"),
        (lambda: encoder(source=x, source_mask=m4, mask=m4), "`source_mask` and `mask`"),
        (lambda: decoder(x, target=x, source=e), "`target` and `inputs`"),
        (lambda: decoder(x, e, source=e), "`source` and `encoder_outputs`"),
        (lambda: decoder(target=x, encoder_outputs=e, source=e), "`source` and `encoder_outputs`"),
        (
            lambda: decoder(target=x, source=e, source_mask=m5, encoder_outputs_mask=m5),
            "`source_mask` and `encoder_outputs_mask`",
        ),
    ]
    for call, names in bad_calls:
        with pytest.raises(ValueError, match=names) as info:
            call()
        assert "\n" not in str(info.value)


def test_config_is_the_same_whichever_form_built_the_layer():
    x = rng.normal(size=(2, 4, EMBED)).astype("float32")
    e = rng.normal(size=(2, 5, EMBED)).astype("float32")
    old_enc, new_enc = TransformerEncoder(EMBED, DENSE, HEADS), TransformerEncoder(EMBED, DENSE, HEADS)
    old_enc(x), new_enc(source=x, source_mask=np.ones((2, 4), bool))
    old_dec, new_dec = TransformerDecoder(EMBED, DENSE, HEADS), TransformerDecoder(EMBED, DENSE, HEADS)
    old_dec(x, e), new_dec(target=x, source=e)
    for old, new in [(old_enc, new_enc), (old_dec, new_dec)]:
        old_config, new_config = old.get_config(), new.get_config()
        old_config.pop("name"), new_config.pop("name")
        assert new_config == old_config
        assert [w.shape for w in new.weights] == [w.shape for w in old.weights]
