"""The chapter's translation models: build, train a step, save, ignore source padding."""

import numpy as np
import pytest
import keras

from keras_transformer.translation.models import MODEL_NAMES, build_translation_model

VOCAB, LENGTH = 30, 12
SMALL = {
    "gru": {"embed_dim": 8, "latent_dim": 12},
    "gru-attention": {"embed_dim": 8, "latent_dim": 12},
    "transformer": {"embed_dim": 16, "dense_dim": 32, "num_heads": 2},
}
LAYER_NAMES = {
    "gru": ["source_embedding", "encoder", "target_embedding", "decoder_gru", "decoder_dropout", "output_projection"],
    "transformer": ["source_embedding", "encoder", "target_embedding", "decoder", "decoder_dropout", "output_projection"],
}
LAYER_NAMES["gru-attention"] = LAYER_NAMES["gru"] + ["attention"]

rng = np.random.default_rng(7)


def small_model(name):
    return build_translation_model(name, VOCAB, VOCAB, LENGTH, **SMALL[name])


def tokens(lengths, width):
    ids = rng.integers(1, VOCAB, size=(len(lengths), width)).astype("int64")
    for row, n in enumerate(lengths):
        ids[row, n:] = 0
    return ids


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_trains_a_step_and_reloads_identically(name, tmp_path):
    model = small_model(name)
    assert sorted(LAYER_NAMES[name]) == sorted(
        n for n in LAYER_NAMES[name] if n in {layer.name for layer in model.layers}
    )
    source, target = tokens([5, 3, 7, 1], 7), tokens([6, 2, 4, 3], 6)
    labels = np.concatenate([target[:, 1:], np.zeros((4, 1), "int64")], axis=1)
    inputs = {"english": source, "spanish": target}
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(inputs, labels, return_dict=True)["loss"]
    assert np.isfinite(loss)
    assert any(not np.array_equal(b, a) for b, a in zip(before, model.get_weights()))
    assert model.predict_on_batch(inputs).shape == (4, 6, VOCAB)

    path = tmp_path / f"{name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        reloaded.predict_on_batch(inputs), model.predict_on_batch(inputs), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_source_padding_changes_no_prediction(name):
    model = small_model(name)
    source = tokens([5, 2, 6], 6)
    padded = np.concatenate([source, np.zeros((3, LENGTH - 6), "int64")], axis=1)
    target = tokens([4, 6, 3], 6)
    short = model({"english": source, "spanish": target}, training=False)
    long = model({"english": padded, "spanish": target}, training=False)
    np.testing.assert_allclose(np.asarray(long), np.asarray(short), rtol=1e-5, atol=1e-6)


def test_attention_ignores_what_sits_under_source_padding():
    # Stronger than appending zeros: garbage embeddings at padded positions
    # must not leak through attention either.
    from keras_transformer.layers import LuongAttention

    att = LuongAttention()
    query = rng.normal(size=(2, 3, 4)).astype("float32")
    value = rng.normal(size=(2, 5, 4)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    noisy = value.copy()
    noisy[0, 3:] = 100.0
    a = att(query, value, value_mask=mask)
    b = att(query, noisy, value_mask=mask)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)


def test_unknown_model_name_is_a_one_line_error():
    with pytest.raises(ValueError, match="'lstm'.*gru, gru-attention, transformer"):
        build_translation_model("lstm")
