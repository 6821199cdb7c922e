import numpy as np
import pytest
import keras
from keras import ops

from keras_transformer import PositionalEmbedding, SinusoidalPositionalEncoding
from layer_battery import assert_close, run_layer_battery

# Backend-agnostic layer tests: CI runs them under TensorFlow and JAX.
pytestmark = pytest.mark.layers

tokens = np.array([[4, 7, 1, 0, 0], [9, 2, 3, 5, 8]], dtype="int32")


def test_shape_and_mask_is_inputs_not_zero():
    emb = PositionalEmbedding(sequence_length=5, input_dim=10, output_dim=6)
    out = emb(tokens)
    assert tuple(out.shape) == (2, 5, 6)
    assert np.array_equal(ops.convert_to_numpy(emb.compute_mask(tokens)), tokens != 0)
    assert PositionalEmbedding(5, 10, 6, mask_zero=False).compute_mask(tokens) is None


def test_same_token_differs_by_position_and_start_index_matches_slicing():
    emb = PositionalEmbedding(sequence_length=5, input_dim=10, output_dim=6)
    out = ops.convert_to_numpy(emb(np.full((1, 5), 3, "int32")))
    assert not np.allclose(out[0, 0], out[0, 1])
    full = emb(tokens)
    assert_close(emb(tokens[:, 2:4], start_index=2), full[:, 2:4])


def test_too_long_input_names_both_lengths():
    emb = PositionalEmbedding(sequence_length=4, input_dim=10, output_dim=6)
    with pytest.raises(ValueError, match=r"length 5.*sequence_length=4"):
        emb(tokens)


def test_wrong_rank_is_a_clear_error():
    emb = PositionalEmbedding(sequence_length=5, input_dim=10, output_dim=6)
    with pytest.raises(ValueError, match="batch, length"):
        emb(np.zeros((2, 5, 1), "int32"))


def test_sinusoidal_matches_the_paper_formula_and_keeps_the_mask():
    d, length = 6, 5
    x = keras.layers.Embedding(10, d, mask_zero=True)(tokens)
    out = ops.convert_to_numpy(SinusoidalPositionalEncoding()(x) - x)
    pos = np.arange(length)[:, None]
    i = np.arange(d)[None, :]
    angle = pos / 10000 ** ((i // 2 * 2) / d)
    expected = np.where(i % 2 == 0, np.sin(angle), np.cos(angle))
    np.testing.assert_allclose(out[0], expected, atol=1e-5)
    # The embedding's padding mask passes through to the next layer.
    layer = SinusoidalPositionalEncoding()
    assert np.array_equal(ops.convert_to_numpy(layer.compute_mask(x, tokens != 0)), tokens != 0)
    assert layer.weights == []


def test_battery(tmp_path):
    run_layer_battery(lambda **kw: PositionalEmbedding(5, 10, 6, **kw), [tokens], tmp_path)
    x = np.random.default_rng(0).normal(size=(2, 5, 6)).astype("float32")

    def call(layer, t):
        return keras.layers.Dense(6)(layer(t[0]))  # a weight to train

    run_layer_battery(lambda **kw: SinusoidalPositionalEncoding(**kw), [x], tmp_path, call=call)
