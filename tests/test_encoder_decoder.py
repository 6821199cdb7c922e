import numpy as np
import pytest
import keras
from keras import ops

from keras_transformer import PositionalEmbedding, TransformerDecoder, TransformerEncoder
from keras_transformer.layers.interop import keras_hub_sublayer_pairs
from layer_battery import assert_close, run_layer_battery

# Backend-agnostic layer tests: CI runs them under TensorFlow and JAX.
pytestmark = pytest.mark.layers

rng = np.random.default_rng(1)
EMBED, DENSE, HEADS, VOCAB, LENGTH = 16, 32, 4, 50, 12


def random_tokens(batch, length, pad_from=None):
    t = rng.integers(1, VOCAB, size=(batch, length)).astype("int32")
    if pad_from is not None:
        for row, start in enumerate(pad_from):
            t[row, start:] = 0
    return t


def seq2seq(encoder=None, decoder=None):
    src = keras.Input((None,), dtype="int32")
    tgt = keras.Input((None,), dtype="int32")
    e = PositionalEmbedding(LENGTH, VOCAB, EMBED)(src)
    e = (encoder or TransformerEncoder(EMBED, DENSE, HEADS))(e)
    d = PositionalEmbedding(LENGTH, VOCAB, EMBED)(tgt)
    d = (decoder or TransformerDecoder(EMBED, DENSE, HEADS))(d, e)
    return keras.Model([src, tgt], keras.layers.Dense(VOCAB)(d))


def randomize(layer):
    layer.set_weights([rng.normal(scale=0.3, size=w.shape).astype("float32") for w in layer.get_weights()])


# -- equivalence with keras-hub ------------------------------------------------
@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_agrees_with_keras_hub(norm_first):
    keras_hub = pytest.importorskip("keras_hub")
    x = rng.normal(size=(3, 7, EMBED)).astype("float32")
    padding = np.ones((3, 7), bool)
    padding[1, 4:] = False
    hub = keras_hub.layers.TransformerEncoder(DENSE, HEADS, normalize_first=norm_first)
    ours = TransformerEncoder(EMBED, DENSE, HEADS, norm_first=norm_first)
    hub(x), ours(x)
    for o, h in keras_hub_sublayer_pairs(ours, hub):
        randomize(h)
        o.set_weights(h.get_weights())
    assert_close(ours(x, padding_mask=padding), hub(x, padding_mask=padding), atol=1e-5)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_agrees_with_keras_hub(norm_first):
    keras_hub = pytest.importorskip("keras_hub")
    x = rng.normal(size=(3, 6, EMBED)).astype("float32")
    enc = rng.normal(size=(3, 8, EMBED)).astype("float32")
    tgt_mask = np.ones((3, 6), bool)
    tgt_mask[0, 3:] = False
    src_mask = np.ones((3, 8), bool)
    src_mask[2, 5:] = False
    hub = keras_hub.layers.TransformerDecoder(DENSE, HEADS, normalize_first=norm_first)
    ours = TransformerDecoder(EMBED, DENSE, HEADS, norm_first=norm_first)
    hub(x, enc), ours(x, enc)
    for o, h in keras_hub_sublayer_pairs(ours, hub):
        randomize(h)
        o.set_weights(h.get_weights())
    expected = hub(x, enc, decoder_padding_mask=tgt_mask, encoder_padding_mask=src_mask)
    got = ours(x, enc, inputs_mask=tgt_mask, encoder_outputs_mask=src_mask)
    assert_close(got, expected, atol=1e-5)


# -- masks, padding, causality -------------------------------------------------
def test_encoder_is_invariant_to_appended_padding():
    model = keras.Sequential(
        [keras.Input((None,), dtype="int32"), PositionalEmbedding(LENGTH, VOCAB, EMBED),
         TransformerEncoder(EMBED, DENSE, HEADS)]
    )
    tokens = random_tokens(2, 5)
    padded = np.concatenate([tokens, np.zeros((2, 4), "int32")], axis=1)
    assert_close(model(padded)[:, :5], model(tokens))


def test_decoder_is_invariant_to_padding_on_either_side():
    model = seq2seq()
    src, tgt = random_tokens(2, 6), random_tokens(2, 5)
    reference = model([src, tgt])
    src_padded = np.concatenate([src, np.zeros((2, 5), "int32")], axis=1)
    tgt_padded = np.concatenate([tgt, np.zeros((2, 3), "int32")], axis=1)
    # Source padding reaches cross-attention through the encoder's mask.
    assert_close(model([src_padded, tgt]), reference)
    assert_close(model([src, tgt_padded])[:, :5], reference)
    assert_close(model([src_padded, tgt_padded])[:, :5], reference)


def test_source_mask_actually_reaches_cross_attention():
    # Without the source mask, padding would change the result: this is the
    # check that fails for the book's layer under Keras 3.
    decoder = TransformerDecoder(EMBED, DENSE, HEADS)
    x = rng.normal(size=(1, 4, EMBED)).astype("float32")
    enc = rng.normal(size=(1, 6, EMBED)).astype("float32")
    mask = np.array([[True, True, True, False, False, False]])
    masked = decoder(x, enc, encoder_outputs_mask=mask)
    assert_close(masked, decoder(x, enc[:, :3]))
    assert not np.allclose(ops.convert_to_numpy(masked), ops.convert_to_numpy(decoder(x, enc)))


def test_decoder_is_causal():
    model = seq2seq()
    src, tgt = random_tokens(2, 6), random_tokens(2, 6)
    before = ops.convert_to_numpy(model([src, tgt]))
    changed = tgt.copy()
    changed[:, 3] = (changed[:, 3] % (VOCAB - 1)) + 1
    after = ops.convert_to_numpy(model([src, changed]))
    np.testing.assert_allclose(after[:, :3], before[:, :3], atol=1e-5)
    assert not np.allclose(after[:, 3:], before[:, 3:])


def test_cached_decoding_equals_full_recompute():
    decoder = TransformerDecoder(EMBED, DENSE, HEADS)
    x = rng.normal(size=(2, 5, EMBED)).astype("float32")
    enc = rng.normal(size=(2, 7, EMBED)).astype("float32")
    src_mask = np.ones((2, 7), bool)
    src_mask[1, 3:] = False
    full = decoder(x, enc, encoder_outputs_mask=src_mask)
    cache = decoder.init_cache(2, 5)
    cross = decoder.compute_cross_attention_cache(enc)
    steps = []
    for t in range(5):
        out, cache, cross = decoder(
            x[:, t : t + 1], None, encoder_outputs_mask=src_mask,
            self_attention_cache=cache, self_attention_cache_update_index=t,
            cross_attention_cache=cross,
        )
        steps.append(out)
    assert_close(ops.concatenate(steps, axis=1), full, atol=1e-5)


def test_decoder_only_block():
    decoder = TransformerDecoder(EMBED, DENSE, HEADS)
    x = rng.normal(size=(2, 5, EMBED)).astype("float32")
    assert tuple(decoder(x).shape) == (2, 5, EMBED)
    with pytest.raises(ValueError, match="without encoder_outputs"):
        decoder(x, x)


# -- configuration and errors --------------------------------------------------
def test_key_dim_defaults_to_embed_dim_over_heads_and_book_setting_reachable():
    assert TransformerEncoder(256, 32, 2).key_dim == 128
    assert TransformerEncoder(256, 32, 2, key_dim=256).key_dim == 256


def test_bad_configurations_and_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="embed_dim=10 is not divisible by num_heads=3"):
        TransformerEncoder(10, 16, 3)
    TransformerEncoder(10, 16, 3, key_dim=4)  # fine with an explicit key_dim
    with pytest.raises(ValueError, match=r"\(batch, length, embed_dim\)"):
        TransformerEncoder(EMBED, DENSE, HEADS)(np.zeros((2, EMBED), "float32"))
    with pytest.raises(ValueError, match="last dimension 8 but embed_dim=16"):
        TransformerDecoder(EMBED, DENSE, HEADS)(np.zeros((2, 3, 8), "float32"))


def test_encoder_battery(tmp_path):
    x = rng.normal(size=(4, 6, EMBED)).astype("float32")
    run_layer_battery(lambda **kw: TransformerEncoder(EMBED, DENSE, HEADS, dropout=0.1, **kw), [x], tmp_path)


def test_decoder_battery(tmp_path):
    x = rng.normal(size=(4, 5, EMBED)).astype("float32")
    e = rng.normal(size=(4, 6, EMBED)).astype("float32")
    run_layer_battery(lambda **kw: TransformerDecoder(EMBED, DENSE, HEADS, **kw), [x, e], tmp_path)


def test_keras_file_loads_in_a_fresh_process_with_safe_mode(tmp_path):
    import subprocess
    import sys

    model = seq2seq(TransformerEncoder(EMBED, DENSE, HEADS, norm_first=True))
    inputs = [random_tokens(2, 6, pad_from=[4, 6]), random_tokens(2, 5, pad_from=[3, 5])]
    np.savez(tmp_path / "io.npz", src=inputs[0], tgt=inputs[1], out=ops.convert_to_numpy(model(inputs)))
    model.save(tmp_path / "model.keras")
    script = (
        "import sys, numpy as np, keras, keras_transformer\n"
        "d = np.load(sys.argv[1] + '/io.npz')\n"
        "m = keras.saving.load_model(sys.argv[1] + '/model.keras', safe_mode=True)\n"
        "np.testing.assert_allclose(keras.ops.convert_to_numpy(m([d['src'], d['tgt']])), d['out'], atol=1e-6)\n"
        "print('identical')\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "identical" in result.stdout
