"""keras_transformer: chapter 11 of Deep Learning with Python, in Keras 3.

Layers that are correct under masks, serializable and backend-agnostic, plus
the chapter's IMDB classifiers and English-to-Spanish translators.
"""

from keras_transformer.layers import (
    MultiHeadAttention,
    PositionalEmbedding,
    SinusoidalPositionalEncoding,
    TransformerDecoder,
    TransformerEncoder,
    causal_mask,
    merge_masks,
    scaled_dot_product_attention,
)

__version__ = "0.1.0"

__all__ = [
    "MultiHeadAttention",
    "PositionalEmbedding",
    "SinusoidalPositionalEncoding",
    "TransformerDecoder",
    "TransformerEncoder",
    "causal_mask",
    "merge_masks",
    "scaled_dot_product_attention",
]
