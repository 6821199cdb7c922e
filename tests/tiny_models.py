"""Tiny trained translator and classifier for the export and CLI tests (seconds to build).

A toy "language" of colours, translated word by word and in reverse order,
and reviews whose label is which sentiment words they use. One to three
epochs: enough that the translator emits ``[end]`` (so the export's
stop-at-``[end]`` is exercised) and the classifier's probabilities spread.
"""

import functools
import os
import subprocess
import sys

import keras
import numpy as np

from keras_transformer.translation.pairs import make_dataset
from keras_transformer.translation.vocabulary import make_vectorizers
from keras_transformer.translation.vocabulary import make_subword_vectorizers
from keras_transformer.translation.decoding import Decoder
from keras_transformer.classification.data import make_vectorizer
from keras_transformer.classification import build_classifier, end_to_end
from keras_transformer.translation.models import build_translation_model
from keras_transformer.translation.translator import Translator
from toy_data import ENGLISH, SPANISH, make_pairs, make_reviews  # noqa: F401 (shared with the tests)

LENGTH = 6  # source tokens; longer sentences are truncated
PIECES = 12  # source pieces of the subword translator

REVIEW_LENGTH = 12

# Inputs every test feeds: ordinary, empty, whitespace, punctuation only,
# over-long, accented, non-Latin, emoji, unknown words.
SENTENCES = [
    "Red green blue.",
    "Gray black.",
    "",
    "   \t ",
    "?!",
    "Red green blue black white pink gray brown red green blue.",  # 11 words > LENGTH
    "Rèd grëen BLUE, señor.",
    "Красный 赤 الأحمر green",
    "Pink 🌸 brown 👍🏽",
    "Purple zebra.",
]
REVIEWS = [
    "a wonderful moving film",
    "the worst dull plot",
    "",
    "  ",
    "great " * 30,  # 30 words > REVIEW_LENGTH
    "Café crème, très bon — excellent!",
    "素晴らしい映画 excellent",
    "loved it 😍🎬",
    "an unseen zebra word",
]


@functools.lru_cache(maxsize=None)
def tiny_translator(epochs=3):
    """A one-layer Transformer translator (embed 16) trained briefly on the toy task.

    Cached: test files in one pytest run share it (no test changes it).
    """
    keras.utils.set_random_seed(0)
    train = make_pairs(300, seed=0)
    source_vec, target_vec = make_vectorizers(train, vocab_size=40, sequence_length=LENGTH)
    model = build_translation_model(
        "transformer", 40, 40, LENGTH, compile=False,
        embed_dim=16, dense_dim=32, num_heads=2, key_dim=None, dropout=0.0,
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    if epochs:
        ds = make_dataset(train, source_vec, target_vec, batch_size=64, seed=0)  # shuffles itself
        model.fit(ds, epochs=epochs, verbose=0, shuffle=False)
    return Translator(model, source_vec, target_vec, "transformer")


@functools.lru_cache(maxsize=None)
def tiny_subword_translator(epochs=15):
    """The same Transformer on SentencePiece vocabularies (cased, punctuated output); cached."""
    keras.utils.set_random_seed(0)
    train = make_pairs(300, seed=0)
    source_vec, target_vec = make_subword_vectorizers(train, vocab_size=300, sequence_length=PIECES)
    model = build_translation_model(
        "transformer", source_vec.vocabulary_size(), target_vec.vocabulary_size(), PIECES, compile=False,
        embed_dim=16, dense_dim=32, num_heads=2, key_dim=None, dropout=0.0,
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    if epochs:
        ds = make_dataset(train, source_vec, target_vec, batch_size=32, seed=0, by_length=True)
        model.fit(ds, epochs=epochs, verbose=0, shuffle=False)
    return Translator(model, source_vec, target_vec, "transformer")


def tiny_reviews(n=200, seed=0):
    texts, labels = make_reviews(n, seed)
    return texts, np.array(labels)


@functools.lru_cache(maxsize=None)
def tiny_classifier(name="transformer-positional", epochs=2):
    """``(end_to_end model, classifier, vectorizer)`` for a tiny IMDB-style model (cached, shared)."""
    keras.utils.set_random_seed(0)
    texts, labels = tiny_reviews()
    vectorizer = make_vectorizer(name, vocab_size=50, sequence_length=REVIEW_LENGTH)
    vectorizer.adapt(texts)
    model = build_classifier(
        name, vocab_size=50, sequence_length=REVIEW_LENGTH,
        embed_dim=16, num_heads=2, dense_dim=16, hidden_dim=8, dropout=0.0, optimizer="adam",
    )
    if epochs:
        model.fit(vectorizer(np.array(texts)), labels, epochs=epochs, batch_size=32, verbose=0)
    return end_to_end(vectorizer, model), model, vectorizer


def reference_translations(translator, sentences):
    """The Python path the export must equal: vectorizer, ``Decoder.greedy``, vocabulary.

    Stops at ``[end]`` or padding (``decoding.ends``); a source with no token translates to "".
    """
    if not sentences:
        return []
    source = np.asarray(translator.source_vectorizer(np.array(sentences, dtype=object)))
    decoder = Decoder(translator.model, translator.start_id, translator.end_id, translator.max_length)
    generated = np.asarray(decoder.greedy(source))
    kept = []
    for row in generated:
        tokens = []
        for token in row:
            if token in (0, translator.end_id):
                break
            tokens.append(int(token))
        kept.append(tokens)
    return [text if np.any(source_row != 0) else "" for source_row, text in zip(source, translator.texts(kept))]


def start(command, stdin=None):
    """Start ``command`` (a list, or Python code for ``python -c``) without waiting.

    The tests start their fresh processes together: each spends most of its
    time importing TensorFlow, which overlaps well.
    """
    if isinstance(command, str):
        command = [sys.executable, "-c", command]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen(
        command, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    ), stdin


def finish(started, timeout=240):
    """Wait for a :func:`start`ed process: ``(returncode, stdout, stderr)`` as text."""
    process, stdin = started
    out, err = process.communicate(stdin, timeout=timeout)
    return process.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def finish_json(started, timeout=240):
    """The last stdout line of a successful :func:`start`ed process, parsed as JSON."""
    returncode, out, err = finish(started, timeout)
    assert returncode == 0, err[-3000:]
    return last_json_line(out)


def last_json_line(stdout):
    import json

    return json.loads(stdout.strip().splitlines()[-1])


def run_script_under_jax(script, argv, timeout=600):
    """Run a chapter script in a new process under ``KERAS_BACKEND=jax``; its ``results.json``'s folder must be in argv."""
    import os

    code = f"import sys; sys.argv[1:] = {list(argv)!r}; import runpy; runpy.run_path({str(script)!r}, run_name='__main__')"
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return done

