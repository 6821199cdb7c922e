"""Chapter 11's building blocks, in the order the chapter introduces them."""

from keras_transformer.layers.attention import (
    MultiHeadAttention,
    causal_mask,
    merge_masks,
    scaled_dot_product_attention,
)
from keras_transformer.layers.decoder import TransformerDecoder
from keras_transformer.layers.embedding import PositionalEmbedding, SinusoidalPositionalEncoding
from keras_transformer.layers.encoder import TransformerEncoder
from keras_transformer.layers.rnn_attention import LuongAttention

__all__ = [
    "LuongAttention",
    "MultiHeadAttention",
    "PositionalEmbedding",
    "SinusoidalPositionalEncoding",
    "TransformerDecoder",
    "TransformerEncoder",
    "causal_mask",
    "merge_masks",
    "scaled_dot_product_attention",
]
