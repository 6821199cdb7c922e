"""Chapter 11's building blocks, in the order the chapter introduces them.

Every registered object the chapter's models use lives here, so that
``import keras_transformer`` is all a saved model needs to load.
"""

from keras_transformer.layers.attention import (
    MultiHeadAttention,
    causal_mask,
    merge_masks,
    scaled_dot_product_attention,
)
from keras_transformer.layers.decoder import TransformerDecoder
from keras_transformer.layers.embedding import PositionalEmbedding, SinusoidalPositionalEncoding
from keras_transformer.layers.encoder import TransformerEncoder
from keras_transformer.layers.losses import SparseCategoricalCrossentropyWithSmoothing
from keras_transformer.layers.masking import check_padding_mask
from keras_transformer.layers.pooling import MaskedAttentionPooling1D, MaskedGlobalMaxPooling1D
from keras_transformer.layers.rnn_attention import LuongAttention
from keras_transformer.layers.text import custom_standardization, standardize_text
from keras_transformer.layers.tokens import OneHot, TokenDropout

__all__ = [
    "LuongAttention",
    "MaskedAttentionPooling1D",
    "MaskedGlobalMaxPooling1D",
    "MultiHeadAttention",
    "OneHot",
    "PositionalEmbedding",
    "SinusoidalPositionalEncoding",
    "SparseCategoricalCrossentropyWithSmoothing",
    "TokenDropout",
    "TransformerDecoder",
    "TransformerEncoder",
    "causal_mask",
    "check_padding_mask",
    "custom_standardization",
    "merge_masks",
    "scaled_dot_product_attention",
    "standardize_text",
]
