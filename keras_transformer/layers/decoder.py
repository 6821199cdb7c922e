"""The Transformer decoder: causal self-attention, cross-attention, feed-forward."""

import keras
from keras import ops

from keras_transformer.layers.attention import merge_masks
from keras_transformer.layers.block import TransformerBlock
from keras_transformer.layers.masking import check_padding_mask


@keras.saving.register_keras_serializable(package="keras_transformer")
class TransformerDecoder(TransformerBlock):
    """One decoder layer: `decoder(target_embeddings, encoder_outputs)`.

    The book's 3rd edition calls it `decoder(target=..., source=...,
    source_mask=...)`; both forms are the same call.

    Same constructor as `TransformerEncoder`. Unlike the book's layer under
    Keras 3, it honours the masks of **both** inputs: the target padding mask
    in self-attention and the source padding mask in cross-attention. Keras
    fills `inputs_mask` and `encoder_outputs_mask` from the inputs' masks
    (e.g. from `PositionalEmbedding(mask_zero=True)`); they can also be given
    explicitly. Called without `encoder_outputs` it is a decoder-only block
    (no cross-attention); build and call it the same way every time.

    Call arguments:
        inputs: `(B, T, embed_dim)` target embeddings.
        encoder_outputs: `(B, S, embed_dim)`, or None for decoder-only use.
        inputs_mask: `(B, T)` booleans, True at real target tokens.
        encoder_outputs_mask: `(B, S)` booleans, True at real source tokens.
        use_causal_mask: position t sees targets 0..t only (default True).
        self_attention_cache: `(B, 2, T_max, num_heads, key_dim)` (or a
            `(keys, values)` pair) from `init_cache`, for step-by-step
            decoding; `inputs` then holds the new step(s), written at
            `self_attention_cache_update_index`.
        cross_attention_cache: from `compute_cross_attention_cache`, used in
            place of `encoder_outputs` (which may then be None).
        projections: with caches, the pair from `head_projections()` to
            project with (a decoding loop makes it once, outside its steps).
        target, source, source_mask: the 3rd edition's names for `inputs`,
            `encoder_outputs` and `encoder_outputs_mask` (give one name of
            each pair, not both). That edition passes no target mask; one
            still comes from Keras or `inputs_mask`.

    Returns:
        `(B, T, embed_dim)`; with caches, `(outputs, self_attention_cache,
        cross_attention_cache)` (or `(outputs, self_attention_cache)` without
        cross-attention).

    Example (the 2nd edition's call, then the 3rd edition's):
    >>> dec = TransformerDecoder(embed_dim=32, dense_dim=64, num_heads=2)
    >>> y, e = keras.random.normal((4, 7, 32)), keras.random.normal((4, 9, 32))
    >>> dec(y, e).shape
    (4, 7, 32)
    >>> dec(target=y, source=e, source_mask=keras.ops.ones((4, 9), "bool")).shape
    (4, 7, 32)
    """

    _call_aliases = {
        "target": "inputs",
        "source": "encoder_outputs",
        "source_mask": "encoder_outputs_mask",
    }
    _positional_call_arguments = ("inputs", "encoder_outputs")

    def build(self, inputs_shape, encoder_outputs_shape=None):
        self._check_input_shape(inputs_shape)
        self.self_attention = self._make_attention("self_attention", inputs_shape, inputs_shape)
        self.self_attention_norm = self._make_norm("self_attention_norm", inputs_shape)
        self.self_attention_dropout = self._make_dropout("self_attention_dropout")
        self.has_cross_attention = encoder_outputs_shape is not None
        if self.has_cross_attention:
            self._check_input_shape(encoder_outputs_shape, "encoder_outputs")
            self.cross_attention = self._make_attention(
                "cross_attention", inputs_shape, encoder_outputs_shape
            )
            self.cross_attention_norm = self._make_norm("cross_attention_norm", inputs_shape)
            self.cross_attention_dropout = self._make_dropout("cross_attention_dropout")
        self._build_feed_forward(inputs_shape)
        self.built = True

    def init_cache(self, batch_size, max_length, split=False):
        """A zero self-attention cache: `(B, 2, max_length, num_heads, key_dim)`.

        `split=True`: the pair `(keys, values)`, `(B, max_length, num_heads,
        key_dim)` each, which decodes faster (no copy to read either half).
        """
        shape = (batch_size, max_length, self.num_heads, self.key_dim)
        if split:
            return (ops.zeros(shape, self.compute_dtype), ops.zeros(shape, self.compute_dtype))
        return ops.zeros((batch_size, 2) + shape[1:], dtype=self.compute_dtype)

    def compute_cross_attention_cache(self, encoder_outputs, split=False):
        """Project the encoder outputs to keys and values once per source batch.

        `split=True`: the pair `(keys, values)` (see `init_cache`).
        """
        return self.cross_attention.compute_cache(encoder_outputs, split=split)

    def head_projections(self):
        """Self- and cross-attention projections as 2-D matrices, for cached calls (`projections=`).

        See `MultiHeadAttention.head_projections`: a decoding loop makes them
        once and passes them to every step.
        """
        cross = self.cross_attention.head_projections() if self.has_cross_attention else None
        return self.self_attention.head_projections(), cross

    def call(
        self,
        inputs,
        encoder_outputs=None,
        mask=None,
        inputs_mask=None,
        encoder_outputs_mask=None,
        use_causal_mask=True,
        self_attention_cache=None,
        self_attention_cache_update_index=None,
        cross_attention_cache=None,
        projections=None,
        training=None,
    ):
        has_encoder = encoder_outputs is not None or cross_attention_cache is not None
        if has_encoder != self.has_cross_attention:
            raise ValueError(
                "TransformerDecoder was built "
                + ("with" if self.has_cross_attention else "without")
                + " encoder_outputs; call it the same way every time."
            )
        caching = self_attention_cache is not None
        if caching and self.has_cross_attention and cross_attention_cache is None:
            cross_attention_cache = self.compute_cross_attention_cache(encoder_outputs)
        # Keras fills `mask` when `inputs` is the only tensor argument.
        target_mask = check_padding_mask(
            mask if inputs_mask is None else inputs_mask, inputs, "TransformerDecoder", "target (inputs) mask"
        )
        source_mask = check_padding_mask(
            encoder_outputs_mask,
            encoder_outputs if encoder_outputs is not None else encoder_outputs_mask,
            "TransformerDecoder",
            "encoder_outputs mask",
        )

        self_mask = merge_masks(key_mask=None if caching else target_mask)
        self_projections, cross_projections = projections if caching and projections else (None, None)

        def self_attend(x):
            return self.self_attention(
                x,
                x,
                attention_mask=self_mask,
                use_causal_mask=use_causal_mask,
                cache=self_attention_cache,
                cache_update_index=self_attention_cache_update_index,
                training=training,
                projections=self_projections,
            )

        x, self_attention_cache = self._residual(
            inputs, self.self_attention_norm, self.self_attention_dropout, self_attend, training
        )

        if self.has_cross_attention:
            cross_mask = merge_masks(key_mask=source_mask)
            source = encoder_outputs
            if source is None:
                source = x  # unused: keys and values come from the cache

            def cross_attend(h):
                return self.cross_attention(
                    h,
                    source,
                    attention_mask=cross_mask,
                    cache=cross_attention_cache,
                    training=training,
                    projections=cross_projections,
                )

            x, cross_attention_cache = self._residual(
                x, self.cross_attention_norm, self.cross_attention_dropout, cross_attend, training
            )

        x = self._feed_forward(x, training)
        if not caching:
            return x
        if self.has_cross_attention:
            return x, self_attention_cache, cross_attention_cache
        return x, self_attention_cache
