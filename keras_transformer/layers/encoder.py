"""The Transformer encoder: self-attention and feed-forward, each residual."""

import keras

from keras_transformer.layers.attention import merge_masks
from keras_transformer.layers.block import TransformerBlock
from keras_transformer.layers.masking import check_padding_mask


@keras.saving.register_keras_serializable(package="keras_transformer")
class TransformerEncoder(TransformerBlock):
    """One encoder layer of the chapter (and of the paper).

    Args:
        embed_dim: size of the input vectors (and of the output).
        dense_dim: width of the feed-forward projection's hidden layer.
        num_heads: attention heads.
        key_dim: size of each head; None means `embed_dim // num_heads` (the
            paper, keras-hub). The book used `key_dim=embed_dim`.
        dropout: dropout on attention weights and on each sublayer's output.
        activation: feed-forward activation.
        norm_first: layer normalization before each sublayer (pre-norm)
            instead of after the residual sum (post-norm, the book's).
        layer_norm_epsilon: epsilon of the layer normalizations.
        keep_attention_weights: keep the last attention weights in
            `self.attention.last_attention_weights` (slower; for plots).

    Call arguments:
        inputs: `(B, T, embed_dim)`.
        mask: `(B, T)` booleans, True at real tokens; Keras passes it from a
            masking layer such as `PositionalEmbedding(mask_zero=True)`.
        padding_mask: the same, given explicitly (takes precedence).
        attention_mask: `(B, T, T)` booleans, merged with the padding mask.
        source, source_mask: the 3rd edition's names for `inputs` and
            `padding_mask` (give one name of each pair, not both).

    Returns:
        `(B, T, embed_dim)`, carrying the input's Keras mask (if any).

    Example (the 2nd edition's call, then the 3rd edition's):
    >>> enc = TransformerEncoder(embed_dim=32, dense_dim=64, num_heads=2)
    >>> x = keras.random.normal((4, 10, 32))
    >>> enc(x).shape
    (4, 10, 32)
    >>> enc(source=x, source_mask=keras.ops.ones((4, 10), "bool")).shape
    (4, 10, 32)
    """

    _call_aliases = {"source": "inputs", "source_mask": "padding_mask"}
    _call_alias_conflicts = {"source_mask": ("mask",)}

    def build(self, inputs_shape):
        self._check_input_shape(inputs_shape)
        self.attention = self._make_attention("attention", inputs_shape, inputs_shape)
        self.attention_norm = self._make_norm("attention_norm", inputs_shape)
        self.attention_dropout = self._make_dropout("attention_dropout")
        self._build_feed_forward(inputs_shape)
        self.built = True

    def call(self, inputs, mask=None, padding_mask=None, attention_mask=None, training=None):
        padding_mask = check_padding_mask(mask if padding_mask is None else padding_mask, inputs, "TransformerEncoder")
        # Padding masks keys only, as the book and keras-hub do: outputs at
        # padded positions are computed but never read by a masked consumer.
        attention_mask = merge_masks(key_mask=padding_mask, attention_mask=attention_mask)

        def attend(x):
            return self.attention(x, x, attention_mask=attention_mask, training=training)

        x, _ = self._residual(
            inputs, self.attention_norm, self.attention_dropout, attend, training
        )
        return self._feed_forward(x, training)
