"""The time-to-accuracy clock: the accuracy Keras reports, the clock's bookkeeping, the FLOP count."""

import sys
from pathlib import Path

import keras
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from tiny_models import LENGTH, make_pairs, tiny_classifier, tiny_reviews  # noqa: E402

from keras_transformer.translation.pairs import make_dataset
from keras_transformer.translation.vocabulary import make_vectorizers  # noqa: E402
from keras_transformer.translation.models import build_translation_model, compile_translation_model  # noqa: E402
from keras_transformer.training.clock import AccuracyClock, sample_accuracy, transformer_training_flops  # noqa: E402

SIZES = dict(embed_dim=16, dense_dim=32, num_heads=2, key_dim=None, dropout=0.0)


@pytest.fixture(scope="module")
def toy():
    keras.utils.set_random_seed(0)
    train, held_out = make_pairs(320, seed=0), make_pairs(64, seed=1)
    source, target = make_vectorizers(train, vocab_size=40, sequence_length=LENGTH)
    model = build_translation_model("transformer", 40, 40, LENGTH, compile=False, **SIZES)
    compile_translation_model(model, keras.optimizers.Adam(1e-2), steps_per_execution=2)
    train_ds = make_dataset(train, source, target, batch_size=32, seed=0)
    train_ds.source, train_ds.target = source, target
    sample = make_dataset(held_out, source, target, batch_size=16, shuffle=False, by_length=True)
    return model, train_ds, sample


def test_sample_accuracy_is_what_keras_evaluate_reports_at_full_padding_whatever_the_batching(toy):
    model, train_ds, sample = toy
    model.fit(train_ds, epochs=1, verbose=0)
    source, target = train_ds.source, train_ds.target
    full = make_dataset(make_pairs(64, seed=1), source, target, batch_size=16, shuffle=False)
    _, keras_accuracy = model.evaluate(full, verbose=0)
    assert sample_accuracy(model, full) == pytest.approx(keras_accuracy, abs=1e-6)
    # Batches cut to their longest pair give the same count (Keras's own metric does
    # not: its mean weighs each batch by real tokens over the batch's width).
    assert sample_accuracy(model, sample) == sample_accuracy(model, full)
    _, classifier, vectorizer = tiny_classifier()  # compiled with "accuracy" by build_classifier
    texts, labels = tiny_reviews(64, seed=3)
    reviews = [(vectorizer(np.array(texts[i:i + 16])), labels[i:i + 16]) for i in range(0, 64, 16)]
    keras_accuracy = classifier.evaluate(vectorizer(np.array(texts)), labels, verbose=0, return_dict=True)["accuracy"]
    assert sample_accuracy(classifier, reviews) == pytest.approx(keras_accuracy, abs=1e-6)


def test_clock_scores_every_n_steps_and_marks_the_first_crossing(toy):
    model, train_ds, sample = toy
    clock = AccuracyClock(sample, every=4, target=0.5)
    start = int(model.optimizer.iterations.numpy())
    model.fit(train_ds, epochs=2, verbose=0, callbacks=[clock])
    # Every 4th optimizer step (2 steps an execution), and each epoch's end (10 batches an epoch).
    expected = sorted({s for s in range(start + 1, start + 21) if s % 4 == 0} | {start + 10, start + 20})
    assert [p["step"] for p in clock.points] == expected
    assert all(0 <= p["train_seconds"] <= p["seconds"] for p in clock.points)
    crossing = [p for p in clock.points if p["accuracy"] >= 0.5]
    assert clock.reached == (crossing[0] if crossing else None)
    with pytest.raises(ValueError, match="every=0"):
        AccuracyClock(sample, every=0)


def test_training_flops_are_the_hand_count_of_the_tiny_transformer():
    model = build_translation_model("transformer", 40, 50, LENGTH, compile=False, **SIZES)
    batch, source_len, target_len, d, ff, width = 3, 5, 4, 16, 32, 16  # width = heads * key_dim
    inputs = {"english": np.ones((batch, source_len), "int64"), "spanish": np.ones((batch, target_len), "int64")}
    encoder = 4 * d * width + 2 * d * ff  # q, k, v, output projections; feed-forward
    decoder = 2 * 4 * d * width + 2 * d * ff + d * 50  # two attentions, feed-forward, output layer
    attention = source_len * source_len + target_len * target_len + target_len * source_len
    forward = 2 * (encoder * batch * source_len + decoder * batch * target_len) + 4 * batch * width * attention
    assert transformer_training_flops(model, [(inputs, None)]) == 3 * forward


@pytest.mark.slow
def test_benchmark_reports_the_book_epoch_and_the_recipe_crossing(make_archive, keras_home, tmp_path, capsys, monkeypatch):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import time_to_accuracy

    lines = [f"{e}\t{s}" for e, s in make_pairs(200, seed=5)]
    archive = make_archive("spa-eng.zip", {"spa-eng/spa.txt": "\n".join(lines) + "\n"})
    tiny = dict(vocab_size=20, sequence_length=8, eval_limit=4, samples=0, batch_size=32)
    spec = time_to_accuracy.CHAPTERS["translation"]
    monkeypatch.setitem(time_to_accuracy.CHAPTERS, "translation", dict(
        spec, book={**spec["book"], **tiny}, recipe={**tiny, "epochs": 1, "learning_rate": 0.005}))
    rows = time_to_accuracy.main([
        "translation", "--data-dir", str(archive), "--output-dir", str(tmp_path), "--every", "2", "--target", "0.01",
        "--recipe", "fast",
    ])
    book, recipe = rows
    assert book["time_to_target_s"] == pytest.approx(30 * book["epoch_seconds"])
    assert recipe["reached"] and 0 < recipe["train_seconds_to_target"] <= recipe["seconds_to_target_with_scoring"]
    assert 0 < recipe["mfu"] < 1 and recipe["matmul_flops_per_second"] > 0
    assert f"| `{recipe['recipe']}` | tensorflow |" in capsys.readouterr().out
