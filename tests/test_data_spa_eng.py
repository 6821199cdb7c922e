"""English/Spanish pairs: parsing, split, standardization, vectorizers, datasets."""

import logging
import string
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_transformer.layers.text import END_TOKEN, START_TOKEN, custom_standardization
from keras_transformer.translation.pairs import load_pairs, make_dataset, parse_pairs, split_pairs, wrap_target
from keras_transformer.translation.vocabulary import make_vectorizers

# Offline copies of the real corpora (read-only); the tests using them skip if absent.
SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"

GOOD = [
    ("Go.", "Ve."),
    ("Hi, Tom!", "¡Hola, Tom!"),
    ("Who are you?", "¿Quién eres tú?"),
    ("He is tall.", "Él es alto."),
    ("I'm hungry.", "Tengo hambre."),
    ("We won.", "Ganamos."),
]
TEXT = (
    "Go.\tVe.\n"
    "no tab on this line\n"
    "Hi, Tom!\t¡Hola, Tom!\r\n"  # CRLF is tolerated.
    "\tSpanish only.\n"
    "Who are you?\t¿Quién eres tú?\n"
    "English only.\t  \n"
    "\n"  # A blank line in the middle is malformed too.
    "He is tall.\tÉl es alto.\tCC-BY 2.0 (France) Attribution: tatoeba.org\n"  # Extra column ignored.
    "I'm hungry.\tTengo hambre.\n"
    "We won.\tGanamos.\n"
)



def _std(text):
    return custom_standardization(tf.constant([text])).numpy()[0].decode("utf-8")


# ----------------------------------------------------------------------------- loading


def test_parse_pairs_skips_and_counts_malformed_lines():
    pairs, skipped = parse_pairs(TEXT)
    assert pairs == GOOD
    assert skipped == 4  # The trailing newline is not counted.


def test_load_pairs_from_zip_logs_skips(make_archive, keras_home, caplog):
    archive = make_archive("spa-eng.zip", {"spa-eng/_about.txt": "about", "spa-eng/spa.txt": TEXT})
    with caplog.at_level(logging.WARNING), pytest.warns(UserWarning, match="not a known checksum"):
        loaded = load_pairs(archive)
    assert loaded.pairs == GOOD and loaded.skipped == 4
    assert "Skipped 4 malformed lines" in caplog.text


# ----------------------------------------------------------------------------- split


PAIRS = [(f"en {i}", f"es {i}") for i in range(100)]


def test_split_sizes_follow_the_book():
    train, val, test = split_pairs(PAIRS)
    assert (len(train), len(val), len(test)) == (70, 15, 15)
    # The book's arithmetic on the full corpus: val = test = int(0.15 n), train gets the rest.
    n = 118964
    assert n - 2 * int(0.15 * n) == 83276


def test_split_is_pure_function_of_seed_and_does_not_mutate():
    original = list(PAIRS)
    assert split_pairs(PAIRS, seed=1337) == split_pairs(PAIRS, seed=1337)
    assert split_pairs(PAIRS, seed=1337) != split_pairs(PAIRS, seed=1)
    assert PAIRS == original


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 300), st.integers(0, 2**32))
def test_split_partitions_the_pairs(n, seed):
    pairs = [(str(i), str(i)) for i in range(n)]
    train, val, test = split_pairs(pairs, seed=seed)
    assert sorted(train + val + test) == sorted(pairs)
    assert len(val) == len(test) == int(0.15 * n)


@pytest.mark.parametrize("fractions", [(0.5, 0.5, 0.5), (0.8, 0.2), (1.2, -0.1, -0.1)])
def test_split_rejects_bad_fractions(fractions):
    with pytest.raises(ValueError, match="fractions="):
        split_pairs(PAIRS, fractions=fractions)


# ----------------------------------------------------------------------------- text preparation


def test_wrap_target_is_idempotent():
    assert wrap_target("Ve.") == "[start] Ve. [end]"
    assert wrap_target(wrap_target("Ve.")) == "[start] Ve. [end]"


def test_standardization_keeps_start_end_and_strips_punctuation():
    assert _std("[start] ¿Quién eres, Tom? [end]") == "[start] quién eres tom [end]"
    assert _std("Él dijo: \"¡Basta!\"") == "él dijo ¡basta"  # Book: only "¿" is added to ASCII punctuation.


@settings(max_examples=30, deadline=None)
@given(st.text(alphabet=string.printable + "¿¡áéíóúñÉÁ", max_size=40))
def test_standardization_output_has_no_stripped_chars(text):
    out = _std(text)
    assert not set(out) & (set(string.punctuation) - set("[]") | {"¿"})
    assert out == out.lower()


# ----------------------------------------------------------------------------- vectorizers and datasets


@pytest.fixture(scope="module")
def vectorizers():
    return make_vectorizers(GOOD, vocab_size=50, sequence_length=6)


def test_vectorizer_shapes_and_vocab(vectorizers):
    source_vec, target_vec = vectorizers
    assert source_vec(tf.constant(["Go.", "Who are you?"])).shape == (2, 6)
    assert target_vec(tf.constant([wrap_target("Ve.")])).shape == (1, 7)
    vocab = target_vec.get_vocabulary()
    assert START_TOKEN in vocab and END_TOKEN in vocab and "¿quién" not in vocab
    assert "quién" in vocab


def test_make_dataset_shifts_target_by_one(vectorizers):
    source_vec, target_vec = vectorizers
    ds = make_dataset(GOOD, source_vec, target_vec, batch_size=4, shuffle=False)
    inputs, targets = next(iter(ds))
    assert set(inputs) == {"english", "spanish"}
    assert inputs["english"].shape == (4, 6)
    assert inputs["spanish"].shape == (4, 6) and targets.shape == (4, 6)
    full = target_vec(tf.constant([wrap_target(s) for _, s in GOOD[:4]])).numpy()
    np.testing.assert_array_equal(inputs["spanish"].numpy(), full[:, :-1])
    np.testing.assert_array_equal(targets.numpy(), full[:, 1:])
    start_id = target_vec.get_vocabulary().index(START_TOKEN)
    assert (inputs["spanish"].numpy()[:, 0] == start_id).all()
    assert sum(int(t.shape[0]) for _, t in ds) == len(GOOD)
    shuffled = make_dataset(GOOD, source_vec, target_vec, batch_size=2, seed=0)
    assert sum(int(t.shape[0]) for _, t in shuffled) == len(GOOD)


def test_bad_dataset_arguments(vectorizers):
    with pytest.raises(ValueError, match="batch_size=0"):
        make_dataset(GOOD, *vectorizers, batch_size=0)
    with pytest.raises(ValueError, match="train_pairs is empty"):
        make_vectorizers([])


def test_target_vectorizer_config_round_trip(vectorizers):
    target_vec = vectorizers[1].layer  # the book's TextVectorization inside the word vocabulary
    config = keras.saving.serialize_keras_object(target_vec)
    assert "keras_transformer>custom_standardization" in str(config)
    clone = keras.saving.deserialize_keras_object(config)
    clone.set_vocabulary(target_vec.get_vocabulary())
    texts = tf.constant([wrap_target("¿Quién eres tú, Tom?"), wrap_target("Él es alto.")])
    np.testing.assert_array_equal(clone(texts).numpy(), target_vec(texts).numpy())


def test_target_vectorizer_survives_keras_save_and_load(vectorizers, tmp_path):
    _, target_vec = vectorizers
    inputs = keras.Input(shape=(), dtype="string")
    model = keras.Model(inputs, target_vec(inputs))
    path = tmp_path / "vectorizer.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    texts = tf.constant([wrap_target("¿Quién eres tú, Tom?"), wrap_target("Tengo hambre.")])
    np.testing.assert_array_equal(reloaded(texts).numpy(), model(texts).numpy())


# ----------------------------------------------------------------------------- real corpus


@pytest.mark.skipif(not (SHARED_DATASETS / "spa-eng.zip").exists(), reason="offline spa-eng copy absent")
def test_real_archive(keras_home, recwarn):
    pairs, skipped = load_pairs(SHARED_DATASETS / "spa-eng.zip")
    assert not [w for w in recwarn if "checksum" in str(w.message)]  # Known checksum.
    assert (len(pairs), skipped) == (118964, 0)
    assert pairs[0] == ("Go.", "Ve.")
    train, val, test = split_pairs(pairs)
    assert (len(train), len(val), len(test)) == (83276, 17844, 17844)
