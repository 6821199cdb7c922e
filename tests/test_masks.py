"""Padding masks are checked at the door: a wrong rank or length is a ValueError naming both shapes."""

import numpy as np
import pytest
from keras import ops

from keras_transformer import (
    MaskedAttentionPooling1D,
    MaskedGlobalMaxPooling1D,
    TransformerDecoder,
    TransformerEncoder,
)

pytestmark = pytest.mark.layers
B, T, S, D, HEADS = 2, 4, 6, 8, 4  # T == HEADS: a (B, T, 1) mask would broadcast over the heads


def _x(length=T):
    return ops.convert_to_tensor(np.random.default_rng(0).normal(size=(B, length, D)).astype("float32"))


def _mask(*shape):
    return ops.convert_to_tensor(np.ones(shape, dtype=bool))


def _expect_shape_error(call, expected, got):
    with pytest.raises(ValueError) as error:
        call()
    message = str(error.value)
    assert "(batch, length)" in message and str(expected) in message and str(got) in message, message


@pytest.mark.parametrize("bad", [(B, T, 1), (B, 1, T), (B, T + 1)])
def test_encoder_refuses_a_padding_mask_of_the_wrong_shape(bad):
    encoder = TransformerEncoder(D, 16, HEADS)
    _expect_shape_error(lambda: encoder(_x(), padding_mask=_mask(*bad)), (B, T), bad)


def test_encoder_accepts_a_right_mask_and_it_matters():
    encoder = TransformerEncoder(D, 16, HEADS)
    mask = np.array([[True] * T, [True, True, False, False]])
    masked = ops.convert_to_numpy(encoder(_x(), padding_mask=ops.convert_to_tensor(mask)))
    plain = ops.convert_to_numpy(encoder(_x()))
    np.testing.assert_allclose(masked[0], plain[0], rtol=1e-5, atol=1e-5)
    assert not np.allclose(masked[1], plain[1], atol=1e-4)


@pytest.mark.parametrize("bad", [(B, T, 1), (B, T - 1)])
def test_decoder_refuses_a_target_mask_of_the_wrong_shape(bad):
    decoder = TransformerDecoder(D, 16, HEADS)
    _expect_shape_error(lambda: decoder(_x(), _x(S), inputs_mask=_mask(*bad)), (B, T), bad)


@pytest.mark.parametrize("bad", [(B, S, 1), (B, S + 2)])
def test_decoder_refuses_an_encoder_mask_of_the_wrong_shape(bad):
    decoder = TransformerDecoder(D, 16, HEADS)
    _expect_shape_error(lambda: decoder(_x(), _x(S), encoder_outputs_mask=_mask(*bad)), (B, S), bad)


@pytest.mark.parametrize("layer", [MaskedGlobalMaxPooling1D, lambda: MaskedAttentionPooling1D(num_heads=2)])
@pytest.mark.parametrize("bad", [(B, T, 1), (B, T + 3)])
def test_poolings_refuse_a_mask_of_the_wrong_shape(layer, bad):
    pooling = layer()
    _expect_shape_error(lambda: pooling(_x(), mask=_mask(*bad)), (B, T), bad)
