"""An attention layer's four projections as plain 2-D matrix products, for decoding with a cache.

`MultiHeadAttention.head_projections()` makes them once per decoding loop; each cached step
then projects with one matrix product per projection instead of reshaping the layer's 3-D
`EinsumDense` kernels at every step (`keras_transformer.translation.decoding` cites the
measurement).
"""

from typing import NamedTuple

import keras
from keras import ops


class HeadProjections(NamedTuple):
    """`(kernel, bias)` matrices of an attention layer's four projections (see `head_projections`)."""

    query: tuple
    key: tuple
    value: tuple
    output: tuple


# EinsumDense equations of the projections in and out of the heads (inputs of
# rank 3, attention over axis 1): both are one matrix product after reshapes.
_INTO_HEADS, _OUT_OF_HEADS = "abc,cde->abde", "abcd,cde->abe"


def _plain(dense):
    """Whether `dense` is a head projection that `_project` may run as a 2-D product."""
    return (
        getattr(dense, "kernel", None) is not None
        and getattr(dense, "equation", None) in (_INTO_HEADS, _OUT_OF_HEADS)
        and not getattr(dense, "lora_enabled", False)
        and not getattr(dense, "quantization_mode", None)
        and dense.activation in (None, keras.activations.linear)
    )


def _matrices(dense):
    """`(kernel, bias)` of a head projection as a `(in, out)` matrix and a `(out,)` vector."""
    dtype = dense.compute_dtype
    kernel = ops.cast(dense.kernel, dtype)
    if dense.equation == _INTO_HEADS:
        shape = (kernel.shape[0], kernel.shape[1] * kernel.shape[2])
    else:
        shape = (kernel.shape[0] * kernel.shape[1], kernel.shape[2])
    bias = ops.zeros((shape[1],), dtype) if dense.bias is None else ops.reshape(ops.cast(dense.bias, dtype), (-1,))
    return ops.reshape(kernel, shape), bias


def _project(dense, x, matrices=()):
    """`dense(x)` for a head projection, as one 2-D matrix product plus bias.

    The same arithmetic as the `EinsumDense` layer, on `matrices` (a pair
    from `head_projections`) if given, else on its kernel reshaped here.
    Layers with LoRA or quantized weights, or other equations, run as the layer.
    """
    if matrices:
        kernel, bias = matrices
    elif _plain(dense):
        kernel, bias = _matrices(dense)
    else:
        return dense(x)
    a, b, c = dense.kernel.shape
    x = ops.cast(x, kernel.dtype)
    leading = ops.shape(x)[:2]
    if dense.equation == _INTO_HEADS:
        out = ops.matmul(ops.reshape(x, (-1, a)), kernel) + bias
        return ops.reshape(out, (leading[0], leading[1], b, c))
    out = ops.matmul(ops.reshape(x, (-1, a * b)), kernel) + bias
    return ops.reshape(out, (leading[0], leading[1], c))
