"""Cached, compiled decoding: identical to the book's full recompute; beam search against exhaustive search."""

import itertools
from typing import NamedTuple

import numpy as np
import pytest
import keras

from keras_transformer.translation.decoding import Decoder, decode_by_length
from reference_decoding import book_translate, full_recompute_greedy
from keras_transformer.translation.models import build_gru, build_transformer

# Backend-agnostic: CI runs these under TensorFlow, JAX and (where it installs) PyTorch.
pytestmark = pytest.mark.layers

VOCAB, START, END, MAX_LEN = 16, 2, 3, 8
rng = np.random.default_rng(0)


def copy_task(n):
    """Source: 2-6 random tokens; target: [start] the same tokens [end]."""
    source = np.zeros((n, MAX_LEN), "int32")
    target = np.zeros((n, MAX_LEN + 1), "int32")
    for i in range(n):
        length = rng.integers(2, 7)
        words = rng.integers(4, VOCAB, size=length)
        source[i, :length] = words
        target[i, 0], target[i, 1 : length + 1], target[i, length + 1] = START, words, END
    return source, target


@pytest.fixture(scope="module")
def trained_transformer():
    keras.utils.set_random_seed(0)
    model = build_transformer(VOCAB, VOCAB, MAX_LEN, embed_dim=32, dense_dim=64, num_heads=2, dropout=0.0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    source, target = copy_task(1024)
    model.fit({"english": source, "spanish": target[:, :-1]}, target[:, 1:], epochs=12, batch_size=64, verbose=0)
    return model


def test_trained_model_learned_the_copy_task(trained_transformer):
    source, target = copy_task(32)
    tokens = Decoder(trained_transformer, START, END, MAX_LEN).greedy(source)
    exact = np.mean([np.array_equal(np.asarray(t)[: len(r) - 1], r[1:]) for t, r in
                     zip(tokens, [row[: np.argmax(row == END) + 1] for row in target])])
    assert exact > 0.8


@pytest.mark.parametrize("skip_finished", [True, False])
def test_cached_greedy_is_token_for_token_the_full_recompute(trained_transformer, skip_finished):
    source, _ = copy_task(24)  # sentences of different lengths in one batch
    expected = full_recompute_greedy(trained_transformer, source, START, END, MAX_LEN)
    decoder = Decoder(trained_transformer, START, END, MAX_LEN, skip_finished=skip_finished)
    np.testing.assert_array_equal(np.asarray(decoder.greedy(source)), expected)


def count_step_rows(decoder):
    """Record the rows of every `step` call of `decoder`'s stepper: `(rows list, undo)`."""
    rows, step = [], decoder.stepper.step
    decoder.stepper.step = lambda state, token, index, weights: rows.append(int(token.shape[0])) or step(
        state, token, index, weights)
    return rows, lambda: setattr(decoder.stepper, "step", step)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="counts rows in TensorFlow's eager mode")
def test_finished_rows_leave_the_loop(trained_transformer):
    import tensorflow as tf

    source, _ = copy_task(24)
    decoder = Decoder(trained_transformer, START, END, MAX_LEN, jit_compile=False)
    rows, undo = count_step_rows(decoder)
    tf.config.run_functions_eagerly(True)
    try:
        tokens = np.asarray(decoder.greedy(source))
    finally:
        tf.config.run_functions_eagerly(False)
        undo()
    # Step i runs on exactly the rows that had not produced [end] before it.
    lengths = np.argmax(tokens == END, axis=1) + 1  # steps each row ran ([end] included)
    assert rows == [int(np.sum(lengths > step)) for step in range(len(rows))]
    assert rows[0] == len(source) and rows[-1] < len(source)


def test_beam_search_encodes_each_sentence_once(trained_transformer):
    source, _ = copy_task(6)
    decoder = Decoder(trained_transformer, START, END, MAX_LEN, skip_finished=False)
    encoded, encode = [], decoder.stepper.encode
    decoder.stepper.encode = lambda s: encoded.append(int(s.shape[0])) or encode(s)
    steps, undo = count_step_rows(decoder)
    try:
        decoder.beam(source, beam_size=4)
    finally:
        decoder.stepper.encode = encode
        undo()
    # The encoder and the first step see each sentence once; later steps every beam.
    assert encoded == [6] and steps[0] == 6 and set(steps[1:]) == {24}


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="counts rows in TensorFlow's eager mode")
def test_beam_search_drops_finished_sentences_and_finds_the_same_beams(trained_transformer):
    import tensorflow as tf

    source, _ = copy_task(12)
    expected = np.asarray(
        Decoder(trained_transformer, START, END, MAX_LEN, skip_finished=False).beam(source, beam_size=4)
    )
    decoder = Decoder(trained_transformer, START, END, MAX_LEN, jit_compile=False)
    steps, undo = count_step_rows(decoder)
    tf.config.run_functions_eagerly(True)
    try:
        tokens = np.asarray(decoder.beam(source, beam_size=4))
    finally:
        tf.config.run_functions_eagerly(False)
        undo()
    np.testing.assert_array_equal(tokens, expected)
    # After the first step (one row per sentence), whole sentences leave:
    # rows come in fours and never grow back, and some leave before the end.
    later = steps[1:]
    assert steps[0] == 12 and later[0] == 48 and later[-1] < 48
    assert all(r % 4 == 0 for r in later) and later == sorted(later, reverse=True)
    # Compiled (not eagerly), the same beams again.
    np.testing.assert_array_equal(np.asarray(decoder.beam(source, beam_size=4)), expected)


def test_batches_by_length_give_each_sentence_its_own_translation_in_order(trained_transformer):
    source, _ = copy_task(40)  # lengths 2-6, mixed; batches of 16 sorted by length
    decoder = Decoder(trained_transformer, START, END, MAX_LEN)
    expected = np.asarray(decoder.greedy(source))
    rows = decode_by_length(decoder.greedy, source, batch_size=16, width_multiple=2)
    np.testing.assert_array_equal(np.stack(rows), expected)
    # Batches are cut to their longest source (rounded up): the shortest batch is narrower.
    widths = []
    decode_by_length(lambda s: widths.append(s.shape[1]) or np.asarray(decoder.greedy(s)), source, 16, 2)
    assert min(widths) < MAX_LEN and max(widths) <= MAX_LEN
    # fixed_batch: the last, smaller batch is filled with copies of a sentence; same outputs.
    shapes = []
    rows = decode_by_length(lambda s: shapes.append(s.shape) or np.asarray(decoder.greedy(s)), source, 16, 2,
                            fixed_batch=True)
    np.testing.assert_array_equal(np.stack(rows), expected)
    assert len(rows) == 40 and {rows for rows, _ in shapes} == {16}


def test_beam_of_one_is_greedy_and_beam_is_at_least_as_likely(trained_transformer):
    source, _ = copy_task(16)
    decoder = Decoder(trained_transformer, START, END, MAX_LEN)
    greedy = np.asarray(decoder.greedy(source))
    np.testing.assert_array_equal(np.asarray(decoder.beam(source, beam_size=1)), greedy)
    beam = np.asarray(decoder.beam(source, beam_size=4, length_penalty=0.0))
    assert beam.shape == greedy.shape
    assert sequence_log_prob(trained_transformer, source, beam).sum() >= \
        sequence_log_prob(trained_transformer, source, greedy).sum() - 1e-4


def sequence_log_prob(model, source, generated):
    """Total log p(generated | source) under `model`, up to and including [end]."""
    prefix = np.concatenate([np.full((len(source), 1), START), generated[:, :-1]], axis=1)
    probs = keras.ops.convert_to_numpy(model({"english": source, "spanish": prefix}))
    token_probs = np.take_along_axis(probs, generated[..., None].astype(int), -1)[..., 0]
    live = np.cumsum(generated == END, axis=1) - (generated == END) == 0
    return np.where(live, np.log(np.maximum(token_probs, 1e-30)), 0).sum(axis=1)


@pytest.mark.skipif(keras.backend.backend() == "torch", reason="PyTorch runs the loop eagerly: nothing compiles")
def test_compiled_once_per_shape_and_reused(trained_transformer):
    decoder = Decoder(trained_transformer, START, END, MAX_LEN)
    source, _ = copy_task(8)
    decoder.greedy(source)
    decoder.greedy(source[::-1].copy())
    decoder.greedy(source)
    assert decoder.trace_count == 1
    decoder.beam(source, beam_size=2)
    decoder.beam(source[::-1].copy(), beam_size=2)
    assert decoder.trace_count == 2


def test_a_compiled_decoder_decodes_with_the_weights_the_model_has_now():
    # Train further, or load other weights, after a first decode: the
    # compiled loops must read the new weights (a JAX function that closed
    # over them kept the traced values and went on translating with those).
    keras.utils.set_random_seed(1)
    model = build_transformer(VOCAB, VOCAB, MAX_LEN, embed_dim=16, dense_dim=32, num_heads=2, dropout=0.0)
    source, _ = copy_task(20)
    decoder = Decoder(model, START, END, MAX_LEN)
    before = np.asarray(decoder.greedy(source))
    before_beam = np.asarray(decoder.beam(source, beam_size=2))
    model.set_weights([w * -1.5 + 0.05 for w in model.get_weights()])
    expected = full_recompute_greedy(model, source, START, END, MAX_LEN)
    assert not np.array_equal(before, expected)  # the new weights do translate differently
    np.testing.assert_array_equal(np.asarray(decoder.greedy(source)), expected)
    fresh = Decoder(model, START, END, MAX_LEN)
    np.testing.assert_array_equal(np.asarray(decoder.beam(source, beam_size=2)), np.asarray(fresh.beam(source, beam_size=2)))
    assert not np.array_equal(before_beam, np.asarray(fresh.beam(source, beam_size=2)))


def test_few_sentences_of_changing_shapes_still_decode_exactly(trained_transformer):
    # Batches of a few sentences, each of another shape: on TensorFlow the
    # third shape is traced once for any shape (relaxed), and XLA still runs
    # the loop that keeps every row; every batch matches the book's loop.
    decoder = Decoder(trained_transformer, START, END, MAX_LEN)
    source, _ = copy_task(12)
    for rows, width in ((3, MAX_LEN), (5, 6), (7, 7), (2, 6)):
        batch = source[:rows, :width]
        expected = full_recompute_greedy(trained_transformer, batch, START, END, MAX_LEN)
        np.testing.assert_array_equal(np.asarray(decoder.greedy(batch)), expected)
        beam_of_one = decoder.beam(batch, beam_size=1)
        np.testing.assert_array_equal(np.asarray(beam_of_one), expected)


@pytest.mark.parametrize("attention", [False, True])
def test_gru_models_decode_through_the_same_path(attention):
    keras.utils.set_random_seed(1)
    model = build_gru(VOCAB, VOCAB, embed_dim=8, latent_dim=16, dropout=0.0, attention=attention)
    source, _ = copy_task(6)
    expected = full_recompute_greedy(model, source, START, END, MAX_LEN)
    decoder = Decoder(model, START, END, MAX_LEN)
    np.testing.assert_array_equal(np.asarray(decoder.greedy(source)), expected)
    np.testing.assert_array_equal(np.asarray(decoder.beam(source, beam_size=1)), expected)


def test_unknown_model_is_a_clear_error():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="neither a 'decoder'"):
        Decoder(model, START, END)


def test_translator_methods_agree_and_beam_is_usable():
    from tiny_models import make_pairs, tiny_translator

    translator = tiny_translator()
    sentences = [english for english, _ in make_pairs(12, seed=5)] + ["", "?!"]
    greedy = translator.translate(sentences)
    assert greedy == book_translate(translator, sentences)
    assert translator.translate(sentences, method="beam", beam_size=1) == greedy
    beam = translator.translate(sentences, method="beam", beam_size=4, length_penalty=0.6)
    assert len(beam) == len(sentences) and beam[-2:] == ["", ""]
    with pytest.raises(ValueError, match="method must be"):
        translator.translate(sentences, method="sampling")


def test_a_saved_translator_replaces_the_previous_one_whole(tmp_path, monkeypatch):
    from tiny_models import tiny_translator
    from keras_transformer.translation.translator import Translator

    translator, target = tiny_translator(), tmp_path / "translator"
    translator.save(target)
    (target / "stale.txt").write_text("from the previous save")
    translator.save(target)  # over an existing translator: the folder is replaced, not merged
    assert sorted(p.name for p in target.iterdir()) == ["model.keras", "translator.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["translator"]  # no staging folder left
    # Killed while writing: the previous translator stays as it was.
    monkeypatch.setattr(translator.model, "save", lambda path: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        translator.save(target)
    assert Translator.load(target).translate(["hello"]) == translator.translate(["hello"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["translator"]


# -- beam search against exhaustive search ------------------------------------
TINY_VOCAB, TINY_LENGTH = 5, 3  # ids 0 (padding, also ends), 1, START=2, END=3, 4


class TableState(NamedTuple):
    prefix: object  # (B,) int32: a code for the sentence and every token so far


class TableStepper:
    """Logits from a fixed random table, looked up by the whole prefix (not a Markov chain)."""

    beam_shared = ()

    def __init__(self, seed=0):
        rows = TINY_VOCAB ** (TINY_LENGTH + 2)
        self.table = np.random.default_rng(seed).normal(0, 2, (rows, TINY_VOCAB)).astype("float32")

    def weights(self):
        return keras.ops.convert_to_tensor(self.table)

    def encode(self, source):
        return TableState(keras.ops.cast(source[:, 0], "int32"))

    def step(self, state, token, index, weights):
        prefix = state.prefix * TINY_VOCAB + token
        return keras.ops.take(weights, prefix, axis=0), TableState(prefix)

    def log_probs(self, first, tokens):
        """Exact log p of each token of `tokens` after [start], for a sentence starting with `first`."""
        prefix, out = first, []
        for token in (START,) + tuple(tokens[:-1]):
            prefix = prefix * TINY_VOCAB + token
            logits = self.table[prefix].astype("float64")
            out.append(logits - np.log(np.exp(logits).sum()))
        return [row[t] for row, t in zip(out, tokens)]


def exhaustive_best(stepper, first, length_penalty):
    """Every output a decoder can give (stopping at its first [end] or 0, or after TINY_LENGTH), best first."""
    found = []
    for n in range(1, TINY_LENGTH + 1):
        for tokens in itertools.product(range(TINY_VOCAB), repeat=n):
            if any(t in (0, END) for t in tokens[:-1]) or (n < TINY_LENGTH and tokens[-1] not in (0, END)):
                continue
            score = sum(stepper.log_probs(first, tokens)) / ((5 + n) / 6) ** length_penalty
            found.append((score, tokens + (0,) * (TINY_LENGTH - n)))
    return sorted(found, reverse=True)


@pytest.mark.parametrize("skip_finished", [True, False])
@pytest.mark.parametrize("length_penalty", [0.0, 0.6, 1.5])
def test_a_wide_beam_finds_what_exhaustive_search_finds(skip_finished, length_penalty):
    # A beam as wide as the number of outputs keeps every hypothesis: it must
    # return the best output by the normalized score, the one exhaustive search finds.
    stepper = TableStepper()
    decoder = Decoder(None, START, END, TINY_LENGTH, stepper=stepper, skip_finished=skip_finished)
    source = np.array([[1, 0], [2, 0], [3, 0], [4, 0]] * 5, "int32")  # 20 sentences: no XLA on TensorFlow
    beams = np.asarray(decoder.beam(source, beam_size=TINY_VOCAB ** TINY_LENGTH, length_penalty=length_penalty))
    for first, tokens in zip(source[:, 0], beams):
        (best, expected), (second, _) = exhaustive_best(stepper, first, length_penalty)[:2]
        n = int(np.argmax((tokens == 0) | (tokens == END))) + 1 if np.any((tokens == 0) | (tokens == END)) else 3
        score = sum(stepper.log_probs(first, tuple(tokens[:n]))) / ((5 + n) / 6) ** length_penalty
        assert score == pytest.approx(best, abs=1e-4)
        if best - second > 1e-4:
            assert tuple(tokens) == expected


def test_a_beam_of_one_is_greedy_on_the_score_table():
    stepper = TableStepper(seed=1)
    decoder = Decoder(None, START, END, TINY_LENGTH, stepper=stepper)
    source = np.array([[1], [2], [3], [4]], "int32")
    np.testing.assert_array_equal(np.asarray(decoder.beam(source, beam_size=1)), np.asarray(decoder.greedy(source)))
    for first, tokens in zip(source[:, 0], np.asarray(decoder.greedy(source))):
        prefix, expected = first, []
        for _ in range(TINY_LENGTH):  # greedy by hand: the best next token of the prefix so far
            prefix = prefix * TINY_VOCAB + (expected[-1] if expected else START)
            expected.append(int(np.argmax(stepper.table[prefix])))
            if expected[-1] in (0, END):
                break
        np.testing.assert_array_equal(tokens, expected + [0] * (TINY_LENGTH - len(expected)))
