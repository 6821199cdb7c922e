"""Token embeddings that know where each token sits in the sequence."""

import math

import keras
from keras import ops


def _check_length(layer_name, length, sequence_length, start_index=0):
    """Raise a ValueError naming both lengths when a sequence cannot fit."""
    if isinstance(length, int) and isinstance(start_index, int):
        if start_index + length > sequence_length:
            raise ValueError(
                f"{layer_name}: input has length {length}"
                + (f" starting at position {start_index}" if start_index else "")
                + f", longer than sequence_length={sequence_length}. "
                "Truncate the input or build the layer with a larger "
                "sequence_length."
            )


@keras.saving.register_keras_serializable(package="keras_transformer")
class PositionalEmbedding(keras.layers.Layer):
    """Learned token embedding plus learned position embedding (the book's).

    Args:
        sequence_length: the longest sequence the layer accepts.
        input_dim: vocabulary size.
        output_dim: embedding size.
        mask_zero: token id 0 is padding; the layer then produces the Keras
            mask `inputs != 0` for the layers after it.

    Call arguments:
        inputs: `(B, T)` integer token ids, `T <= sequence_length`.
        start_index: position of the first token (for step-by-step decoding).

    Returns:
        `(B, T, output_dim)` floats, with a `(B, T)` mask when `mask_zero`.

    Example:
    >>> emb = PositionalEmbedding(sequence_length=20, input_dim=1000, output_dim=32)
    >>> emb(ops.array([[5, 9, 0]])).shape
    (1, 3, 32)
    """

    def __init__(self, sequence_length, input_dim, output_dim, mask_zero=True, **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = int(sequence_length)
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        self.mask_zero = mask_zero
        self.supports_masking = mask_zero

    def build(self, input_shape=None):
        self.token_embeddings = keras.layers.Embedding(
            self.input_dim, self.output_dim, dtype=self.dtype_policy, name="token_embeddings"
        )
        self.token_embeddings.build((None, None))
        self.position_embeddings = keras.layers.Embedding(
            self.sequence_length,
            self.output_dim,
            dtype=self.dtype_policy,
            name="position_embeddings",
        )
        self.position_embeddings.build((None, None))
        self.built = True

    def call(self, inputs, start_index=0):
        if len(inputs.shape) != 2:
            raise ValueError(
                f"PositionalEmbedding expects token ids of shape (batch, length); "
                f"got shape {tuple(inputs.shape)}."
            )
        length = inputs.shape[-1]
        _check_length("PositionalEmbedding", length, self.sequence_length, start_index)
        if length is None:
            length = ops.shape(inputs)[-1]
        positions = ops.arange(length, dtype="int32") + ops.cast(start_index, "int32")
        embedded_positions = self.position_embeddings(positions)
        return self.token_embeddings(inputs) + ops.expand_dims(embedded_positions, 0)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(inputs, 0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sequence_length": self.sequence_length,
                "input_dim": self.input_dim,
                "output_dim": self.output_dim,
                "mask_zero": self.mask_zero,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_transformer")
class SinusoidalPositionalEncoding(keras.layers.Layer):
    """The original paper's fixed sine/cosine position signal (no weights).

    Adds `PE[pos, 2i] = sin(pos / 10000^(2i/d))`, `PE[pos, 2i+1] = cos(...)`
    to an embedded sequence. Keras masks pass through unchanged.

    Args:
        max_wavelength: the 10000 of the formula.

    Call arguments:
        inputs: `(B, T, d)` embeddings. start_index: position of the first one.

    Returns:
        `(B, T, d)`: inputs plus the encoding.

    Example:
    >>> x = keras.layers.Embedding(1000, 32, mask_zero=True)(ops.array([[4, 2, 0]]))
    >>> SinusoidalPositionalEncoding()(x).shape
    (1, 3, 32)
    """

    def __init__(self, max_wavelength=10000, **kwargs):
        super().__init__(**kwargs)
        self.max_wavelength = max_wavelength
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                "SinusoidalPositionalEncoding expects (batch, length, dim) "
                f"embeddings; got shape {tuple(input_shape)}."
            )
        self.built = True

    def encoding(self, length, dim, start_index=0):
        """The `(length, dim)` encoding table, float32."""
        positions = ops.cast(ops.arange(length) + start_index, "float32")
        pair_index = ops.cast(ops.arange(dim) // 2 * 2, "float32")
        inverse_frequency = ops.exp(-math.log(self.max_wavelength) * pair_index / dim)
        angles = ops.expand_dims(positions, 1) * ops.expand_dims(inverse_frequency, 0)
        even = ops.equal(ops.arange(dim) % 2, 0)
        return ops.where(even, ops.sin(angles), ops.cos(angles))

    def call(self, inputs, start_index=0):
        shape = ops.shape(inputs)
        table = self.encoding(shape[1], inputs.shape[-1], start_index)
        return inputs + ops.cast(ops.expand_dims(table, 0), inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config["max_wavelength"] = self.max_wavelength
        return config
