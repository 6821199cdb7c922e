"""Subword (SentencePiece) vocabularies, and a translator built on them end to end.

What a reader relies on: nothing is unknown, detokenizing gives the text back
as written (case, accents, ``¿¡``, emoji, non-Latin), the targets are wrapped
once, and the translator built on them saves, reloads, exports, serves and
answers the CLI exactly as it translates in the training process.
"""

import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).parent))
from tiny_models import PIECES, SENTENCES, finish_json, make_pairs, reference_translations, start, tiny_subword_translator  # noqa: E402

from keras_transformer_cli import run as cli  # noqa: E402
from keras_transformer.translation.pairs import make_dataset, wrap_target  # noqa: E402
from keras_transformer.translation.subwords import (  # noqa: E402
    END_ID,
    START_ID,
    UNKNOWN_ID,
    SubwordVectorizer,
    learn_sentencepiece,
    make_subword_vectorizers,
)
from keras_transformer.translation.export import export_translator  # noqa: E402
from keras_transformer.layers import SparseCategoricalCrossentropyWithSmoothing  # noqa: E402
from keras_transformer.translation.scoring import corpus_scores  # noqa: E402
from keras_transformer.translation.translator import Translator  # noqa: E402
from keras_transformer.translation.vocabulary import prepare_reference  # noqa: E402
from reference_decoding import book_translate  # noqa: E402

SPANISH = ["¿Dónde está el café?", "¡Hola, señor!", "Tom no habla francés.", "El niño comió pan."] * 20
# Every input a user may type: empty, whitespace, emoji, non-Latin, very long.
FUZZ = SENTENCES + ["\n\n", "👍🏽" * 40, "Red " * 750, "Красный 赤 الأحمر", "ñandú"]


@pytest.fixture(scope="module")
def spanish():
    return SubwordVectorizer(learn_sentencepiece(SPANISH, 300), 40, wrap=True)


def test_learning_is_deterministic_and_needs_text():
    assert learn_sentencepiece(SPANISH, 300) == learn_sentencepiece(SPANISH, 300)
    with pytest.raises(ValueError, match="no text"):
        learn_sentencepiece(["", "  "], 300)


def test_detokenize_gives_back_the_text_as_written_with_nothing_unknown(spanish):
    import sentencepiece as spm

    texts = ["¿Dónde está el café?", "¡Hola!", "Emoji 👍🏽 y 赤, Привет", "Qué—dijo… «sí»"]
    ids = spanish(texts).numpy()
    assert not np.any(ids == UNKNOWN_ID)  # unseen characters are spelled as bytes
    assert np.all(ids[:, 0] == START_ID)
    assert spanish.detokenize(ids.tolist()) == texts
    # The same text SentencePiece's own decoder gives, on piece ids without [start]/[end].
    processor = spm.SentencePieceProcessor(model_proto=spanish.proto)
    pieces = [processor.encode(t) for t in texts]
    assert spanish.detokenize(pieces) == processor.decode(pieces) == texts
    assert spanish.detokenize_tensor(tf.ragged.constant(pieces)).numpy().tolist() == [t.encode() for t in texts]


def test_targets_are_wrapped_once_padded_with_zero_and_cut_keeping_start(spanish):
    raw, wrapped = spanish(["¡Hola!"]).numpy(), spanish([wrap_target("¡Hola!")]).numpy()
    np.testing.assert_array_equal(raw, wrapped)
    row = raw[0][raw[0] != 0]
    assert row[0] == START_ID and row[-1] == END_ID and np.all(raw[0][len(row):] == 0)
    short = SubwordVectorizer(spanish.proto, 4, wrap=True)
    cut = short(["Tom no habla francés."]).numpy()[0]
    assert cut.shape == (4,) and cut[0] == START_ID and END_ID not in cut
    assert spanish.count_tokens(["¡Hola!"]) == [len(row) - 2]
    # Whitespace-only text has no pieces, like an empty string.
    np.testing.assert_array_equal(spanish(["  \t\n"]).numpy(), spanish([""]).numpy())


def test_vectorizers_learn_on_training_pairs_and_survive_a_reset_seed():
    pairs = make_pairs(100, seed=1)
    source, target = make_subword_vectorizers(pairs, vocab_size=300, sequence_length=8)
    before = target(["Rojo verde."]).numpy()
    keras.utils.set_random_seed(3)  # clears TensorFlow's kernels, where the op keeps its model
    np.testing.assert_array_equal(target(["Rojo verde."]).numpy(), before)
    assert source.get_config()["output_sequence_length"] == 8
    assert target.get_config()["output_sequence_length"] == 9
    with pytest.raises(ValueError, match="train_pairs is empty"):
        make_subword_vectorizers([])


def test_datasets_shift_the_wrapped_pieces_by_one():
    pairs = make_pairs(40, seed=2)
    source, target = make_subword_vectorizers(pairs, vocab_size=300, sequence_length=PIECES)
    for inputs, labels in make_dataset(pairs, source, target, batch_size=8, shuffle=False, by_length=True):
        decoder_inputs, labels = inputs["spanish"].numpy(), labels.numpy()
        np.testing.assert_array_equal(decoder_inputs[:, 1:], labels[:, :-1])
        assert np.all(decoder_inputs[:, 0] == START_ID)
    texts = target.detokenize(labels.tolist())
    assert all(t[0].isupper() and t.endswith(".") for t in texts)  # cased, punctuated targets


def test_label_smoothing_equals_keras_categorical_crossentropy_on_one_hot_targets():
    rng = np.random.default_rng(0)
    probabilities = keras.ops.softmax(rng.normal(size=(3, 5, 7)).astype("float32"))
    targets = rng.integers(0, 7, size=(3, 5))
    ours = SparseCategoricalCrossentropyWithSmoothing(0.1)(targets, probabilities)
    trusted = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)(np.eye(7)[targets], probabilities)
    np.testing.assert_allclose(float(ours), float(trusted), rtol=1e-5)
    plain = SparseCategoricalCrossentropyWithSmoothing(0.0)(targets, probabilities)
    np.testing.assert_allclose(float(plain), float(keras.losses.sparse_categorical_crossentropy(
        targets, probabilities).numpy().mean()), rtol=1e-5)


# ---- the translator on subwords --------------------------------------------------


@pytest.fixture(scope="module")
def learned():
    return tiny_subword_translator()


def test_subword_translator_learns_the_toy_task_in_cased_punctuated_spanish(learned):
    test = make_pairs(40, seed=5)
    outputs = learned.translate([e for e, _ in test])
    assert sum(o == s for o, (_, s) in zip(outputs, test)) >= 16  # exact sentences, case and period included
    assert all("[UNK]" not in o for o in learned.translate(FUZZ))


def test_cached_greedy_and_beam_agree_with_the_book_loop(learned):
    sentences = [e for e, _ in make_pairs(12, seed=6)]
    assert learned.translate(sentences) == book_translate(learned, sentences)
    assert learned.translate(sentences, method="beam", beam_size=1) == learned.translate(sentences)
    beams = learned.translate(sentences, method="beam", beam_size=3)
    assert len(beams) == len(sentences) and all(isinstance(b, str) and b for b in beams)


def test_fuzzed_input_translates_to_text_and_empty_input_to_nothing(learned):
    outputs = learned.translate(FUZZ)
    assert len(outputs) == len(FUZZ) and all(isinstance(o, str) for o in outputs)
    assert [outputs[i] for i, s in enumerate(FUZZ) if not s.strip()] == ["", "", ""]  # "", "   \t ", "\n\n"
    assert outputs == reference_translations(learned, FUZZ)


def test_evaluate_scores_cased_output_both_ways(learned):
    pairs = make_pairs(30, seed=7)
    scores = learned.evaluate(pairs, unseen=[True] * 15 + [False] * 15)
    assert scores["unk_rate"] == 0.0 and scores["unseen_pairs"] == 15
    # Cased, punctuated output is prepared as the references are before the book-comparable scores.
    prepared = corpus_scores([prepare_reference(h) for h in scores["hypotheses"]], scores["references"])
    assert scores["bleu"] == prepared["bleu"] and scores["chrf"] == prepared["chrf"]
    assert scores["bleu_raw"] == corpus_scores(scores["hypotheses"], [s for _, s in pairs])["bleu"]
    assert scores["bleu_raw"] > 0 and scores["bleu"] > 0


SERVE = """
import json, sys
sys.modules["keras_transformer"] = None  # the SavedModel must not need the package
import tensorflow as tf
import tensorflow_text  # registers the SentencePiece op
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
print(json.dumps([v.decode("utf-8") for v in serve(text=tf.constant(sys.argv[2:]))["translation"].numpy()]))
"""


def test_saved_exported_and_served_translations_are_the_training_process_ones(learned, tmp_path, capsys):
    expected = learned.translate(FUZZ)
    learned.save(tmp_path / "translator")
    reloaded = start(textwrap.dedent(f"""
        import json
        from keras_transformer.translation.translator import Translator
        print(json.dumps(Translator.load({str(tmp_path / 'translator')!r}).translate({FUZZ!r})))
    """))
    export_translator(Translator.load(tmp_path / "translator"), tmp_path / "export")
    served = start([sys.executable, "-c", SERVE, str(tmp_path / "export"), *FUZZ])
    assert finish_json(reloaded) == expected
    assert finish_json(served) == expected
    # The CLI serves both the translator folder and its SavedModel.
    for model in ("translator", "export"):
        status = cli.main(["translate", "--model", str(tmp_path / model), *FUZZ[:7]])
        out = capsys.readouterr().out.splitlines()
        assert status == 0 and out == expected[:7]
