"""Masks reach the fused attention kernel with full query and key lengths.

JAX's cuDNN attention refuses a mask whose query or key axis is a broadcast 1
(a key padding mask `(B, 1, 1, S)`, say), and Keras then falls back to XLA's
attention with an ERROR traceback in the log. So every mask the package's
layers hand to `ops.dot_product_attention` must be `(B or 1, heads or 1, T, S)`.
A spy on the function Keras's MultiHeadAttention calls records the shapes; the
outputs are checked against the unfused path (explicit scores and softmax) and
against the masks as they were before being broadcast.
"""

import keras
import numpy as np
import pytest
from keras import ops
from keras.src.layers.attention import multi_head_attention as keras_mha

import keras_transformer.layers.attention as attention
from keras_transformer import MultiHeadAttention, TransformerDecoder, TransformerEncoder, merge_masks
from keras_transformer.classification import build_classifier
from keras_transformer.translation import build_translation_model

pytestmark = pytest.mark.layers
B, T, S, D, HEADS = 2, 5, 7, 8, 2


@pytest.fixture
def fused_calls(monkeypatch):
    """`(query shape, key shape, mask shape or None)` of each fused attention call."""
    calls = []
    real = keras_mha.ops.dot_product_attention

    def spy(*args, **kwargs):
        query, key = (kwargs["query"], kwargs["key"]) if "query" in kwargs else args[:2]
        mask = kwargs.get("mask")
        calls.append((tuple(query.shape), tuple(key.shape), None if mask is None else tuple(mask.shape)))
        return real(*args, **kwargs)

    monkeypatch.setattr(keras_mha.ops, "dot_product_attention", spy)
    return calls


def assert_full_length(calls, expected_calls):
    assert len(calls) == expected_calls, calls
    for query, key, mask in calls:
        assert mask is not None and len(mask) == 4, (query, key, mask)
        batch, heads, rows, cols = mask
        assert batch in (1, query[0]) and heads in (1, query[2]), (query, key, mask)
        assert (rows, cols) == (query[1], key[1]), f"mask {mask} for queries {query} and keys {key}"


def attention_layers(layer):
    found = [layer] if isinstance(layer, MultiHeadAttention) else []
    found += [sub for sub in layer._flatten_layers(include_self=False) if isinstance(sub, MultiHeadAttention)]
    assert found
    return found


def same_outputs_unfused_and_as_before(layer, run, fused, monkeypatch, calls):
    """`run()` again unfused (scores kept) and with the masks left broadcast: same outputs."""
    made = len(calls)
    for mha in attention_layers(layer):
        mha.keep_attention_weights = True
    try:
        unfused = run()
    finally:
        for mha in attention_layers(layer):
            mha.keep_attention_weights = False
    assert len(calls) == made, "keeping the weights should take the unfused path"
    np.testing.assert_allclose(ops.convert_to_numpy(fused), ops.convert_to_numpy(unfused), atol=1e-5, rtol=1e-5)

    with monkeypatch.context() as patch:
        patch.setattr(attention, "_full_length_mask", lambda mask, query_length, key_length: mask)
        before = run()
    np.testing.assert_allclose(ops.convert_to_numpy(fused), ops.convert_to_numpy(before), atol=1e-6, rtol=1e-6)


def _x(length, seed=0):
    return ops.convert_to_tensor(np.random.default_rng(seed).normal(size=(B, length, D)).astype("float32"))


def _padding(length):
    real = np.arange(length)[None, :] < np.array([[length], [length - 2]])
    return ops.convert_to_tensor(real)


def test_encoder_key_padding_mask_reaches_the_kernel_full_length(fused_calls, monkeypatch):
    encoder = TransformerEncoder(D, 16, HEADS)
    x, mask = _x(T), _padding(T)

    def run():
        return encoder(x, padding_mask=mask)

    out = run()
    assert_full_length(fused_calls, 1)
    assert fused_calls[0][2] == (B, 1, T, T)
    same_outputs_unfused_and_as_before(encoder, run, out, monkeypatch, fused_calls)


def test_decoder_self_and_cross_attention_masks_reach_the_kernel_full_length(fused_calls, monkeypatch):
    decoder = TransformerDecoder(D, 16, HEADS)
    y, source = _x(T, 1), _x(S, 2)
    target_mask, source_mask = _padding(T), _padding(S)

    def run():
        return decoder(y, source, inputs_mask=target_mask, encoder_outputs_mask=source_mask)

    out = run()
    assert_full_length(fused_calls, 2)
    assert [call[2] for call in fused_calls] == [(B, 1, T, T), (B, 1, T, S)]
    same_outputs_unfused_and_as_before(decoder, run, out, monkeypatch, fused_calls)


def test_attention_with_a_query_mask_only_reaches_the_kernel_full_length(fused_calls, monkeypatch):
    mha = MultiHeadAttention(num_heads=HEADS, key_dim=4)
    query, value = _x(T), _x(S, 1)

    def run():
        return mha(query, value, query_mask=_padding(T))

    out = run()
    assert_full_length(fused_calls, 1)
    same_outputs_unfused_and_as_before(mha, run, out, monkeypatch, fused_calls)


def test_single_query_fast_path_still_agrees(fused_calls, monkeypatch):
    mha = MultiHeadAttention(num_heads=HEADS, key_dim=4)
    query, value = _x(1), _x(S, 1)

    def run():
        return mha(query, value, value_mask=_padding(S))

    out = run()
    assert fused_calls == []  # one query: the package's own elementwise path
    same_outputs_unfused_and_as_before(mha, run, out, monkeypatch, fused_calls)


def test_classifier_masks_reach_the_kernel_full_length(fused_calls, monkeypatch):
    keras.utils.set_random_seed(0)
    model = build_classifier(
        "transformer-positional", vocab_size=50, sequence_length=T, embed_dim=D, num_heads=HEADS, dense_dim=16,
        compile=False,
    )
    ids = ops.convert_to_tensor(np.array([[3, 4, 5, 6, 7], [8, 9, 10, 0, 0]], dtype="int64"))

    def run():
        return model(ids)

    out = run()
    assert_full_length(fused_calls, 1)
    assert fused_calls[0][2] == (B, 1, T, T)
    same_outputs_unfused_and_as_before(model, run, out, monkeypatch, fused_calls)


def test_translation_model_masks_reach_the_kernel_full_length(fused_calls, monkeypatch):
    keras.utils.set_random_seed(0)
    model = build_translation_model(
        "transformer", source_vocab=30, target_vocab=30, sequence_length=S, embed_dim=D, dense_dim=16,
        num_heads=HEADS, key_dim=4, compile=False,
    )
    inputs = {
        "english": ops.convert_to_tensor(np.array([[3, 4, 5, 6, 7, 8, 9], [3, 4, 5, 0, 0, 0, 0]], dtype="int64")),
        "spanish": ops.convert_to_tensor(np.array([[2, 4, 5, 6, 7], [2, 4, 0, 0, 0]], dtype="int64")),
    }

    def run():
        return model(inputs)

    out = run()
    assert_full_length(fused_calls, 3)  # encoder, decoder self- and cross-attention
    assert [call[2] for call in fused_calls] == [(B, 1, S, S), (B, 1, T, T), (B, 1, T, S)]
    same_outputs_unfused_and_as_before(model, run, out, monkeypatch, fused_calls)
    # Compiled, with lengths unknown while tracing (TensorFlow): the same.
    np.testing.assert_allclose(model.predict(inputs, verbose=0), ops.convert_to_numpy(out), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("which", ["query_mask", "key_mask"])
def test_merge_masks_refuses_a_padding_mask_that_is_not_batch_by_length(which):
    with pytest.raises(ValueError, match=r"\(batch, length\) = \(2, 5\); got \(2, 5, 1\)") as error:
        merge_masks(**{which: ops.ones((2, 5, 1), "bool")})
    assert which in str(error.value) and "\n" not in str(error.value)
    assert tuple(merge_masks(**{which: ops.ones((2, 5), "bool")}).shape) == ((2, 5, 1) if which == "query_mask" else (2, 1, 5))
