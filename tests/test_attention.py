import numpy as np
import pytest
import keras
from keras import ops

from keras_transformer import MultiHeadAttention, causal_mask, scaled_dot_product_attention
from layer_battery import assert_close, run_layer_battery

# Backend-agnostic layer tests: CI runs them under TensorFlow and JAX.
pytestmark = pytest.mark.layers

rng = np.random.default_rng(0)


def test_chapter_worked_example_one_head_and_several_heads():
    # A 4-word sentence embedded as 4x4, projected by 4x8 query/key/value
    # matrices: one head gives a 4x8 result.
    sentence = rng.normal(size=(4, 4)).astype("float32")
    wq, wk, wv = (rng.normal(size=(4, 8)).astype("float32") for _ in range(3))
    out, weights = scaled_dot_product_attention(sentence @ wq, sentence @ wk, sentence @ wv)
    assert tuple(out.shape) == (4, 8)
    assert tuple(weights.shape) == (4, 4)
    assert_close(ops.sum(weights, axis=-1), np.ones(4))
    # Several heads, each with its own 4x(8/h) projections, concatenated: 4x8.
    heads = 2
    outs = [
        scaled_dot_product_attention(
            sentence @ wq[:, h::heads], sentence @ wk[:, h::heads], sentence @ wv[:, h::heads]
        )[0]
        for h in range(heads)
    ]
    assert tuple(ops.concatenate(outs, axis=-1).shape) == (4, 8)


def test_reference_matches_the_formula_written_in_numpy():
    q, k, v = (rng.normal(size=(2, 3, 5, 4)).astype("float32") for _ in range(3))
    mask = rng.random((2, 1, 5, 5)) > 0.3
    mask[..., 0] = True
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    scores = q @ np.swapaxes(k, -1, -2) / 2.0
    scores = np.where(mask, scores, -np.inf)
    expected_w = np.exp(scores - scores.max(-1, keepdims=True))
    expected_w /= expected_w.sum(-1, keepdims=True)
    assert_close(weights, expected_w)
    assert_close(out, expected_w @ v)


def _copy_weights(src, dst, query, value):
    # Random biases too, so a mistake in any term shows.
    src.set_weights([rng.normal(size=w.shape).astype("float32") for w in src.get_weights()])
    dst(query, value)
    dst.set_weights(src.get_weights())


@pytest.mark.parametrize("keep", [False, True])
def test_multi_head_attention_agrees_with_keras_and_with_the_reference(keep):
    query = rng.normal(size=(3, 6, 16)).astype("float32")
    value = rng.normal(size=(3, 7, 16)).astype("float32")
    value_mask = np.ones((3, 7), bool)
    value_mask[0, 4:] = False
    value_mask[2, 1:] = False
    keras_mha = keras.layers.MultiHeadAttention(num_heads=4, key_dim=4)
    keras_mha(query, value)
    ours = MultiHeadAttention(num_heads=4, key_dim=4, keep_attention_weights=keep)
    _copy_weights(keras_mha, ours, query, value)
    expected = keras_mha(query, value, attention_mask=value_mask[:, None, :])
    # Outputs here reach ~30; on torch Keras's layer may use a fused attention kernel (another
    # summation order), so allow a few float32 ulps of that size.
    assert_close(ours(query, value, value_mask=value_mask), expected, atol=5e-5, rtol=1e-5)

    # The same computation spelled out with the reference function.
    wq, bq, wk, bk, wv, bv, wo, bo = [ops.convert_to_numpy(w) for w in ours.weights]
    q = np.einsum("btd,dnh->bnth", query, wq) + bq[None, :, None, :]
    k = np.einsum("bsd,dnh->bnsh", value, wk) + bk[None, :, None, :]
    v = np.einsum("bsd,dnh->bnsh", value, wv) + bv[None, :, None, :]
    heads, weights = scaled_dot_product_attention(q, k, v, value_mask[:, None, None, :])
    reference = np.einsum("bnth,nhd->btd", ops.convert_to_numpy(heads), wo) + bo
    assert_close(ours(query, value, value_mask=value_mask), reference, atol=1e-4, rtol=1e-5)
    if keep:
        assert_close(ours.last_attention_weights, weights)
        assert np.all(ops.convert_to_numpy(ours.last_attention_weights)[0, :, :, 4:] == 0)
    else:
        assert ours.last_attention_weights is None


def test_fully_masked_rows_stay_finite_in_float16():
    ours = MultiHeadAttention(num_heads=2, key_dim=4, dtype="mixed_float16",
                              keep_attention_weights=True)
    x = rng.normal(size=(2, 5, 8)).astype("float32") * 50
    out = ours(x, x, value_mask=np.zeros((2, 5), bool))
    assert np.all(np.isfinite(ops.convert_to_numpy(ops.cast(out, "float32"))))


def test_causal_mask_shape_and_offset():
    expected = np.tril(np.ones((3, 3), bool))
    assert np.array_equal(ops.convert_to_numpy(causal_mask(3))[0], expected)
    # One query at absolute position 2 against a cache of 4 keys.
    assert ops.convert_to_numpy(causal_mask(1, 4, offset=2))[0].tolist() == [[True, True, True, False]]


def test_cached_self_attention_equals_full_causal_attention():
    length, dim = 6, 8
    x = rng.normal(size=(2, length, dim)).astype("float32")
    mha = MultiHeadAttention(num_heads=2, key_dim=4)
    full = mha(x, x, use_causal_mask=True)
    cache = ops.zeros((2, 2, length, 2, 4))
    steps = []
    for t in range(length):
        step = x[:, t : t + 1]
        out, cache = mha(step, step, use_causal_mask=True, cache=cache, cache_update_index=t)
        steps.append(out)
    assert_close(ops.concatenate(steps, axis=1), full, atol=1e-5)


def test_cross_attention_cache_equals_recomputing_keys_and_values():
    q = rng.normal(size=(2, 3, 8)).astype("float32")
    src = rng.normal(size=(2, 5, 8)).astype("float32")
    mha = MultiHeadAttention(num_heads=2, key_dim=4)
    expected = mha(q, src)
    out, _ = mha(q, src, cache=mha.compute_cache(src))
    assert_close(out, expected)


@pytest.mark.parametrize("use_bias", [True, False])
def test_cached_steps_with_head_projections_as_matrices_equal_full_attention(use_bias):
    # While decoding, the projections run as 2-D products: on the matrices a
    # loop passes in (`head_projections()`), or reshaped from the layer's kernels.
    length, dim = 5, 8
    x = rng.normal(size=(3, length, dim)).astype("float32")
    mha = MultiHeadAttention(num_heads=2, key_dim=4, use_bias=use_bias)
    full = mha(x, x, use_causal_mask=True)
    matrices = mha.head_projections()
    assert [tuple(k.shape) for k, _ in matrices] == [(8, 8), (8, 8), (8, 8), (8, 8)]
    for given in (None, matrices):
        cache = (ops.zeros((3, length, 2, 4)), ops.zeros((3, length, 2, 4)))
        steps = []
        for t in range(length):
            step = x[:, t : t + 1]
            out, cache = mha(step, step, use_causal_mask=True, cache=cache, cache_update_index=t, projections=given)
            steps.append(out)
        assert_close(ops.concatenate(steps, axis=1), full, atol=1e-5)
    # The matrices are what the step uses: zeroing them changes the output.
    zeros = type(matrices)(*((ops.zeros_like(k), ops.zeros_like(b)) for k, b in matrices))
    out, _ = mha(x[:, :1], x[:, :1], cache=(ops.zeros((3, length, 2, 4)),) * 2, cache_update_index=0, projections=zeros)
    assert_close(out, np.zeros((3, 1, dim)))


@pytest.mark.parametrize("which", ["query_mask", "value_mask", "key_mask"])
def test_a_padding_mask_with_a_trailing_axis_is_refused_even_when_it_would_broadcast(which):
    # (B, T, 1) with T == num_heads would broadcast against the (B, heads, T, S)
    # scores without complaint and mask the wrong positions.
    heads = length = 3
    x = rng.normal(size=(2, length, 8)).astype("float32")
    mha = MultiHeadAttention(num_heads=heads, key_dim=4)
    mask = np.ones((2, length, 1), bool)
    with pytest.raises(ValueError, match=r"must have shape \(batch, length\) = \(2, 3\); got \(2, 3, 1\)"):
        mha(x, x, **{which: mask})


def test_a_padding_mask_of_the_wrong_length_or_rank_is_refused_and_a_right_one_works():
    query = rng.normal(size=(2, 4, 8)).astype("float32")
    value = rng.normal(size=(2, 6, 8)).astype("float32")
    mha = MultiHeadAttention(num_heads=2, key_dim=4)
    with pytest.raises(ValueError, match=r"value_mask must have shape \(batch, length\) = \(2, 6\); got \(2, 4\)"):
        mha(query, value, value_mask=np.ones((2, 4), bool))  # the query's length, not the value's
    with pytest.raises(ValueError, match=r"query_mask .* got \(4,\)"):
        mha(query, value, query_mask=np.ones((4,), bool))
    value_mask = np.array([[True] * 6, [True] * 3 + [False] * 3])
    padded = value.copy()
    padded[1, 3:] = 100.0  # what the mask hides changes nothing
    assert_close(mha(query, value, value_mask=value_mask), mha(query, padded, value_mask=value_mask), atol=1e-5)


def test_battery(tmp_path):
    x = rng.normal(size=(4, 5, 8)).astype("float32")
    run_layer_battery(
        lambda **kw: MultiHeadAttention(num_heads=2, key_dim=4, **kw),
        [x],
        tmp_path,
        call=lambda layer, t: layer(t[0], t[0], use_causal_mask=True),
    )
