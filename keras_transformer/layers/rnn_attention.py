"""Attention inside an RNN encoder-decoder (the chapter's first idea of attention).

The decoder's state at each target step attends over *all* of the encoder's
hidden states, instead of relying on the single summary vector the plain
GRU encoder-decoder passes as the initial state.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_transformer")
class LuongAttention(keras.layers.Layer):
    """Luong's multiplicative ("general") attention: `score(h_t, h_s) = h_t W h_s`.

    For every decoder state `h_t` it scores every encoder state `h_s`, takes a
    softmax over the source positions that are real tokens (the source padding
    mask) and returns the weighted sum of encoder states, the context vector.
    Multiplicative (Luong et al., 2015) rather than additive (Bahdanau) because
    it is one matrix product per batch, which matters on a CPU, and the
    decoder's GRU output is exactly Luong's `h_t` (no input feeding).

    Args:
        use_scale_weight: learn the `W` of the "general" score (default True);
            False gives the plain "dot" score `h_t . h_s` (needs equal sizes).

    Call arguments:
        query: `(B, T, d_q)` decoder states.
        value: `(B, S, d_v)` encoder states.
        query_mask: `(B, T)`; Keras fills it from `query`'s mask and passes it on.
        value_mask: `(B, S)` booleans, True at real source tokens; Keras fills
            it from `value`'s mask (e.g. from `Embedding(mask_zero=True)`).
        return_attention_scores: also return the `(B, T, S)` weights.

    With `keep_attention_weights=True` the last weights are also kept in
    `last_attention_weights` (for plots, when the layer runs eagerly inside
    a model).

    Returns:
        `(B, T, d_v)` context vectors (carrying the query's mask), and the
        weights when asked.

    Example:
    >>> att = LuongAttention()
    >>> att(keras.random.normal((2, 5, 8)), keras.random.normal((2, 7, 8))).shape
    (2, 5, 8)
    """

    def __init__(self, use_scale_weight=True, keep_attention_weights=False, **kwargs):
        super().__init__(**kwargs)
        self.use_scale_weight = use_scale_weight
        self.keep_attention_weights = keep_attention_weights
        self.last_attention_weights = None
        self.supports_masking = True

    def build(self, query_shape, value_shape=None):
        if value_shape is None:
            raise ValueError("LuongAttention is called as attention(query, value); value is missing.")
        d_q, d_v = query_shape[-1], value_shape[-1]
        if self.use_scale_weight:
            self.kernel = self.add_weight(
                name="kernel", shape=(d_q, d_v), initializer="glorot_uniform"
            )
        elif d_q != d_v:
            raise ValueError(
                f"LuongAttention(use_scale_weight=False) needs equal query and value sizes; "
                f"got {d_q} and {d_v}. Use use_scale_weight=True."
            )
        self.built = True

    def call(self, query, value, query_mask=None, value_mask=None, return_attention_scores=False):
        if self.use_scale_weight:
            query = ops.matmul(query, ops.cast(self.kernel, query.dtype))
        scores = ops.matmul(query, ops.transpose(value, (0, 2, 1)))  # (B, T, S)
        if value_mask is not None:
            keep = ops.expand_dims(ops.cast(value_mask, "bool"), 1)
            # A large negative rather than -inf: an all-padding source row
            # then gives uniform weights instead of NaN.
            scores = ops.where(keep, scores, ops.cast(-1e9 if scores.dtype == "float32" else -3e4, scores.dtype))
        weights = ops.softmax(scores, axis=-1)
        context = ops.matmul(weights, value)
        if self.keep_attention_weights:
            self.last_attention_weights = weights
        if return_attention_scores:
            return context, weights
        return context

    def compute_mask(self, query, previous_mask=None):
        return previous_mask

    def compute_output_shape(self, query_shape, value_shape=None):
        return tuple(query_shape[:-1]) + (value_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config["use_scale_weight"] = self.use_scale_weight
        config["keep_attention_weights"] = self.keep_attention_weights
        return config
