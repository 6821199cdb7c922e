"""The chapter's IMDB classifiers on tiny generated text (no real data).

Properties: every model trains; padding changes nothing for the mask-aware
models; the raw-string model predicts the same after a save and a reload
(in a fresh process too); the chapter script runs end to end.
"""

import importlib.util
import json
import warnings
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from keras_transformer import MaskedAttentionPooling1D, MaskedGlobalMaxPooling1D, OneHot, TokenDropout
from keras_transformer.classification.data import make_dataset, make_vectorizer
from keras_transformer.classification import build_classifier, end_to_end
from keras_transformer.classification.models import BAG_OF_WORDS, MODEL_NAMES, PADDING_INVARIANT
from toy_data import make_reviews

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "chapters" / "ch11_text_classification.py"
TINY = dict(vocab_size=60, sequence_length=24, embed_dim=8, num_heads=2, dense_dim=8, lstm_units=4)

def tiny_reviews(n=32, seed=0, max_words=20):
    """n short reviews whose label is which sentiment words they use (odd line breaks among them)."""
    return make_reviews(n, seed, max_words, odd_line_breaks=True)


class Split:
    def __init__(self, texts, labels):
        self.texts, self.labels = texts, labels


def adapted(name, texts):
    vectorizer = make_vectorizer(name, vocab_size=TINY["vocab_size"], sequence_length=TINY["sequence_length"])
    vectorizer.adapt(texts)
    return vectorizer


REVIEWS = ["a wonderful moving film", "the worst dull plot", "an unseen zebra word", ""]


def eager(model):
    """Skip graph tracing: on tiny data it costs far more than the step itself."""
    model.run_eagerly = True
    return model


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_trains_and_its_raw_string_model_round_trips(name, tmp_path):
    texts, labels = tiny_reviews()
    vectorizer = adapted(name, texts)
    model = eager(build_classifier(name, **TINY))
    ds = make_dataset(name, vectorizer, Split(texts, labels), batch_size=16, shuffle=True, seed=1)
    history = model.fit(ds, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])

    raw = end_to_end(vectorizer, model)
    before = ops.convert_to_numpy(raw(tf.constant(REVIEWS)))
    assert before.shape == (len(REVIEWS), 1) and np.all((before >= 0) & (before <= 1))
    raw.save(tmp_path / "model.keras")
    reloaded = keras.models.load_model(tmp_path / "model.keras", safe_mode=True)
    after = ops.convert_to_numpy(reloaded(tf.constant(REVIEWS)))
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "name, options", [(name, {}) for name in PADDING_INVARIANT]
    + [("transformer-positional", {"pooling": "mean"}), ("transformer-positional", {"pooling": "attention", "embedding_dropout": 0.3})]
)
def test_padding_changes_nothing_for_mask_aware_models(name, options):
    """A review padded to 24 tokens and the same review trimmed to its length agree."""
    texts, _ = tiny_reviews(8)
    vectorizer = adapted(name, texts)
    model = build_classifier(name, dropout=0.0, **options, **TINY)
    ids = vectorizer(tf.constant(texts)).numpy()
    padded = ops.convert_to_numpy(model(ids))
    for i, row in enumerate(ids):
        real = ops.convert_to_numpy(model(row[row != 0][None, :]))
        np.testing.assert_allclose(real, padded[i : i + 1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("multiple", [1, 5])
def test_bucketed_pipeline_gives_the_same_test_accuracy_as_fixed_padding(multiple):
    texts, labels = tiny_reviews(40, seed=3, max_words=8)
    vectorizer = adapted("transformer-positional", texts)
    model = eager(build_classifier("transformer-positional", **TINY))
    split = Split(texts, labels)
    trimmed = make_dataset("transformer-positional", vectorizer, split, batch_size=8, width_multiple=multiple)
    fixed = make_dataset("transformer-positional", vectorizer, split, batch_size=8, trim_padding=False)
    widths = {x.shape[1] for x, _ in trimmed}
    assert max(widths) < TINY["sequence_length"]
    assert all(width % multiple == 0 for width in widths), widths  # a handful of shapes for a compiler
    np.testing.assert_allclose(model.evaluate(trimmed, verbose=0), model.evaluate(fixed, verbose=0), rtol=1e-5)


def test_fixed_batches_have_one_batch_size_few_widths_and_train_and_score_as_unfilled_ones():
    """With fixed_batch, every batch of an epoch has batch_size rows and a width among a few: the
    last batch of each length bucket is filled with weight-0 rows, which change no loss, gradient
    or accuracy (the loss divides by the weights' sum)."""
    texts, labels = tiny_reviews(45, seed=4, max_words=20)
    vectorizer = adapted("transformer-positional", texts)
    split = Split(texts, labels)
    options = dict(batch_size=8, width_multiple=8)
    filled = make_dataset("transformer-positional", vectorizer, split, fixed_batch=True, **options)
    unfilled = make_dataset("transformer-positional", vectorizer, split, **options)
    shapes = {tuple(x.shape) for x, _, _ in filled}
    assert {rows for rows, _ in shapes} == {8} and {width for _, width in shapes} <= {8, 16, 24}
    assert int(filled.cardinality()) == int(unfilled.cardinality()) == len(list(unfilled))
    weights = np.concatenate([w.numpy() for _, _, w in filled])
    assert weights.sum() == len(texts) and set(weights) == {0.0, 1.0}

    book = build_classifier("transformer-positional", dropout=0.0, optimizer="adam", **TINY)
    fixed = build_classifier("transformer-positional", dropout=0.0, optimizer="adam", fixed_batch=True, **TINY)
    fixed.set_weights(book.get_weights())
    for model in (book, fixed):
        eager(model)
    for (x, y), (fx, fy, fw) in zip(unfilled, filled):  # the same batches, in the same order
        np.testing.assert_array_equal(fx[: len(x), : x.shape[1]], x)
        np.testing.assert_allclose(fixed.test_on_batch(fx, fy, sample_weight=fw), book.test_on_batch(x, y),
                                   rtol=1e-5, atol=1e-6)
    book.fit(unfilled, epochs=1, verbose=0, shuffle=False)
    history = fixed.fit(filled, epochs=1, verbose=0, shuffle=False, validation_data=filled)
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history.history)  # the names fit monitors
    for a, b in zip(book.get_weights(), fixed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # Keras's epoch loss weighs each batch by its rows (fillers included); accuracy counts reviews only.
    assert fixed.evaluate(filled, verbose=0)[1] == pytest.approx(book.evaluate(unfilled, verbose=0)[1], abs=1e-6)


def test_masked_max_pooling_ignores_padded_steps():
    x = np.random.default_rng(0).normal(size=(3, 5, 4)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0]], bool)
    poisoned = np.where(mask[..., None], x, 1e4).astype("float32")  # padded steps would win a plain max
    pooled = ops.convert_to_numpy(MaskedGlobalMaxPooling1D()(poisoned, mask=mask))
    np.testing.assert_allclose(pooled[0], x[0, :3].max(axis=0))
    np.testing.assert_allclose(pooled[1], x[1, 0])
    np.testing.assert_array_equal(pooled[2], np.zeros(4))  # nothing real: zeros, not -inf
    np.testing.assert_allclose(ops.convert_to_numpy(MaskedGlobalMaxPooling1D()(x)), x.max(axis=1))


def test_attention_pooling_is_a_softmax_weighted_mean_over_real_steps_per_head():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 5, 4)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0]], bool)
    layer = MaskedAttentionPooling1D(num_heads=2)
    layer.build(x.shape)
    query = rng.normal(size=(2, 2)).astype("float32")
    layer.query.assign(query)
    poisoned = np.where(mask[..., None], x, 1e4).astype("float32")  # padding must get no weight
    pooled = ops.convert_to_numpy(layer(poisoned, mask=mask))
    for row in range(2):
        real = x[row, mask[row]]
        for head in range(2):
            part = real[:, 2 * head : 2 * head + 2]
            scores = part @ query[head] / np.sqrt(2)
            weights = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
            np.testing.assert_allclose(pooled[row, 2 * head : 2 * head + 2], weights @ part, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(pooled[2], np.zeros(4))  # nothing real: zeros
    clone = MaskedAttentionPooling1D.from_config(layer.get_config())
    assert clone.num_heads == 2
    with pytest.raises(ValueError, match="does not divide"):
        MaskedAttentionPooling1D(num_heads=3).build((1, 5, 4))


def test_token_dropout_replaces_real_tokens_by_unknown_only_in_training(tmp_path):
    ids = np.tile(np.array([[5, 6, 7, 8, 9, 10, 0, 0]], "int64"), (500, 1))
    layer = TokenDropout(0.3, seed=0)
    np.testing.assert_array_equal(ops.convert_to_numpy(layer(ids, training=False)), ids)
    out = ops.convert_to_numpy(layer(ids, training=True))
    assert np.all(out[:, 6:] == 0)  # padding stays padding: masks and lengths unchanged
    replaced = out[:, :6] != ids[:, :6]
    assert np.all(out[:, :6][replaced] == 1)  # replaced tokens become [UNK]
    assert 0.27 < replaced.mean() < 0.33
    # A model with it saves and reloads (the layer is registered) and predicts as before.
    model = build_classifier("transformer-positional", token_dropout=0.2, **TINY)
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    x = np.array([[3, 4, 5, 0]], "int64")
    np.testing.assert_allclose(ops.convert_to_numpy(again(x)), ops.convert_to_numpy(model(x)), rtol=1e-6)
    assert again.get_layer("token_dropout").rate == 0.2


@pytest.mark.slow
def test_ema_run_validates_and_keeps_the_averaged_weights(tmp_path):
    """With --ema the best checkpoint holds the optimizer's moving average, not the last weights.

    Momentum 1.0 freezes Keras's average at the weights after the first step
    (Keras starts the average there), where Adam has moved the zero-initialised
    output bias by exactly the learning rate. The saved bias must be that value;
    the raw trained bias (kept in the optimizer's slot after the swap) moved on.
    """
    data = _imdb_folder(tmp_path / "data")
    out = tmp_path / "out"
    argv = ["--model", "transformer-positional", "--epochs", "2", "--data-dir", str(data),
            "--output-dir", str(out), "--set", "vocab_size=60", "--set", "embed_dim=8", "--set", "dense_dim=8",
            "--set", "pooling=attention", "--set", "optimizer=adamw", "--set", "weight_decay=0.01",
            "--learning-rate", "0.01", "--set", "ema=1.0", "--batch-size", "4"]
    _load_script().main(argv)
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["ema"] == 1.0 and results["settings"]["optimizer"] == "adamw"
    best = keras.models.load_model(out / "best.keras", safe_mode=True)
    assert best.optimizer.use_ema and type(best.optimizer).__name__ == "AdamW"
    index = next(i for i, v in enumerate(best.trainable_variables) if v is best.layers[-1].bias)
    saved = float(ops.convert_to_numpy(best.layers[-1].bias)[0])
    raw = float(ops.convert_to_numpy(best.optimizer._model_variables_moving_average[index])[0])
    assert abs(saved) == pytest.approx(0.01, rel=1e-3)
    assert abs(raw - saved) > 1e-3
    assert 0.0 <= results["test"]["accuracy"] <= 1.0


def test_masked_max_pooling_takes_the_mask_from_the_embedding_in_a_model():
    inputs = keras.Input(shape=(None,), dtype="int64")
    x = keras.layers.Embedding(10, 3, mask_zero=True)(inputs)
    model = keras.Model(inputs, MaskedGlobalMaxPooling1D()(x))
    short = ops.convert_to_numpy(model(np.array([[4, 7]])))
    np.testing.assert_allclose(ops.convert_to_numpy(model(np.array([[4, 7, 0, 0, 0]]))), short)


def test_vocabulary_survives_save_and_reload_with_odd_line_breaks_in_text(tmp_path):
    texts = ["wait\x85 what", "so\u2028so good", "fine\x1cfilm"] * 3
    vectorizer = make_vectorizer("transformer", vocab_size=20, sequence_length=4)
    vectorizer.adapt(texts)
    vocabulary = vectorizer.get_vocabulary()
    assert all(len(token.splitlines()) <= 1 for token in vocabulary), vocabulary
    inputs = keras.Input(shape=(), dtype="string")
    keras.Model(inputs, vectorizer(inputs)).save(tmp_path / "v.keras")
    reloaded = keras.models.load_model(tmp_path / "v.keras", safe_mode=True)
    assert reloaded.layers[-1].get_vocabulary() == vocabulary


def test_one_hot_layer_matches_numpy_and_round_trips_config():
    ids = np.array([[0, 2, 3]])
    np.testing.assert_array_equal(ops.convert_to_numpy(OneHot(4)(ids)), np.eye(4, dtype="float32")[ids])
    assert OneHot.from_config(OneHot(7).get_config()).depth == 7


def test_unknown_model_name_is_a_one_line_error():
    with pytest.raises(ValueError, match="'gpt'.*unigram"):
        build_classifier("gpt")


def test_end_to_end_model_reloads_in_a_fresh_process(tmp_path):
    texts, _ = tiny_reviews()
    raw = end_to_end(adapted("transformer-positional", texts), build_classifier("transformer-positional", **TINY))
    before = ops.convert_to_numpy(raw(tf.constant(REVIEWS)))
    path = tmp_path / "model.keras"
    raw.save(path)
    code = textwrap.dedent(
        f"""
        import json, sys, keras, tensorflow as tf
        import keras_transformer  # registers every custom layer
        model = keras.models.load_model({str(path)!r}, safe_mode=True)
        print(json.dumps(model(tf.constant({REVIEWS!r})).numpy().tolist()))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    after = np.array(json.loads(out.stdout.strip().splitlines()[-1]))
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-6)


def _load_script():
    spec = importlib.util.spec_from_file_location("ch11_text_classification", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_help_lists_at_most_20_options_and_every_recipe():
    result = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == ""  # no log line either
    options = {word.split("=")[0].rstrip(",") for line in result.stdout.splitlines()
               for word in line.split() if word.startswith("--") and line.startswith("  -")}
    assert "--recipe" in options and "--set" in options and len(options) + 1 <= 20  # + "-h"
    for name in ("book", "fast", "best", "bigram"):
        assert f"  {name} " in result.stdout
    assert "(default: None)" not in result.stdout


def test_settings_stack_book_then_recipe_then_set_then_flags():
    from keras_transformer_cli.options import chapter_settings

    settings, command = chapter_settings("imdb", ["--recipe", "fast", "--set", "embed_dim=64", "--set", "epochs=5",
                                                  "--epochs", "3", "--full-padding"])
    assert settings["embed_dim"] == 64 and settings["epochs"] == 3 and settings["full_padding"] is True
    assert settings["optimizer"] == "adam" and settings["vocab_size"] == 20000  # the recipe's, then the book's
    assert settings["recipe"] == "imdb-fast" and "--recipe fast" in command


def test_bad_settings_are_one_line_errors(capsys):
    from keras_transformer_cli.options import chapter_settings

    for argv, message in ((["--set", "embed_dimm=3"], "unknown imdb setting 'embed_dimm'"),
                          (["--set", "novalue"], "is not KEY=VALUE"),
                          (["--recipe", "fastest"], "invalid choice")):
        with pytest.raises(SystemExit) as exit_info:
            chapter_settings("imdb", argv)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        _load_script().main(["--set", "optimizer=adamw", "--set", "lazy_embedding_updates=True"])
    assert "lazy_embedding_updates needs optimizer adam or rmsprop, not adamw" in capsys.readouterr().err


def test_width_multiple_defaults_to_the_backend_and_refuses_zero():
    from keras_transformer.data.batching import width_multiple

    compiled = keras.backend.backend() != "tensorflow"  # JAX and torch compile one step per batch shape
    assert width_multiple(None, compiled=64) == (64 if compiled else 1)
    assert width_multiple(16, compiled=64) == 16
    with pytest.raises(ValueError, match="width_multiple=0 must be at least 1"):
        width_multiple(0, compiled=64)


def test_xla_and_jax_get_few_widths_and_fixed_batches_and_tensorflow_without_xla_neither():
    from keras_transformer import recipes
    from keras_transformer.data.batching import use_fixed_batch, width_multiple

    tensorflow = keras.backend.backend() == "tensorflow"
    assert width_multiple(None, compiled=64, jit_compile="on") == 64  # XLA compiles each shape
    assert width_multiple(None, compiled=64, jit_compile="off") == (1 if tensorflow else 64)
    assert use_fixed_batch(None, "on") and use_fixed_batch(None, "off") == (not tensorflow)
    assert use_fixed_batch(False, "on") is False and use_fixed_batch(True, "off") is True
    for chapter in recipes.chapters():
        assert recipes.settings(chapter)["fixed_batch"] is None  # the book: decided by the backend
        assert recipes.settings(chapter, "gpu")["fixed_batch"] is True


def _imdb_folder(root, n=24):
    for split, seed in (("train", 1), ("test", 2)):
        texts, labels = tiny_reviews(n, seed=seed)
        for i, (text, label) in enumerate(zip(texts, labels)):
            folder = root / "aclImdb" / split / ("pos" if label else "neg")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{i}_{7 if label else 2}.txt").write_text(text)
    return root


@pytest.mark.slow
def test_script_runs_end_to_end_on_a_tiny_imdb_folder(tmp_path):
    data = _imdb_folder(tmp_path / "data")
    out = tmp_path / "out"
    argv = ["--model", "transformer-positional", "--epochs", "1", "--data-dir", str(data),
            "--output-dir", str(out), "--set", "vocab_size=60", "--set", "embed_dim=8", "--set", "dense_dim=8",
            "--set", "lr_schedule=cosine"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _load_script().main(argv)
    # A normal run prints no Keras warning (progress bars know their length, nothing is ignored).
    keras_warnings = [str(w.message) for w in caught if "/keras/" in w.filename
                      and not issubclass(w.category, DeprecationWarning)]  # hidden by default
    assert not keras_warnings, keras_warnings
    results = json.loads((out / "results.json").read_text())
    assert results["model"] == "transformer-positional"
    # The cosine decay spans the run: one epoch of batches (20 reviews in length buckets).
    assert results["settings"]["lr_schedule"] == "cosine" and 1 <= results["settings"]["decay_steps"] <= 20
    assert results["training"]["epochs_run"] == 1 and results["training"]["best_epoch"] == 1
    assert 0.0 <= results["test"]["accuracy"] <= 1.0
    assert results["settings"]["train_val_test"] == [20, 4, 24]
    assert "--epochs 1" in results["command"] and results["machine"]["cpu_count"] >= 1
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert not (out / "resume").exists()
    raw = keras.models.load_model(out / "end_to_end.keras", safe_mode=True)
    assert tuple(raw(tf.constant(REVIEWS)).shape) == (len(REVIEWS), 1)


def test_script_without_validation_trains_on_all_reviews_and_keeps_the_last_epoch(tmp_path):
    data = _imdb_folder(tmp_path / "data")
    out = tmp_path / "out"
    argv = ["--model", "unigram", "--epochs", "2", "--data-dir", str(data), "--output-dir", str(out),
            "--set", "vocab_size=60", "--validation-split", "0", "--set", "clock_every=1", "--set", "clock_target=0"]
    _load_script().main(argv)
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["train_val_test"] == [24, 0, 24]
    # With no review held out, the clock scores test reviews; target 0 is reached at its first reading.
    assert results["clock"]["reached"] == results["clock"]["points"][0]
    assert [p["step"] for p in results["clock"]["points"]] == list(range(1, len(results["clock"]["points"]) + 1))
    assert results["training"]["epochs_run"] == 2 and results["training"]["best_epoch"] == 2
    assert results["training"]["best_monitor"] is None
    # The checkpoint is the last epoch's model: it scores the test set as the run did.
    saved = keras.models.load_model(out / "best.keras", safe_mode=True)
    assert saved.optimizer.iterations.numpy() > 0
    assert 0.0 <= results["test"]["accuracy"] <= 1.0


def test_bag_of_words_names_get_vectors_and_sequence_names_get_ids():
    texts, _ = tiny_reviews(8)
    for name in MODEL_NAMES:
        out = adapted(name, texts)(tf.constant(texts[:2]))
        expected = (2, TINY["vocab_size"]) if name in BAG_OF_WORDS else (2, TINY["sequence_length"])
        assert tuple(out.shape) == expected, name


def test_warmup_rises_linearly_then_the_cosine_decays_to_zero():
    from keras_transformer.training.optimizers import make_optimizer

    schedule = make_optimizer("adam", 2e-3, decay_steps=12, warmup_steps=4)._learning_rate
    values = [float(ops.convert_to_numpy(schedule(step))) for step in (0, 2, 4, 8, 12)]
    assert values == pytest.approx([0.0, 1e-3, 2e-3, 1e-3, 0.0], abs=1e-9)


def test_cosine_schedule_decays_from_the_learning_rate_to_zero():
    model = build_classifier("transformer-positional", vocab_size=30, sequence_length=8, embed_dim=8,
                             dense_dim=4, learning_rate=2e-3, decay_steps=10)
    schedule = model.optimizer._learning_rate  # Keras keeps the schedule object here
    assert isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule)
    values = [float(ops.convert_to_numpy(schedule(step))) for step in (0, 5, 10)]
    assert values[0] == pytest.approx(2e-3) and values[1] == pytest.approx(1e-3) and values[2] == pytest.approx(0.0)
    warmed = build_classifier("transformer-positional", vocab_size=30, sequence_length=8, embed_dim=8, dense_dim=4,
                              learning_rate=2e-3, decay_steps=10, warmup_steps=4).optimizer._learning_rate  # the script's --warmup-steps
    assert [float(ops.convert_to_numpy(warmed(step))) for step in (0, 4)] == pytest.approx([0.0, 2e-3])


@pytest.mark.slow
def test_script_trains_under_jax_with_batches_padded_to_a_few_widths(tmp_path):
    data = _imdb_folder(tmp_path / "data")
    out = tmp_path / "out"
    argv = ["--model", "transformer-positional", "--epochs", "1", "--data-dir", str(data), "--output-dir", str(out),
            "--set", "vocab_size=60", "--set", "embed_dim=8", "--set", "dense_dim=8", "--set", "sequence_length=40",
            "--set", "optimizer=adam", "--set", "lazy_embedding_updates=True", "--set", "clock_every=2"]
    from tiny_models import run_script_under_jax

    run_script_under_jax(SCRIPT, argv)
    results = json.loads((out / "results.json").read_text())
    assert results["machine"]["backend"] == "jax" and results["settings"]["width_multiple"] == 64
    assert results["settings"]["fixed_batch"] is True  # JAX compiles each batch shape: one batch size
    assert 0.0 <= results["test"]["accuracy"] <= 1.0 and results["clock"]["points"]
