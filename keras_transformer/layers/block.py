"""What the encoder and decoder share: configuration, sublayers, residuals."""

import inspect

import keras
from keras import ops

from keras_transformer.layers.attention import MultiHeadAttention


class TransformerBlock(keras.layers.Layer):
    """Base of `TransformerEncoder` and `TransformerDecoder` (not public).

    Holds the constructor arguments both take, builds attention, layer
    normalization and the two-layer feed-forward projection, and applies a
    sublayer with its residual connection in post-norm (the book's and the
    paper's) or pre-norm order.
    """

    def __init__(
        self,
        embed_dim,
        dense_dim,
        num_heads,
        key_dim=None,
        dropout=0.0,
        activation="relu",
        norm_first=False,
        layer_norm_epsilon=1e-5,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        keep_attention_weights=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if key_dim is None:
            if embed_dim % num_heads:
                raise ValueError(
                    f"{type(self).__name__}: embed_dim={embed_dim} is not "
                    f"divisible by num_heads={num_heads}. Pick num_heads that "
                    "divides embed_dim, or pass key_dim explicitly."
                )
            key_dim = embed_dim // num_heads
        self.embed_dim = int(embed_dim)
        self.dense_dim = int(dense_dim)
        self.num_heads = int(num_heads)
        self.key_dim = int(key_dim)
        self.dropout = float(dropout)
        self.activation = keras.activations.get(activation)
        self.norm_first = bool(norm_first)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.keep_attention_weights = bool(keep_attention_weights)
        self.supports_masking = True

    # -- building ---------------------------------------------------------
    def _check_input_shape(self, shape, what="inputs"):
        if len(shape) != 3:
            raise ValueError(
                f"{type(self).__name__}: {what} must have shape "
                f"(batch, length, embed_dim); got shape {tuple(shape)}."
            )
        if shape[-1] is not None and shape[-1] != self.embed_dim:
            raise ValueError(
                f"{type(self).__name__}: {what} have last dimension "
                f"{shape[-1]} but embed_dim={self.embed_dim}."
            )

    def _initializers(self):
        # Fresh initializer objects per sublayer, so seeded initializers do not
        # give every sublayer the same weights.
        return {
            "kernel_initializer": keras.initializers.get(
                keras.initializers.serialize(self.kernel_initializer)
            ),
            "bias_initializer": keras.initializers.get(
                keras.initializers.serialize(self.bias_initializer)
            ),
        }

    def _make_attention(self, name, query_shape, value_shape):
        layer = MultiHeadAttention(
            num_heads=self.num_heads,
            key_dim=self.key_dim,
            dropout=self.dropout,
            keep_attention_weights=self.keep_attention_weights,
            dtype=self.dtype_policy,
            name=name,
            **self._initializers(),
        )
        layer.build(query_shape, value_shape)
        return layer

    def _make_norm(self, name, shape):
        layer = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name
        )
        layer.build(shape)
        return layer

    def _make_dropout(self, name):
        return keras.layers.Dropout(self.dropout, dtype=self.dtype_policy, name=name)

    def _build_feed_forward(self, shape):
        self.dense_proj_in = keras.layers.Dense(
            self.dense_dim,
            activation=self.activation,
            dtype=self.dtype_policy,
            name="dense_proj_in",
            **self._initializers(),
        )
        self.dense_proj_in.build(shape)
        self.dense_proj_out = keras.layers.Dense(
            self.embed_dim, dtype=self.dtype_policy, name="dense_proj_out", **self._initializers()
        )
        self.dense_proj_out.build(tuple(shape[:-1]) + (self.dense_dim,))
        self.dense_proj_norm = self._make_norm("dense_proj_norm", shape)
        self.dense_proj_dropout = self._make_dropout("dense_proj_dropout")

    # -- calling ----------------------------------------------------------
    # Keywords of the book's 3rd edition -> this layer's call() arguments.
    # Set by each subclass; `_call_alias_conflicts` names further arguments
    # an alias may not be given together with.
    _call_aliases = {}
    _call_alias_conflicts = {}
    # call() arguments passed positionally once resolved (in call() order).
    _positional_call_arguments = ("inputs",)

    def __call__(self, *args, **kwargs):
        if any(alias in kwargs for alias in self._call_aliases):
            args, kwargs = self._resolve_call_aliases(args, kwargs)
        return super().__call__(*args, **kwargs)

    def _resolve_call_aliases(self, args, kwargs):
        """Rename the 3rd edition's keywords before Keras sees the call.

        `layer(source=x, source_mask=m)` becomes `layer(x, padding_mask=m)`
        (and so on), so Keras binds, builds, propagates masks and records
        the functional-model node exactly as for this package's own forms.
        """
        names = list(inspect.signature(self.call).parameters)
        # A keyword passed as None counts as not given.
        given = set(names[: len(args)]) | {k for k, v in kwargs.items() if v is not None}
        kwargs = dict(kwargs)
        for alias, name in self._call_aliases.items():
            if alias not in kwargs:
                continue
            if alias in given:
                for other in (name,) + tuple(self._call_alias_conflicts.get(alias, ())):
                    if other in given:
                        raise ValueError(
                            f"{type(self).__name__}: got both `{alias}` and `{other}`, "
                            "which are the same argument; pass only one of them."
                        )
            value = kwargs.pop(alias)
            if name not in given:
                kwargs[name] = value
        args = list(args)
        for name in self._positional_call_arguments:
            if names.index(name) == len(args) and name in kwargs:
                args.append(kwargs.pop(name))
        return tuple(args), kwargs

    def _residual(self, x, norm, dropout, sublayer, training):
        """`norm(x + sublayer(x))`, or `x + sublayer(norm(x))` when norm_first.

        `sublayer` may return `(output, extra)`; `extra` is passed through.
        """
        result = sublayer(norm(x) if self.norm_first else x)
        output, extra = result if isinstance(result, tuple) else (result, None)
        output = x + dropout(output, training=training)
        if not self.norm_first:
            output = norm(output)
        return output, extra

    def _feed_forward(self, x, training):
        def project(h):
            return self.dense_proj_out(self.dense_proj_in(h))

        x, _ = self._residual(x, self.dense_proj_norm, self.dense_proj_dropout, project, training)
        return x

    def compute_output_shape(self, inputs_shape, *args, **kwargs):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "embed_dim": self.embed_dim,
                "dense_dim": self.dense_dim,
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "dropout": self.dropout,
                "activation": keras.activations.serialize(self.activation),
                "norm_first": self.norm_first,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "keep_attention_weights": self.keep_attention_weights,
            }
        )
        return config


def as_bool(mask):
    return None if mask is None else ops.cast(mask, "bool")
