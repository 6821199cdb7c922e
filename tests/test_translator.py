"""Translator: the whole path learns, evaluates two ways, saves, and survives bad input."""

import logging

import numpy as np
import toy_data
import pytest
import keras
import tensorflow as tf

from keras_transformer.translation.pairs import make_dataset
from keras_transformer.translation.scoring import next_token_accuracies
from keras_transformer.translation.vocabulary import SubwordVectorizer, make_vectorizers, prepare_reference
from keras_transformer.translation.models import build_translation_model
from keras_transformer.translation.translator import Translator

LENGTH = 8


def make_pairs(n, seed):
    return toy_data.make_pairs(n, seed, words=(2, 6))


@pytest.fixture(scope="module")
def learned():
    """A tiny Transformer trained on the reverse-and-translate task (a few seconds)."""
    keras.utils.set_random_seed(0)
    train = make_pairs(2000, seed=0)
    source_vec, target_vec = make_vectorizers(train, vocab_size=20, sequence_length=LENGTH)
    model = build_translation_model(
        "transformer", 20, 20, LENGTH, compile=False,
        embed_dim=32, dense_dim=64, num_heads=4, key_dim=None, dropout=0.0,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    ds = make_dataset(train, source_vec, target_vec, batch_size=64, seed=0, by_length=True)
    model.fit(ds, epochs=7, verbose=0)
    return Translator(model, source_vec, target_vec, "transformer")


@pytest.mark.parametrize("multiple", [1, 3])
def test_batches_by_length_hold_every_pair_once_and_predict_as_full_padding(learned, multiple):
    pairs = make_pairs(300, seed=5)
    source_vec, target_vec = learned.source_vectorizer, learned.target_vectorizer
    padded = make_dataset(pairs, source_vec, target_vec, batch_size=32, shuffle=False)
    by_length = make_dataset(pairs, source_vec, target_vec, batch_size=32, shuffle=True, seed=3, by_length=True,
                             width_multiple=multiple)
    shapes = set()

    def rows(ds, trimmed):
        out = {}
        for inputs, targets in ds:
            english, spanish = inputs["english"].numpy(), inputs["spanish"].numpy()
            probabilities = learned.model.predict_on_batch(inputs)
            widths = (english != 0).sum(1).max(), (spanish != 0).sum(1).max()
            if trimmed:  # each batch is cut to its longest source and target, rounded up to the multiple
                expected = [min(-(-max(width, 1) // multiple) * multiple, LENGTH) for width in widths]
                assert [english.shape[1], spanish.shape[1]] == expected
                shapes.add((english.shape[1], spanish.shape[1]))
            for e, s, t, p in zip(english, spanish, targets.numpy(), probabilities):
                key = (tuple(e[e != 0]), tuple(s[s != 0]))
                out.setdefault(key, []).append((t[: len(key[1])], p[: len(key[1])]))
        return out

    full, grouped = rows(padded, False), rows(by_length, True)
    if multiple > 1:  # a handful of widths for a compiling backend: 3, 6 or 8 on each side
        assert {width for shape in shapes for width in shape} <= {3, 6, 8}
    assert sorted((k, len(v)) for k, v in full.items()) == sorted((k, len(v)) for k, v in grouped.items())
    for key, [(targets, probabilities), *_] in full.items():
        np.testing.assert_array_equal(grouped[key][0][0], targets)
        np.testing.assert_allclose(grouped[key][0][1], probabilities, atol=1e-5)


def test_fixed_batches_are_filled_with_padding_pairs_that_change_no_loss_gradient_or_accuracy(learned):
    pairs = make_pairs(150, seed=6)
    source_vec, target_vec = learned.source_vectorizer, learned.target_vectorizer
    options = dict(batch_size=32, shuffle=False, by_length=True, width_multiple=3)
    unfilled = make_dataset(pairs, source_vec, target_vec, **options)
    filled = make_dataset(pairs, source_vec, target_vec, fixed_batch=True, **options)
    assert int(filled.cardinality()) == int(unfilled.cardinality())
    shapes = {(inputs["english"].shape[0], *(inputs[key].shape[1] for key in inputs)) for inputs, _ in filled}
    assert {shape[0] for shape in shapes} == {32} and {w for shape in shapes for w in shape[1:]} <= {3, 6, 8}

    def copy():  # the learned weights, eager (no tracing per shape), a plain optimizer
        model = keras.models.clone_model(learned.model)
        model.set_weights(learned.model.get_weights())
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"], run_eagerly=True)
        return model

    book, fixed = copy(), copy()
    for (inputs, targets), (filled_inputs, filled_targets) in zip(unfilled, filled):
        rows = len(targets)
        for key in ("english", "spanish"):
            np.testing.assert_array_equal(filled_inputs[key][:rows], inputs[key])
            assert not np.any(filled_inputs[key][rows:])  # filler pairs are all padding
        np.testing.assert_allclose(fixed.test_on_batch(filled_inputs, filled_targets),
                                   book.test_on_batch(inputs, targets), rtol=1e-5, atol=1e-6)
    assert rows < 32  # the last batch was filled; one step on it moves the weights as the unfilled one does
    book.train_on_batch(inputs, targets)
    fixed.train_on_batch(filled_inputs, filled_targets)
    for a, b in zip(book.get_weights(), fixed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_transformer_learns_the_toy_task(learned):
    test = make_pairs(40, seed=1)
    results = learned.evaluate(test)
    assert results["accuracy_tokens"] >= 0.95
    exact = sum(h == r for h, r in zip(results["hypotheses"], results["references"]))
    assert exact >= 0.9 * len(test), list(zip(results["hypotheses"], results["references"]))
    assert learned.translate(["Red green blue."]) == ["azul verde rojo"]


@pytest.mark.slow
def test_gru_attention_learns_the_toy_task():
    """The RNN encoder-decoder with attention learns reverse-and-translate too.

    Most of its time is TensorFlow tracing the recurrent step once (eager
    execution of the per-step loop is slower still); the epochs take seconds.
    """
    keras.utils.set_random_seed(0)
    train = make_pairs(1000, seed=0)
    source_vec, target_vec = make_vectorizers(train, vocab_size=20, sequence_length=LENGTH)
    model = build_translation_model(
        "gru-attention", 20, 20, LENGTH, compile=False, embed_dim=32, latent_dim=64, dropout=0.0
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    ds = make_dataset(train, source_vec, target_vec, batch_size=64, seed=0, by_length=True)
    model.fit(ds, epochs=6, verbose=0)
    translator = Translator(model, source_vec, target_vec, "gru-attention")
    results = translator.evaluate(make_pairs(40, seed=1))
    assert results["accuracy_tokens"] >= 0.95, results["accuracy_tokens"]
    assert translator.translate(["Red green blue."]) == ["azul verde rojo"]


def test_saved_translator_reloads_and_translates_identically(learned, tmp_path):
    sentences = [e for e, _ in make_pairs(20, seed=2)] + ["Gray, gray!", "Purple red."]
    learned.save(tmp_path / "translator")
    reloaded = Translator.load(tmp_path / "translator")
    assert reloaded.translate(sentences) == learned.translate(sentences)
    ids = np.array([[3, 4, 0]], "int64")
    prefix = np.array([[learned.start_id, 5]], "int64")
    inputs = {"english": ids, "spanish": prefix}
    np.testing.assert_allclose(reloaded.model(inputs, training=False), learned.model(inputs, training=False), atol=1e-6)


def test_bad_input_does_not_crash(learned, caplog):
    odd = ["", "   ", None, "?!...", "日本語のテキスト", "Café naïve façade.", "Ünïcödé red"]
    with caplog.at_level(logging.WARNING):
        out = learned.translate(odd + ["red " * 40])
    assert out[:4] == ["", "", "", ""]
    assert all(isinstance(s, str) for s in out)
    assert "truncated" in caplog.text
    assert learned.translate("") == ""
    assert learned.translate([]) == []


def test_batched_translation_matches_one_at_a_time(learned):
    sentences = [e for e, _ in make_pairs(12, seed=3)]
    assert learned.translate(sentences, batch_size=5) == [learned.translate(s) for s in sentences]


def test_two_accuracies_differ_exactly_by_the_pad_after_end():
    # [start]=2 a=5 b=6 [end]=3; the model gets "b" wrong and "[end]" right.
    decoder_inputs = np.array([[2, 5, 6, 3, 0, 0]])
    targets = np.array([[5, 6, 3, 0, 0, 0]])
    predicted = np.array([[5, 7, 3, 0, 4, 4]])
    counts = next_token_accuracies(decoder_inputs, targets, predicted)
    # Keras way: 4 positions (inputs [start] a b [end]), the pad target after [end] counts.
    assert counts["keras"] == (3, 4)
    # Real tokens: a, b, [end] only.
    assert counts["tokens"] == (2, 3)


class AlwaysPadding:
    """A stand-in model that always predicts the padding id 0."""

    name = "always_padding"

    def __init__(self, vocab):
        self.vocab = vocab

    def __call__(self, inputs, training=False):
        return tf.one_hot(tf.zeros_like(inputs["spanish"]), self.vocab)


def test_evaluate_counts_the_padding_hit_only_the_keras_way(learned):
    pairs = [("Red.", "Rojo."), ("Red green blue.", "Azul verde rojo.")]
    translator = Translator(
        AlwaysPadding(len(learned.target_vectorizer.get_vocabulary())), learned.source_vectorizer,
        learned.target_vectorizer,
    )
    results = translator.evaluate(pairs, translate=False)
    # Decoder inputs: [start] rojo [end] (3) and [start] azul verde rojo [end] (5);
    # the only "hit" is the padding target after each [end].
    assert results["accuracy_keras"] == pytest.approx(2 / 8)
    assert results["accuracy_tokens"] == 0.0


def test_evaluate_scores_raw_references_unseen_sentences_and_unknown_words(learned):
    import sacrebleu

    from keras_transformer.translation.pairs import unseen_in_training

    train = make_pairs(2000, seed=0)  # what `learned` was trained on
    pairs = make_pairs(60, seed=11) + [("Red purple zebra.", "Cebra morada roja.")]
    unseen = unseen_in_training(pairs, train)
    assert unseen[-1] and not all(unseen)  # some test sentences are in training, as in Tatoeba
    results = learned.evaluate(pairs, unseen=unseen)
    hypotheses = results["hypotheses"]
    assert results["unk_rate"] == pytest.approx(np.mean(["[UNK]" in h for h in hypotheses]))
    # The corpus writes "Azul verde rojo.", the model "azul verde rojo": raw references cost BLEU.
    assert results["bleu"] > 80 and results["bleu_raw"] < results["bleu"] - 10
    rows = [i for i, flag in enumerate(unseen) if flag]
    assert results["unseen_pairs"] == len(rows)
    expected = sacrebleu.metrics.BLEU().corpus_score([hypotheses[i] for i in rows], [[pairs[i][1] for i in rows]])
    assert results["bleu_raw_unseen"] == pytest.approx(expected.score)


def test_references_are_prepared_like_the_model_output():
    assert prepare_reference("¿Dónde está el Café?") == "dónde está el café"
    assert prepare_reference("  Hola,   Tom!  ") == "hola tom"


@pytest.mark.parametrize("name", ["transformer", "gru-attention"])
def test_accuracy_keras_is_what_keras_fit_reports(learned, name):
    # The decoder input's padding mask reaches the output, so Keras' own
    # masked "accuracy" is measure (a), not accuracy over real tokens.
    keras.utils.set_random_seed(1)
    pairs = make_pairs(64, seed=4)
    sizes = (
        {"embed_dim": 16, "dense_dim": 16, "num_heads": 2}
        if name == "transformer"
        else {"embed_dim": 8, "latent_dim": 8}
    )
    model = build_translation_model(name, 20, 20, LENGTH, **sizes)
    ds = make_dataset(pairs, learned.source_vectorizer, learned.target_vectorizer, 16, False)
    reported = model.evaluate(ds, verbose=0, return_dict=True)["accuracy"]
    ours = Translator(model, learned.source_vectorizer, learned.target_vectorizer).evaluate(
        pairs, translate=False
    )
    assert reported == pytest.approx(ours["accuracy_keras"], abs=1e-6)
    assert reported != pytest.approx(ours["accuracy_tokens"], abs=1e-3)


def test_attention_map_lines_up_with_the_translation(learned, tmp_path):
    from keras_transformer.translation.plots import plot_attention

    source, output, weights = learned.attention_map("Red green blue.")
    assert source == ["red", "green", "blue"]
    assert output == learned.translate("Red green blue.").split() + ["[end]"]
    assert weights.shape == (len(output), 3)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-5)
    plot_attention(source, output, weights, tmp_path / "attention.png")
    assert (tmp_path / "attention.png").stat().st_size > 0


@pytest.mark.slow
def test_chapter_script_end_to_end(make_archive, keras_home, tmp_path, monkeypatch):
    import contextlib
    import json
    import sys
    import warnings
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chapters"))
    import ch11_translation

    stack = contextlib.ExitStack()

    lines = [f"{e}\t{s}\tCC-BY 2.0" for e, s in make_pairs(240, seed=5)] + ["no tab here"]
    archive = make_archive("spa-eng.zip", {"spa-eng/spa.txt": "\n".join(lines) + "\n"})
    out = tmp_path / "run"
    caught = stack.enter_context(warnings.catch_warnings(record=True))
    warnings.simplefilter("always")
    results = ch11_translation.main([
        "--model", "transformer", "--epochs", "1", "--batch-size", "64",
        "--data-dir", str(archive), "--output-dir", str(out), "--set", "vocab_size=20",
        "--set", "sequence_length=8", "--eval-limit", "8", "--set", "samples=3",
        "--attend", "Red green.", "--set", "optimizer=adam", "--learning-rate", "0.002", "--set", "lr_schedule=cosine",
        "--tensorboard", str(tmp_path / "logs"),
    ])
    stack.close()
    # A normal run prints no Keras warning (progress bars know their length, nothing is ignored).
    keras_warnings = [str(w.message) for w in caught if "/keras/" in w.filename
                      and not issubclass(w.category, DeprecationWarning)]  # hidden by default
    assert not keras_warnings, keras_warnings
    for name in ("results.json", "curves.png", "attention.png", "best.keras", "translator/model.keras"):
        assert (out / name).exists(), name
    # TensorBoard's event files, for training and validation.
    assert list((tmp_path / "logs" / "train").glob("events.out.tfevents.*"))
    assert list((tmp_path / "logs" / "validation").glob("events.out.tfevents.*"))
    saved = json.loads((out / "results.json").read_text())
    assert saved["training"]["epochs_run"] == 1 and saved["test"]["pairs"] == 36
    assert saved["test"]["bleu_chrf_pairs"] == 8 and saved["chapter"] == "translation"
    assert {"bleu_raw", "chrf_raw", "unk_rate", "unseen_pairs"} <= set(saved["test"])
    assert 0.0 <= saved["test"]["accuracy_tokens"] <= 1.0 and 0.0 <= saved["test"]["accuracy_keras"] <= 1.0
    assert len(saved["samples"]) == 3 and results["model"] == "transformer"
    # The cosine schedule spans exactly the batches the run trained on: the rate ends at zero.
    optimizer = keras.saving.load_model(out / "best.keras").optimizer
    assert isinstance(optimizer, keras.optimizers.Adam)
    assert int(optimizer.iterations) > 0 and float(optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)
    reloaded = Translator.load(out / "translator")
    assert reloaded.translate([s["english"] for s in saved["samples"]]) == [
        s["model"] for s in saved["samples"]
    ]
    assert saved["test"]["decoding"] == "greedy"
    # The same checkpoint scored again with beam search: same accuracies, beam translations.
    # (The decoders of a tiny model may agree, so the settings that reach them are recorded too.)
    asked = []
    evaluate = Translator.evaluate
    monkeypatch.setattr(Translator, "evaluate", lambda self, pairs, **kw: asked.append(kw) or evaluate(self, pairs, **kw))
    ch11_translation.main([
        "--model", "transformer", "--skip-training", "--data-dir", str(archive), "--output-dir", str(out),
        "--set", "vocab_size=20", "--set", "sequence_length=8", "--eval-limit", "8", "--set", "samples=3",
        "--method", "beam", "--set", "beam_size=3", "--set", "length_penalty=0",
    ])
    beam = json.loads((out / "results.json").read_text())
    assert beam["test"]["decoding"] == "beam 3, length penalty 0"
    assert {k: asked[-1][k] for k in ("method", "beam_size", "length_penalty")} == {
        "method": "beam", "beam_size": 3, "length_penalty": 0.0}
    assert len(asked[-1]["unseen"]) == 8  # one flag per scored pair
    assert beam["test"]["accuracy_keras"] == saved["test"]["accuracy_keras"] and beam["test"]["bleu_chrf_pairs"] == 8
    english = [s["english"] for s in beam["samples"]]
    assert reloaded.translate(english, method="beam", beam_size=3, length_penalty=0.0) == [
        s["model"] for s in beam["samples"]
    ]


@pytest.mark.slow
def test_chapter_script_on_subwords_with_the_recipe_options_and_the_clock(make_archive, keras_home, tmp_path):
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chapters"))
    import ch11_translation

    lines = [f"{e}\t{s}\tCC-BY 2.0" for e, s in make_pairs(240, seed=5)]
    archive = make_archive("spa-eng.zip", {"spa-eng/spa.txt": "\n".join(lines) + "\n"})
    out = tmp_path / "run"
    ch11_translation.main([
        "--model", "transformer", "--tokenizer", "sentencepiece", "--set", "vocab_size=300", "--set", "sequence_length=12",
        "--epochs", "2", "--batch-size", "32", "--data-dir", str(archive), "--output-dir", str(out),
        "--eval-limit", "8", "--set", "samples=3", "--set", "optimizer=adam", "--learning-rate", "0.005",
        "--set", "lr_schedule=cosine", "--set", "warmup_steps=2", "--set", "label_smoothing=0.1", "--set", "layer_dropout=0.1",
        "--set", "clock_every=3", "--set", "clock_sample=20", "--set", "clock_target=0.0", "--method", "beam",
    ])
    saved = json.loads((out / "results.json").read_text())
    assert saved["test"]["unk_rate"] == 0.0 and 0.0 <= saved["validation"]["accuracy_keras"] <= 1.0
    clock = saved["clock"]
    assert clock["reached"] == clock["points"][0] and clock["flops_per_step"] > 0  # target 0: the first point
    steps = [p["step"] for p in clock["points"]]  # every 3 steps, and at both epochs' ends
    assert steps == sorted({*range(3, steps[-1] + 1, 3), steps[-1] // 2, steps[-1]})
    reloaded = Translator.load(out / "translator")
    assert isinstance(reloaded.target_vectorizer, SubwordVectorizer) and reloaded.translate([s["english"] for s in saved["samples"]], method="beam") == [
        s["model"] for s in saved["samples"]]
    assert all(s["model"] == "" or s["model"][0].isupper() for s in saved["samples"])


def test_the_third_editions_translator_trains_on_sample_weights_whose_accuracy_is_measure_b():
    """Chapter 15 of the 3rd edition weighs each target by `labels != 0` and reports
    `weighted_metrics=["accuracy"]`: over a dataset, that is measure (b), counted exactly."""
    from test_editions import LENGTH, VOCAB, third_edition_translator

    keras.utils.set_random_seed(3)
    train, test = make_pairs(400, seed=0), make_pairs(40, seed=1)
    source_vec, target_vec = make_vectorizers(train, vocab_size=VOCAB, sequence_length=LENGTH)
    model = third_edition_translator("positional_unmasked")
    translator = Translator(model, source_vec, target_vec, "third-edition")
    before = translator.evaluate(test, translate=False)["accuracy_tokens"]
    model.fit(make_dataset(train, source_vec, target_vec, batch_size=32, seed=0, by_length=True, sample_weights=True),
              epochs=4, verbose=0)
    batches = make_dataset(test, source_vec, target_vec, batch_size=16, shuffle=False, sample_weights=True)
    inputs, targets, weights = next(iter(batches))
    np.testing.assert_array_equal(weights.numpy(), (targets.numpy() != 0).astype("float32"))
    _, weighted_accuracy = model.evaluate(batches, verbose=0)
    measures = translator.evaluate(test, translate=False)
    assert weighted_accuracy == pytest.approx(measures["accuracy_tokens"], abs=1e-6)
    assert measures["accuracy_tokens"] > before + 0.2  # it learned from the weighted targets


@pytest.mark.slow
def test_chapter_script_runs_end_to_end_under_jax(keras_home, tmp_path):
    """The translation script under JAX (TensorFlow only feeds the data): trains, scores, decodes, saves."""
    import json
    from pathlib import Path

    from keras_transformer.data.samples import write_spa_eng_zip

    script = Path(__file__).resolve().parents[1] / "chapters" / "ch11_translation.py"
    archive = write_spa_eng_zip(tmp_path / "data", num_pairs=240)
    out = tmp_path / "run"
    argv = ["--model", "transformer", "--epochs", "1", "--data-dir", str(archive), "--output-dir", str(out),
            "--set", "vocab_size=20", "--set", "sequence_length=8", "--set", "eval_limit=8", "--set", "samples=2",
            "--set", "key_dim=8", "--set", "optimizer=adam", "--attend", "The black dog runs."]
    from tiny_models import run_script_under_jax

    run_script_under_jax(script, argv)
    saved = json.loads((out / "results.json").read_text())
    assert saved["machine"]["backend"] == "jax" and saved["training"]["epochs_run"] == 1
    assert saved["settings"]["width_multiple"] == 8 and saved["settings"]["fixed_batch"] is True
    assert saved["test"]["bleu_chrf_pairs"] == 8 and 0.0 <= saved["test"]["accuracy_keras"] <= 1.0
    assert len(saved["samples"]) == 2 and (out / "attention.png").exists()
    assert (out / "translator" / "model.keras").exists()
