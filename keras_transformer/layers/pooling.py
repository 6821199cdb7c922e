"""Pooling over time that skips padded steps: max (the book's) and learned attention."""

import keras
from keras import layers, ops

from keras_transformer.layers.masking import check_padding_mask


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
        mask = check_padding_mask(mask, inputs, type(self).__name__)
        if mask is None:
            return ops.max(inputs, axis=1)
        mask = ops.expand_dims(mask, -1)
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
        mask = check_padding_mask(mask, inputs, type(self).__name__)
        batch, steps = ops.shape(inputs)[0], ops.shape(inputs)[1]
        size = inputs.shape[-1] // self.num_heads
        heads = ops.reshape(inputs, (batch, steps, self.num_heads, size))
        query = ops.cast(self.query, inputs.dtype)
        # Scores in float32: a softmax over hundreds of steps is fragile in bfloat16.
        scores = ops.cast(ops.sum(heads * query, axis=-1), "float32") / (size**0.5)  # (B, T, H)
        if mask is not None:
            real = ops.expand_dims(mask, -1)
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
