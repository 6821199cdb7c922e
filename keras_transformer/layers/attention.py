"""Attention, as chapter 11 builds it: scores, masking, softmax, weighted sum.

`scaled_dot_product_attention` is the readable reference; `MultiHeadAttention`
is the fast layer the encoder and decoder use, checked against the reference
in the tests.
"""

import math
from types import SimpleNamespace

import keras
from keras import ops

from keras_transformer.layers.masking import check_padding_mask
from keras_transformer.layers.projections import HeadProjections, _matrices, _plain, _project

# A fill value for masked scores that is finite in float16 (max ~65504), so a
# masked position never turns into -inf and a fully masked row never into NaN.
MASK_FILL = -1e4


def causal_mask(query_length, key_length=None, offset=0):
    """Lower-triangular boolean mask: query `i` may see keys `0 .. offset + i`.

    Args:
        query_length: number of query positions `T`.
        key_length: number of key positions `S` (defaults to `T`).
        offset: absolute position of the first query; used when decoding one
            step at a time against a cache of `S` keys.

    Returns:
        A `(1, T, S)` boolean tensor.

    Example:
    >>> causal_mask(3)[0]   # [[T, F, F], [T, T, F], [T, T, T]]
    """
    key_length = query_length if key_length is None else key_length
    rows = ops.expand_dims(ops.arange(query_length, dtype="int32"), 1)
    rows = rows + ops.cast(offset, "int32")
    cols = ops.expand_dims(ops.arange(key_length, dtype="int32"), 0)
    return ops.expand_dims(ops.greater_equal(rows, cols), 0)


def merge_masks(query_mask=None, key_mask=None, attention_mask=None, causal=None):
    """Combine padding, attention and causal masks into one `(B, T, S)` mask.

    Args:
        query_mask: `(B, T)` booleans, True at real (non-padding) queries.
        key_mask: `(B, S)` booleans, True at real keys.
        attention_mask: `(B, T, S)` booleans, True where attention is allowed.
        causal: a `(1, T, S)` mask from `causal_mask`, or None.

    Returns:
        A boolean mask broadcastable to `(B, T, S)`, or None when every input
        is None (no masking at all).

    Raises:
        ValueError: a padding mask that is not `(batch, length)`, `(B, T, 1)`
            say (it would broadcast silently onto the wrong axis).
    """
    query_mask = _padding_mask(query_mask, "query_mask")
    key_mask = _padding_mask(key_mask, "key_mask")
    merged = None
    for mask in (
        None if query_mask is None else ops.expand_dims(query_mask, -1),
        None if key_mask is None else ops.expand_dims(key_mask, -2),
        attention_mask,
        causal,
    ):
        if mask is None:
            continue
        mask = ops.cast(mask, "bool")
        merged = mask if merged is None else ops.logical_and(merged, mask)
    return merged


def _padding_mask(mask, what):
    """`mask` checked by `check_padding_mask`; its own first two axes are the expected sizes."""
    if mask is None:
        return None
    sizes = tuple(mask.shape[:2]) if len(mask.shape) >= 2 else (None, None)
    return check_padding_mask(mask, SimpleNamespace(shape=sizes), "merge_masks", what)


def _full_length_mask(mask, query_length, key_length):
    """`mask`, broadcastable to `(B, T, S)`, broadcast to full query and key lengths.

    Fused attention kernels (cuDNN's, through `ops.dot_product_attention`)
    refuse a mask whose query or key axis is a broadcast 1, such as a key
    padding mask `(B, 1, S)`; the batch axis may stay 1. Same values, so the
    same attention. A mask already full length is returned as is.

    Args:
        mask: None, or booleans broadcastable to `(B, T, S)`.
        query_length, key_length: `T` and `S` (ints, or scalar tensors when
            the lengths are only known at run time).

    Returns:
        None, or a `(B or 1, T, S)` mask.
    """
    if mask is None:
        return None
    while len(mask.shape) < 3:
        mask = ops.expand_dims(mask, 0)
    rows, cols = mask.shape[-2:]
    if (rows == 1 and _static(query_length) != 1) or (cols == 1 and _static(key_length) != 1):
        mask = ops.broadcast_to(mask, tuple(ops.shape(mask)[:-2]) + (query_length, key_length))
    return mask


def _static(length):
    return length if isinstance(length, int) else None


def scaled_dot_product_attention(query, key, value, mask=None):
    """The chapter's attention, step by step, with nothing fused.

    1. scores = query . key^T / sqrt(depth): how relevant each key is.
    2. masked positions get a very negative score, so softmax ignores them.
    3. weights = softmax(scores) over the keys (computed in float32).
    4. output = weights . value: a weighted sum of the values.

    Args:
        query: `(..., T, d)` tensor.
        key: `(..., S, d)` tensor.
        value: `(..., S, dv)` tensor.
        mask: optional booleans broadcastable to `(..., T, S)`; True means
            "may attend".

    Returns:
        `(output, weights)`: `(..., T, dv)` and `(..., T, S)`.

    Example:
    >>> x = keras.random.normal((2, 5, 8))
    >>> out, w = scaled_dot_product_attention(x, x, x)
    >>> out.shape, w.shape     # (2, 5, 8), (2, 5, 5)
    """
    depth = query.shape[-1]
    scores = ops.matmul(query, ops.swapaxes(key, -1, -2))
    scores = ops.cast(scores, "float32") / math.sqrt(depth)
    if mask is not None:
        scores = ops.where(ops.cast(mask, "bool"), scores, MASK_FILL)
    weights = ops.softmax(scores, axis=-1)
    weights = ops.cast(weights, value.dtype)
    return ops.matmul(weights, value), weights


@keras.saving.register_keras_serializable(package="keras_transformer")
class MultiHeadAttention(keras.layers.MultiHeadAttention):
    """`keras.layers.MultiHeadAttention` that speaks padding masks and caches.

    Same constructor as the Keras layer, plus `keep_attention_weights`: when
    True the layer stores its last attention weights in
    `last_attention_weights` (for plots). It is off by default because asking
    for the weights disables the fused attention kernel.

    Call arguments:
        query: `(B, T, dim)`. value: `(B, S, dim)`. key: defaults to value.
        query_mask: `(B, T)` booleans (True = real token).
        value_mask / key_mask: `(B, S)` booleans. A padding mask of another
            shape (`(B, T, 1)`, say) is a `ValueError`, not a broadcast.
        attention_mask: `(B, T, S)` booleans.
        use_causal_mask: mask out keys after each query (offset by
            `cache_update_index` when decoding with a cache).
        cache: `(B, 2, S_max, num_heads, key_dim)` keys and values, or the
            pair `(keys, values)` of `(B, S_max, num_heads, key_dim)` each
            (`split=True` in `compute_cache` and the decoder's cache methods:
            the fast form, since reading one half of a stacked cache copies
            it). With `cache_update_index`, the keys/values of `key`/`value`
            are written at that position and attention runs over the whole
            cache (self-attention while decoding). Without it, the cache is
            used as is and `key`/`value` are ignored (cross-attention,
            computed once by `compute_cache`). The cache comes back in the
            form it was given.
        projections: with a cache, the `HeadProjections` from
            `head_projections()` to project with (a decoding loop makes them
            once and passes them to every step); else made from the kernels.

    Returns:
        `(B, T, dim)`, or `(output, cache)` when a cache is given.

    Example:
    >>> mha = MultiHeadAttention(num_heads=2, key_dim=4)
    >>> x = keras.random.normal((1, 3, 8))
    >>> mha(x, x, query_mask=ops.array([[True, True, False]])).shape
    (1, 3, 8)
    """

    def __init__(self, num_heads, key_dim, keep_attention_weights=False, **kwargs):
        super().__init__(num_heads=num_heads, key_dim=key_dim, **kwargs)
        self.keep_attention_weights = keep_attention_weights
        self.last_attention_weights = None

    def build(self, query_shape, value_shape, key_shape=None):
        super().build(query_shape, value_shape, key_shape)
        # The projections act position by position, so a padding mask on
        # their input is still true of their output: let it pass silently.
        for dense in (self._query_dense, self._key_dense, self._value_dense):
            dense.supports_masking = True

    def get_config(self):
        config = super().get_config()
        config["keep_attention_weights"] = self.keep_attention_weights
        return config

    def _masked_softmax(self, attention_scores, attention_mask=None):
        # Softmax in float32 whatever the compute dtype: float16 exponentials
        # overflow, and a finite fill value keeps fully masked rows NaN-free.
        scores = ops.cast(attention_scores, "float32")
        if attention_mask is not None:
            mask = ops.cast(attention_mask, "bool")
            while len(mask.shape) < len(scores.shape):
                mask = ops.expand_dims(mask, axis=-3)
            scores = ops.where(mask, scores, MASK_FILL)
        weights = ops.softmax(scores, axis=-1)
        return ops.cast(weights, attention_scores.dtype)

    def _compute_attention(self, query, key, value, attention_mask=None, training=None,
                           return_attention_scores=False, use_causal_mask=False):
        # One query against many keys (a decoding step): per head, a (1 x d)
        # by (d x S) product. Batched matrix products spend most of their time
        # on bookkeeping at that size; an elementwise product summed over `d`
        # does the same arithmetic in a few plain ops, with no transposes.
        single = (
            query.shape[1] == 1
            and len(query.shape) == 4
            and not return_attention_scores
            and not use_causal_mask
            and (self._dropout == 0.0 or not training)
        )
        if not single:
            return super()._compute_attention(
                query, key, value, attention_mask, training, return_attention_scores, use_causal_mask
            )
        return _single_query_attention(query, key, value, attention_mask, self._inverse_sqrt_key_dim), None

    def compute_cache(self, value, key=None, split=False):
        """Project keys and values once: `(B, 2, S, num_heads, key_dim)`.

        Used for cross-attention while decoding: the encoder output does not
        change from step to step, so its projections are computed once.
        `split=True` returns the pair `(keys, values)` instead.
        """
        key = value if key is None else key
        keys, values = _project(self._key_dense, key), _project(self._value_dense, value)
        return (keys, values) if split else ops.stack([keys, values], axis=1)

    def head_projections(self):
        """The query, key, value and output projections as 2-D matrices.

        `(kernel, bias)` pairs, `(in, out)` and `(out,)` in the compute dtype
        (`()` for one that must run as its layer: LoRA, quantized). A decoding
        loop makes them once and passes them to every cached call
        (`projections=`): XLA on TensorFlow runs a one-row product with the
        layer's 3-D kernel, reshaped inside the loop, far slower
        (`keras_transformer.translation.decoding` cites the measurement).
        """
        denses = (self._query_dense, self._key_dense, self._value_dense, self._output_dense)
        return HeadProjections(*(_matrices(dense) if _plain(dense) else () for dense in denses))

    def call(
        self,
        query,
        value,
        key=None,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        use_causal_mask=False,
        cache=None,
        cache_update_index=None,
        return_attention_scores=False,
        training=None,
        projections=None,
    ):
        key = value if key is None else key
        name = f"MultiHeadAttention {self.name!r}"
        query_mask = check_padding_mask(query_mask, query, name, "query_mask")
        if cache is not None:
            # Keys come from the cache; masks of `key`/`value` do not apply.
            value_mask = key_mask = None
        value_mask = check_padding_mask(value_mask, value, name, "value_mask")
        key_mask = check_padding_mask(key_mask, key, name, "key_mask")
        # While decoding (a cache), the projections run as plain 2-D matrix products.
        project = _project if cache is not None else (lambda dense, x, _: dense(x))
        given = projections or HeadProjections((), (), (), ())
        projected_query = project(self._query_dense, query, given.query)
        if cache is None:
            projected_key = self._key_dense(key)
            projected_value = self._value_dense(value)
        else:
            projected_key, projected_value = _halves(cache)
            if cache_update_index is not None:
                # In-place writes of the new keys and values into the cache,
                # handed back in the form it came in.
                start = [0, cache_update_index, 0, 0]
                projected_key = ops.slice_update(projected_key, start, project(self._key_dense, key, given.key))
                projected_value = ops.slice_update(
                    projected_value, start, project(self._value_dense, value, given.value)
                )
                pair = (projected_key, projected_value)
                cache = pair if isinstance(cache, (tuple, list)) else ops.stack(pair, axis=1)

        causal = None
        if use_causal_mask:
            causal = causal_mask(
                ops.shape(projected_query)[1],
                ops.shape(projected_key)[1],
                0 if cache_update_index is None else cache_update_index,
            )
        # A key mask only applies to keys computed from `key`/`value` here;
        # with a cache the caller passes an attention mask over the cache.
        mask = merge_masks(
            query_mask=query_mask,
            key_mask=_and(value_mask, key_mask if key is not value else None),
            attention_mask=attention_mask,
            causal=causal,
        )
        # Full query and key lengths, or a GPU's fused attention is refused.
        mask = _full_length_mask(mask, _length(projected_query), _length(projected_key))
        want_scores = return_attention_scores or self.keep_attention_weights
        output, weights = self._compute_attention(
            projected_query,
            projected_key,
            projected_value,
            mask,
            training,
            want_scores,
        )
        output = project(self._output_dense, output, given.output)
        if self.keep_attention_weights:
            self.last_attention_weights = weights
        if cache is not None:
            return output, cache
        if return_attention_scores:
            return output, weights
        return output

    def compute_output_spec(self, query, value, key=None, cache=None, **kwargs):
        output_shape = self.compute_output_shape(
            query.shape, value.shape, None if key is None else key.shape
        )
        output = keras.KerasTensor(output_shape, dtype=self.compute_dtype)
        if cache is not None:
            return output, keras.tree.map_structure(
                lambda c: keras.KerasTensor(c.shape, dtype=c.dtype), cache
            )
        if kwargs.get("return_attention_scores"):
            scores_shape = (query.shape[0], self.num_heads, query.shape[1], value.shape[1])
            return output, keras.KerasTensor(scores_shape, dtype=self.compute_dtype)
        return output


def _single_query_attention(query, key, value, mask, scale):
    """Attention of one query position: `(B, 1, N, d)` against `(B, S, N, d)`.

    Scores in float32 (the products too, so a bfloat16 model loses nothing
    to its short mantissa in the sum); `mask` broadcastable to `(B, 1, S)`.
    Returns `(B, 1, N, dv)` in `value`'s dtype.
    """
    query = ops.cast(query, "float32") * scale
    scores = ops.sum(query * ops.cast(key, "float32"), axis=-1)  # (B, S, N)
    if mask is not None:
        mask = ops.cast(mask, "bool")
        while len(mask.shape) < 3:
            mask = ops.expand_dims(mask, 0)
        scores = ops.where(ops.expand_dims(mask[:, 0], -1), scores, MASK_FILL)
    # Softmax over the keys (axis 1) written out: a backend softmax over an
    # inner axis transposes its input there and back.
    exponentials = ops.exp(scores - ops.max(scores, axis=1, keepdims=True))
    weights = exponentials / ops.sum(exponentials, axis=1, keepdims=True)
    weights = ops.cast(weights, value.dtype)
    return ops.sum(ops.expand_dims(weights, -1) * value, axis=1, keepdims=True)


def _halves(cache):
    """`(keys, values)` of a stacked `(B, 2, ...)` cache or of a pair."""
    if isinstance(cache, (tuple, list)):
        return tuple(cache)
    return cache[:, 0], cache[:, 1]


def _length(x):
    """Axis 1 of `x`: an int when known while tracing, else a scalar tensor."""
    return x.shape[1] if x.shape[1] is not None else ops.shape(x)[1]


def _and(a, b):
    return b if a is None else a if b is None else ops.logical_and(ops.cast(a, "bool"), ops.cast(b, "bool"))
